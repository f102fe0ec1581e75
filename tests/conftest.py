import fcntl
import importlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import clear_url_caches
from moto.server import ThreadedMotoServer

import myapp.urls
from myapp.environment import parse_storage_dsn

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def use_storage(settings):
    """Point media storage at a DSN for one test, as DEFAULT_STORAGE_DSN would."""

    def use(dsn):
        settings.DEFAULT_STORAGE_DSN = dsn
        settings.MEDIA_ROOT, settings.MEDIA_URL = parse_storage_dsn(dsn)
        # A changed STORAGES setting makes Django build its storages anew, from the new DSN.
        settings.STORAGES = {**settings.STORAGES}

    return use


@pytest.fixture(autouse=True)
def media_root(use_storage, tmp_path):
    """Keep every test's uploads in a folder of its own, never in the project's data/."""
    media_root = tmp_path / "media"
    use_storage(media_root.as_uri() + "/?url=%2Fmedia%2F")
    return media_root


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """Static files collected once, as the Docker build does, for every test to serve.

    make mutation starts pytest once per mutant: its runs share the files the first one
    collected in TEST_SHARED_DIR (collecting takes seconds, the tests of a mutant often less).
    """
    shared = os.environ.get("TEST_SHARED_DIR")
    static_root = Path(shared, "staticfiles") if shared else tmp_path_factory.mktemp("static")
    # make mutation empties the folder at each start, so that its first run collects.
    if not (static_root / "staticfiles.json").exists():
        with override_settings(STATIC_ROOT=static_root):
            call_command("collectstatic", interactive=False, verbosity=0)
    return static_root


# The test database of each process of a make mutation run: {process id: (number, lock fd)}.
_test_databases = {}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """make mutation runs mutants side by side (mutmut forks a process for each), sharing
    TEST_SHARED_DIR: a process takes the lowest test database number whose lock no running
    process holds, and keeps it, with its database (--reuse-db), for its later runs."""
    shared = os.environ.get("TEST_SHARED_DIR")
    if not shared:
        return
    if os.getpid() not in _test_databases:
        for number in itertools.count():
            lock = os.open(Path(shared, f"database-{number}.lock"), os.O_WRONLY | os.O_CREAT)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            _test_databases[os.getpid()] = number, lock
            break
    number, _ = _test_databases[os.getpid()]
    database = django_settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_{number}"


@pytest.fixture(autouse=True)
def collected_static_files(settings, static_root):
    """Render pages with the production static storage, on the collected files."""
    settings.STATIC_ROOT = static_root


@pytest.fixture
def debug(settings):
    """Run a test in DEBUG, with the URLs that only DEBUG has."""
    settings.DEBUG = True
    _reload_urls()
    yield
    settings.DEBUG = False
    _reload_urls()


def _reload_urls():
    importlib.reload(myapp.urls)
    clear_url_caches()


@pytest.fixture(autouse=True)
def no_aws_credentials_from_outside(monkeypatch):
    """Only DSNs give credentials: a developer's own AWS variables must not leak into tests."""
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 server over HTTP (moto's server mode) on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def bucket_on(endpoint):
    """A new bucket on an S3 server over HTTP, and the DSN that stores in it through endpoint=."""
    name = f"media-{secrets.token_hex(4)}"
    s3 = boto3.resource(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="key",
        aws_secret_access_key="secret",
    )
    dsn = (
        f"s3://key:secret@{name}.s3.us-east-1.amazonaws.com/"
        f"?auth=s3v4&endpoint={urllib.parse.quote(endpoint, safe='')}"
    )
    return s3.create_bucket(Bucket=name), dsn


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dockerfile_instructions(keyword):
    """The arguments of every Dockerfile line starting with keyword, continuations joined."""
    text = (BASE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(f"{keyword} ")]


def dockerfile_cmd_on(port):
    """The Dockerfile's CMD, on a port of 127.0.0.1 instead of port 80 of every interface."""
    (cmd,) = dockerfile_instructions("CMD")
    argv = json.loads(cmd)
    argv[argv.index("--host") + 1 :] = ["127.0.0.1", "--port", str(port)]
    return argv


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """The project as the Dockerfile builds it: copied, then its RUN collectstatic run with no
    variable set and no service reachable."""
    image_dir = tmp_path_factory.mktemp("image") / "app"
    shutil.copytree(
        BASE_DIR,
        image_dir,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", ".coverage", "data", "staticfiles", "test-artifacts", "tests"
        ),
    )
    (build_command,) = [run for run in dockerfile_instructions("RUN") if "collectstatic" in run]
    result = subprocess.run(
        build_command.replace("python ", f"{VENV_BIN / 'python'} "),
        shell=True,
        cwd=image_dir,
        env={"PATH": os.defpath},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return image_dir
