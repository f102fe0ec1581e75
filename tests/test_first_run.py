"""What a new user meets first: the front page, the admin's name, and tests run from anywhere."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tests
from tests.helpers import BASE_DIR


@pytest.mark.parametrize("mode", ["production", "debug"])
def test_front_page_leads_to_the_admin(client, settings, mode, request):
    if mode == "debug":
        request.getfixturevalue("debug")

    response = client.get("/", follow=True)

    assert response.redirect_chain[0] == ("/admin/", 302)
    assert response.status_code == 200
    assert "<title>Log in | myapp admin</title>" in response.text


@pytest.mark.django_db
def test_admin_names_the_project_and_its_view_site_link_leads_somewhere(admin_client):
    page = admin_client.get("/admin/").text

    assert "myapp administration" in page
    assert "Django administration" not in page
    (view_site,) = re.findall(r'<a href="([^"]*)">View site</a>', page)
    assert admin_client.get(view_site, follow=True).status_code == 200


def test_tests_package_is_the_projects():
    assert Path(tests.__file__) == BASE_DIR / "tests" / "__init__.py"


@pytest.mark.slow
def test_the_postgresql_wrapper_and_the_tests_run_from_any_folder(tmp_path):
    # From another folder, `python -m tests.postgres` would find django-storage-url's package.
    command = [sys.executable, "-m", "pytest", f"{__file__}::test_tests_package_is_the_projects"]

    result = subprocess.run(
        [sys.executable, BASE_DIR / "tests" / "postgres.py", *command, "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={
            **os.environ,
            "DEFAULT_DATABASE_DSN": os.environ.get("DEFAULT_DATABASE_DSN", "")
            or "sqlite://:memory:",
        },
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 1 passed" in result.stdout
