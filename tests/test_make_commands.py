"""The README's make commands, other than run and test, do what it says."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BASE_DIR

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="needs make")
VENV = Path(sys.prefix)


def make(*arguments, **environ):
    # Not the variables of a `make test PYTEST_ARGS=...` these tests may run under, nor the
    # tests' DJANGO_DEBUG=False.
    outer = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "DJANGO_DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in outer}
    return subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=BASE_DIR,
        env={**env, **environ},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(not (VENV / ".run-installed").exists(), reason="not in make's virtualenv")
def test_make_manage_runs_any_command_on_make_runs_settings():
    result = make(
        "manage",
        f"VENV={VENV}",
        "ARGS=diffsettings --output unified",
        DEFAULT_DATABASE_DSN="sqlite://:memory:",
    )

    assert result.returncode == 0, result.stderr
    assert "+ DEBUG = True" in result.stdout  # DEBUG, as make run has it


def test_make_clean_keeps_the_data_folder():
    result = make("--dry-run", "clean")

    assert result.returncode == 0, result.stderr
    removed = result.stdout.split()
    assert {".venv", "staticfiles"} <= set(removed)
    assert not {"data", "data/", "data/media"} & set(removed)
