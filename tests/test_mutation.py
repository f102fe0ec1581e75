"""make mutation's machinery, on a sample small enough for the suite: one module, its tests."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_sample(tmp_path):
    """The project, with mutmut narrowed to myapp/serving/media.py and the admin's tests."""
    copy = tmp_path / "project"
    for name in [
        "myapp",
        "file_lifecycle",
        "uploader",
        "transfer",
        "tests",
        "scripts",
        "manage.py",
        "pyproject.toml",
    ]:
        source = BASE_DIR / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    pyproject = copy / "pyproject.toml"
    config = pyproject.read_text()
    config, narrowed = re.subn(
        r"pytest_add_cli_args_test_selection = \[.*?\]",
        'only_mutate = ["myapp/serving/media.py"]\n'
        'pytest_add_cli_args_test_selection = ["tests/uploader/test_admin.py"]',
        config,
        flags=re.DOTALL,
    )
    assert narrowed == 1
    pyproject.write_text(config)
    (copy / "docs").mkdir()
    (copy / "docs" / "mutation-survivors.md").write_text(
        "| mutant | reason |\n| --- | --- |\n"
        "| `myapp.serving.media.x_serve_media__mutmut_1` | a reason tests catch |\n"
    )
    return copy


@pytest.mark.slow
def test_mutation_run_scores_a_module_and_lists_its_survivors(project_sample):
    # On the test run's PostgreSQL (DEFAULT_DATABASE_DSN), as make mutation's inner pytest runs.
    result = subprocess.run(
        [sys.executable, "scripts/mutation.py", "--jobs", "1"],
        cwd=project_sample,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"^myapp/serving/media\.py +(\d+) +(\d+) +([\d.]+)%", result.stdout, re.M)
    assert score, result.stdout
    caught, run = int(score[1]), int(score[2])
    assert 0 < caught <= run
    # Only the narrowed module is mutated.
    others = r"^(myapp/(?!serving/media)|uploader/|file_lifecycle/|transfer/)"
    assert not re.search(others, result.stdout, re.M)
    # A survivor is listed with its change, and without a reason when the file gives none.
    survivors = re.findall(
        r"^  (myapp\.serving\.media\.\S+) \[survived\]: (.*)$", result.stdout, re.M
    )
    assert len(survivors) == run - caught
    if survivors:
        assert survivors[0][1].startswith("NO REASON GIVEN")
    # The file's row for a mutant that the tests catch is reported as one to remove.
    assert "no longer surviving" in result.stdout
    assert "  myapp.serving.media.x_serve_media__mutmut_1\n" in result.stdout


def collected(folder, environ):
    """The order pytest would run tests/test_reporting.py's tests in, started in folder with
    make mutation's plugin."""
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*collect, "-p", "mutation_plugin", BASE_DIR / "tests" / "test_reporting.py"],
        cwd=folder,
        env={
            **environ,
            # Under make mutation, mutants/ has no scripts/: its PYTHONPATH has the plugin.
            "PYTHONPATH": os.pathsep.join(
                [str(BASE_DIR / "scripts"), environ.get("PYTHONPATH", "")]
            ),
            "TEST_SHARED_DIR": str(folder),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_a_mutants_quickest_tests_run_first(tmp_path, monkeypatch):
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    in_file_order = collected(tmp_path, os.environ)
    # As mutmut's first run timed them, in the folder where mutmut runs pytest: last, quickest.
    durations = {test: len(in_file_order) - number for number, test in enumerate(in_file_order)}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": durations}))

    assert collected(tmp_path, os.environ) == in_file_order
    under_mutmut = {
        **os.environ,
        "MUTANT_UNDER_TEST": "myapp.configuration.reporting.x_mask_credentials__mutmut_1",
    }
    assert collected(tmp_path, under_mutmut) == in_file_order[::-1]


def test_a_forkers_conftest_holds_no_mutation_testing():
    conftest = (BASE_DIR / "tests" / "conftest.py").read_text()

    assert not re.search(r"mutmut|MUTANT|TEST_SHARED_DIR", conftest)
