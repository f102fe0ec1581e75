"""The app as its container runs it, on a database of its own, with an admin account; what an
operator (manage.py) and an editor (the admin's login page) do with it."""

import os
import secrets
import subprocess
from contextlib import contextmanager

import dj_database_url
import pytest
from playwright.sync_api import expect

from tests.helpers import BASE_DIR, VENV_BIN, running_server
from tests.postgres import new_database

USERNAME = "admin"
PASSWORD = secrets.token_urlsafe()


@contextmanager
def fresh_database():
    """A new database on the PostgreSQL server the tests run on; yields its DSN."""
    dsn = os.environ.get("DEFAULT_DATABASE_DSN", "")
    if "postgresql" not in (dj_database_url.parse(dsn)["ENGINE"] if dsn else ""):
        pytest.fail("the browser tests need DEFAULT_DATABASE_DSN on PostgreSQL: run make test")
    with new_database(dsn, "myapp_e2e") as database:
        yield database


@contextmanager
def running_app(image_dir, environ, log):
    """Migrate, create the admin, then run the Dockerfile's CMD; yields its port."""
    manage = [VENV_BIN / "python", "manage.py"]
    for command in [["migrate", "--no-input"], ["createsuperuser", "--no-input"]]:
        result = subprocess.run(
            [*manage, *command],
            cwd=image_dir,
            env={
                **environ,
                "DJANGO_SUPERUSER_USERNAME": USERNAME,
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
                "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    with running_server(image_dir, environ, log) as server:
        yield server.port


def manage(image_dir, environ, *arguments):
    """Run a manage.py command in the app's environment, as an operator would on the platform."""
    return subprocess.run(
        [VENV_BIN / "python", "manage.py", *arguments],
        cwd=image_dir,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def reconciled(image_dir, environ):
    """Check that rows and stored files match; if not, `reconcile_media --fix` (the app is
    idle: no grace period) must make them match. Returns what the commands printed."""
    check = manage(image_dir, environ, "reconcile_media")
    if check.returncode == 0:
        assert check.stdout.endswith("rows and stored files match.\n")
        return check.stdout
    assert check.returncode == 1, check.stderr
    fix = manage(image_dir, environ, "reconcile_media", "--fix", "--grace-period", "0")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "Removed " in fix.stdout
    assert manage(image_dir, environ, "reconcile_media").returncode == 0
    return check.stdout + check.stderr + fix.stdout


def log_in(page, username=USERNAME):
    page.goto("/admin/login/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def save_screenshot(page, name, tmp_path):
    """Take the README's picture docs/NAME: into docs/ with `make screenshots` (which sets
    SCREENSHOTS=update), else beside the test, so that a plain test run leaves the tree as it
    was while the picture's page is still shown and taken."""
    folder = BASE_DIR / "docs" if os.environ.get("SCREENSHOTS") == "update" else tmp_path
    page.screenshot(path=folder / name)
