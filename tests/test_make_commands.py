"""The README's make commands do what it says, and make run meets a new user without surprises."""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import BASE_DIR, free_port

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


@pytest.fixture
def outside_tmp():
    """A temporary folder that other users can reach (pytest's are root's alone)."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # noqa: S103 (nothing secret in it)
        yield Path(folder)


def project_copy(folder):
    """The project's files, as a clone has them, in folder (make run writes staticfiles/ and
    data/ where it runs)."""
    shutil.copytree(
        BASE_DIR,
        folder,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "data", "staticfiles", "mutants", "test-artifacts", "__pycache__"
        ),
    )
    return folder


def test_make_run_on_a_taken_port_says_so_at_once_in_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = make("run", f"PORT={port}", "VENV=/nonexistent-so-nothing-is-built")

    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        f"Port {port} on 127.0.0.1 is already in use (another make run?): stop that server, "
        f"or choose another port, e.g. make run PORT={port + 1}"
    )
    assert "migrate" not in result.stdout
    assert "Serving at" not in result.stdout


@pytest.mark.skipif(os.getuid() != 0, reason="makes files of another user: needs root")
def test_make_run_as_yourself_after_a_run_as_root_names_the_folders_and_the_fix(outside_tmp):
    project = outside_tmp / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(BASE_DIR / "scripts" / "check-run.py", project / "scripts")
    (project / "data" / "media").mkdir(parents=True)
    (project / "data" / "db.sqlite3").touch()  # left by root: the folder itself is the user's
    nobody = 65534
    for path in [outside_tmp, project, project / "scripts", project / "data"]:
        os.chown(path, nobody, nobody)
    # An interpreter of the system's, which any user may run: this test's own may live in
    # root's home (pyenv), where nobody can load it.
    system_python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no python3 of the system's for another user to run check-run.py with")
    check = [
        system_python,
        "scripts/check-run.py",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
    ]

    result = subprocess.run(
        [
            "setpriv",
            f"--reuid={nobody}",
            f"--regid={nobody}",
            "--clear-groups",
            *check,
            ".venv",
            "staticfiles",
            "data",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Files of root in data/ of {project} (left by a make run as root?) that you cannot "
        f"write: take them back with sudo chown -R {pwd.getpwuid(nobody).pw_name}: data"
    ]


@pytest.mark.skipif(os.getuid() != 0, reason="a checkout of another user: needs root")
def test_make_run_as_root_in_another_users_checkout_warns_in_one_line(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(BASE_DIR / "scripts" / "check-run.py", project / "scripts")
    os.chown(project, 65534, 65534)
    check = [
        sys.executable,
        "scripts/check-run.py",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
    ]

    result = subprocess.run(
        [*check, ".venv", "data"], cwd=project, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0
    owner = pwd.getpwuid(65534).pw_name
    assert result.stderr.splitlines() == [
        f"Warning: running as root in {owner}'s checkout: the files it writes (.venv, data) "
        f"will belong to root, and stop {owner}'s next make run: run make as {owner}"
    ]


def wait_for(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run stopped"
        try:
            return urllib.request.urlopen(url, timeout=5)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"make run did not answer {url} within {timeout} s")


@pytest.mark.slow
@pytest.mark.skipif(not (VENV / ".run-installed").exists(), reason="not in make's virtualenv")
@pytest.mark.parametrize("debug", ["True", "False"])
def test_make_run_serves_the_admin_with_its_styles_in_debug_and_with_debug_off(tmp_path, debug):
    # DEBUG off takes one command: no SECRET_KEY, DOMAIN or HTTPS of one's own.
    project = project_copy(tmp_path / "project")
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "run",
                f"PORT={port}",
                f"VENV={VENV}",
                f"DJANGO_DEBUG={debug}",
            ],
            cwd=project,
            env={
                **{
                    name: value
                    for name, value in os.environ.items()
                    if name not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "SECRET_KEY", "DOMAIN"}
                    and not name.startswith("SECURE_")
                },
                # As a fresh clone has it: no service (never the tests' database).
                "DEFAULT_DATABASE_DSN": "",
                "DATABASE_URL": "",
                "DEFAULT_STORAGE_DSN": "",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        login = wait_for(f"http://127.0.0.1:{port}/admin/login/", server)
        page = login.read().decode()
        (stylesheet,) = re.findall(r'href="(/static/admin/css/base[^"]*\.css)"', page)
        style = wait_for(f"http://127.0.0.1:{port}{stylesheet}", server)
        cookies = login.headers.get_all("Set-Cookie")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert login.status == 200, log.read_text()
    assert style.status == 200
    assert b"body" in style.read()
    if debug == "True":
        # In DEBUG the apps' own files, not collected ones (collecting takes seconds).
        assert stylesheet == "/static/admin/css/base.css"
        assert not (project / "staticfiles").exists()
    else:
        # The production settings: hashed names from the collected manifest, secure cookies.
        assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", stylesheet)
        assert any(cookie.startswith("__Secure-csrftoken=") for cookie in cookies), cookies
