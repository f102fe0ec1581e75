"""CI's files agree with the Python versions the project supports, and keep its pins current."""

import os
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from tests.helpers import BASE_DIR, dockerfile_instructions

PROJECT = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
WORKFLOW = yaml.safe_load((BASE_DIR / ".github" / "workflows" / "test.yml").read_text())
(JOB,) = WORKFLOW["jobs"].values()
# The first major version of each action that runs on Node 24 (GitHub removed Node 20 from its
# runners in September 2026).
NODE_24_MAJORS = {"actions/checkout": 5, "actions/cache": 5, "actions/setup-python": 6}


@pytest.fixture(scope="module")
def supported_pythons():
    """The Python versions of pyproject.toml's classifiers, oldest first."""
    versions = [
        classifier.rpartition(" :: ")[2]
        for classifier in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    ]
    return sorted(versions, key=lambda version: tuple(map(int, version.split("."))))


def test_requires_python_is_the_classifiers_range(supported_pythons):
    oldest, newest = supported_pythons[0], supported_pythons[-1]
    requires_python = SpecifierSet(PROJECT["requires-python"])
    major, minor = map(int, oldest.split("."))
    below = f"{major}.{minor - 1}"
    major, minor = map(int, newest.split("."))
    above = f"{major}.{minor + 1}"

    assert [version in requires_python for version in supported_pythons] == [True] * len(
        supported_pythons
    )
    assert below not in requires_python
    assert above not in requires_python


def test_ci_tests_the_oldest_and_the_newest_supported_python(supported_pythons):
    ends = [supported_pythons[0], supported_pythons[-1]]
    ci_run = (BASE_DIR / ".ci" / "run").read_text()

    assert JOB["strategy"]["matrix"]["python"] == ends
    assert f"${{PYTHON_VERSIONS:-{' '.join(ends)}}}" in ci_run


def test_docker_image_runs_the_newest_supported_python_on_debian_13(supported_pythons):
    images = [instruction.split()[0] for instruction in dockerfile_instructions("FROM")]

    assert images == [f"python:{supported_pythons[-1]}-slim-trixie"] * 2


def test_github_workflow_runs_ci_in_each_python_image():
    steps = JOB["steps"]

    assert JOB["container"] == "python:${{ matrix.python }}-slim-trixie"
    assert JOB["env"]["PYTHON_VERSIONS"] == "${{ matrix.python }}"
    assert steps[-1] == {"run": "bash .ci/run"}
    (cache,) = [step for step in steps if step.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == "~/.cache/pip"
    assert "hashFiles('requirements.txt', 'requirements-dev.txt')" in cache["with"]["key"]


def test_github_workflow_actions_run_on_node_24():
    uses = [step["uses"] for step in JOB["steps"] if "uses" in step]

    assert uses
    for action in uses:
        name, _, version = action.partition("@")
        assert name in NODE_24_MAJORS, f"{name}: which major version runs on Node 24?"
        assert re.fullmatch(r"v\d+", version), f"{action}: pin a major version"
        assert int(version[1:]) >= NODE_24_MAJORS[name], f"{action} runs on Node 20"


def test_dependabot_keeps_every_kind_of_pin_current():
    config = yaml.safe_load((BASE_DIR / ".github" / "dependabot.yml").read_text())

    assert {(update["package-ecosystem"], update["directory"]) for update in config["updates"]} == {
        ("pip", "/"),
        ("docker", "/"),
        ("docker-compose", "/"),
        ("github-actions", "/"),
    }


def make_test_commands(*arguments):
    """The commands `make test` would run, without running them."""
    # Not the variables of a `make test PYTEST_ARGS=...` these tests may run under.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS"}
    environ = {name: value for name, value in os.environ.items() if name not in outer}
    result = subprocess.run(
        ["make", "--dry-run", "test", *arguments],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.replace("\\\n", " ")


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_test_fails_under_the_coverage_floor_only_for_the_whole_suite():
    whole_suite = make_test_commands()
    subset = make_test_commands("PYTEST_ARGS=tests/test_ci.py")

    assert re.search(r"-m pytest --cov --cov-report=term\s+--cov-fail-under=\d+", whole_suite)
    assert "--cov-fail-under" not in subset
    assert re.search(r"-m pytest --cov --cov-report=term\s+tests/test_ci.py", subset)


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_test_keeps_a_virtualenv_per_python():
    assert ".venv/bin/python -m pytest" in make_test_commands("PYTHON=python3")
    assert ".venv-python3.13/bin/python -m pytest" in make_test_commands(
        "PYTHON=/opt/python/bin/python3.13"
    )
