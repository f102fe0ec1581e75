import ast
import os
import shutil
import subprocess

import pytest

from tests.helpers import BASE_DIR, VENV_BIN

RUFF = VENV_BIN / "ruff"


def test_code_is_linted():
    result = subprocess.run(
        [RUFF, "check", "--no-cache", "."], cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, f"run make format:\n{result.stdout}"


def test_code_is_formatted():
    result = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "."], cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, f"run make format:\n{result.stdout}"


@pytest.fixture
def project_copy(tmp_path):
    """The project's files in a git repository of their own, for the hooks to change freely."""
    copy = tmp_path / "project"
    shutil.copytree(
        BASE_DIR,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "data", "staticfiles", "test-artifacts", "*_cache", ".coverage"
        ),
    )
    subprocess.run(["git", "init", "--quiet"], cwd=copy, check=True)
    return copy


def run_lint_hooks(project):
    """What `make lint` runs: every pre-commit hook on every file, with this virtualenv's tools."""
    subprocess.run(["git", "add", "--all"], cwd=project, check=True)
    return subprocess.run(
        [VENV_BIN / "pre-commit", "run", "--all-files"],
        cwd=project,
        env={
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "HOME": str(project.parent),
            "PRE_COMMIT_HOME": str(project.parent / "pre-commit"),
        },
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(not shutil.which("git"), reason="pre-commit needs git")
def test_lint_hooks_pass(project_copy):
    result = run_lint_hooks(project_copy)

    assert result.returncode == 0, f"run make lint:\n{result.stdout}"


@pytest.mark.skipif(not shutil.which("git"), reason="pre-commit needs git")
def test_lint_hooks_find_a_private_key_and_trailing_whitespace(project_copy):
    # Spelt in two parts, so that this file does not hold what the hook looks for.
    (project_copy / "deploy.pem").write_text("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIB\n")
    (project_copy / "notes.txt").write_text("a line with trailing spaces   \n")

    result = run_lint_hooks(project_copy)

    assert result.returncode == 1
    assert "Private key found: deploy.pem" in result.stdout
    assert "Fixing notes.txt" in result.stdout


def app_modules():
    """The app's own Python files, migrations aside: (path, syntax tree)."""
    for package in ("myapp", "uploader", "file_lifecycle", "transfer"):
        for path in sorted((BASE_DIR / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(BASE_DIR), ast.parse(path.read_text())


def test_the_app_stands_on_public_apis():
    """Django's undocumented FieldFile._committed is read nowhere, and Uvicorn's internals only
    in the one bounds module (myapp/serving/protocol.py), whose tests pin what it relies on."""
    private_reads, uvicorn_internals = [], []
    for path, tree in app_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "_committed":
                private_reads.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "uvicorn.protocols"
            ):
                uvicorn_internals.append(str(path))

    assert private_reads == []
    assert uvicorn_internals == ["myapp/serving/protocol.py"]
