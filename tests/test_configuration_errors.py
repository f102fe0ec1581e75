"""Each malformed variable stops the project with one line that names it and shows the fix."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from myapp.environment import ConfigurationError
from tests import test_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Every password, S3 secret and key below holds this; no message may show it.
SECRET = "hunter2"
KEY = f"{SECRET}-a-key-long-enough-for-production-settings-0123456789"
S3 = f"s3://AKIAEXAMPLE:{SECRET}@my-bucket.s3.eu-central-1.amazonaws.com/"

load_settings = test_settings.load_settings


MISTAKES = [
    ("DJANGO_DEBUG", "yes please", "is not a boolean"),
    ("DJANGO_DEBUG", '"True"', "wrapped in quotes"),
    ("SECURE_SSL_REDIRECT", "maybe", "is not a boolean"),
    ("SECRET_KEY", "", "is not set"),
    ("SECRET_KEY", "   ", "is not set"),
    ("SECRET_KEY", SECRET, "too easy to guess"),
    ("SECRET_KEY", "ab" * 40, "too easy to guess"),
    ("SECRET_KEY", f"django-insecure-{KEY}", "starts with django-insecure-"),
    ("SECRET_KEY", f"'{KEY}'", "wrapped in quotes"),
    ("DEFAULT_DATABASE_DSN", f"mysqlx://u:{SECRET}@db/x", "unknown scheme 'mysqlx'"),
    ("DATABASE_URL", f"postgres://u:{SECRET}@db:port/x", "host or port that cannot be read"),
    (
        "DEFAULT_DATABASE_DSN",
        f"postgres://u:pa#{SECRET}@db:5432/x",
        "host or port that cannot be read",
    ),
    (
        "DEFAULT_DATABASE_DSN",
        f"postgres://u:{SECRET}@[db:5432/x",
        "host or port that cannot be read",
    ),
    ("DEFAULT_DATABASE_DSN", f'"postgres://u:{SECRET}@db:5432/x"', "remove them"),
    ("DEFAULT_DATABASE_DSN", "db.example.com", "is not a URL"),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:5432", "names no database"),
    ("DEFAULT_DATABASE_DSN", f"postgres://db:5432?password={SECRET}", "names no database"),
    ("DEFAULT_STORAGE_DSN", "ftp://files.example.com/", "has no supported scheme"),
    ("DEFAULT_STORAGE_DSN", "file://media/?url=%2Fmedia%2F", "needs an absolute path"),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/", "has no url="),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/?url=%2Fmedia", "invalid url='/media'"),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/?url=%2Fm%2F&acl=private", "unknown parameter"),
    ("DEFAULT_STORAGE_DSN", "s3://my-bucket.s3.eu-central-1.amazonaws.com/", "no credentials"),
    ("DEFAULT_STORAGE_DSN", "s3://AKIAEXAMPLE@my-bucket.s3.amazonaws.com/", "no credentials"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@s3.eu-central-1.amazonaws.com/", "names no bucket"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@/", "names no bucket"),
    (
        "DEFAULT_STORAGE_DSN",
        f"s3://K:{SECRET}@b.s3.amazonaws.com:abc/",
        "host or port that cannot be read",
    ),
    ("DEFAULT_STORAGE_DSN", f"{S3}?auht=s3v4", "unknown parameter 'auht'.*addressing_style"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?auth=v2", "invalid auth='v2'"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?acl=public", "invalid acl='public'.*bucket-owner-full-control"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?acl=private&acl=none", "has acl= 2 times"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?qs_auth=maybe", "invalid qs_auth"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?addressing_style=dns", "invalid addressing_style"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?qs_auth=true&domain=cdn.example.com", "drop domain= and url="),
    ("DEFAULT_STORAGE_DSN", f"{S3}?region_name=EU%20Central", "invalid region_name"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?domain=https://cdn.example.com/", "invalid domain"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?url=cdn.example.com/media/", "invalid url"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?endpoint=minio:9000", "invalid endpoint"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?endpoint=https://minio.example.com/b/", "invalid endpoint"),
    ("DOMAIN", "https://example.com/", "bare host names.*DOMAIN=example.com$"),
    ("DOMAIN", "example.com:8000", "DOMAIN=example.com$"),
    ("DOMAIN", "*", "bare host names.*DOMAIN=example.com$"),
    ("DOMAIN_ALIASES", "www.example.com, http://example.org", "=www.example.com,example.org$"),
    ("DOMAIN_REDIRECTS", "example.net/old", "DOMAIN_REDIRECTS=example.net$"),
    ("UPLOAD_MAX_SIZE", "0", "not a size of at least one byte"),
    ("UPLOAD_MAX_SIZE", "-1MB", "not a size"),
    ("UPLOAD_MAX_SIZE", "100 megabytes", "not a size"),
    ("UPLOAD_MAX_SIZE", "1,5GB", "not a size"),
    ("UPLOAD_MAX_SIZE", "1e6", "not a size"),
    ("SECURE_HSTS_SECONDS", "one year", "not a whole number"),
    ("SECURE_HSTS_SECONDS", "-1", "not a whole number"),
]


@pytest.mark.parametrize(("name", "value", "problem"), MISTAKES)
def test_mistake_is_one_line_that_names_the_variable(load_settings, name, value, problem):
    with pytest.raises(ConfigurationError) as error:
        load_settings(**{name: value})

    message = str(error.value)
    assert re.search(problem, message), message
    assert message.startswith(name)
    assert re.search(r"e\.g\. |\buse |such as ", message), "no example to follow"
    assert "\n" not in message
    assert SECRET not in message


def test_secret_key_mistakes_say_how_to_make_one(load_settings):
    with pytest.raises(ConfigurationError) as error:
        load_settings(SECRET_KEY="too-short")

    assert 'python -c "import secrets; print(secrets.token_urlsafe(50))"' in str(error.value)


def test_passwords_are_masked_not_dropped(load_settings):
    with pytest.raises(ConfigurationError) as error:
        load_settings(DEFAULT_DATABASE_DSN=f"mysqlx://admin:{SECRET}@db.example.com/x")

    assert "mysqlx://admin:***@db.example.com/x" in str(error.value)


def clean_environ(**environ):
    """A process environment with nothing of the developer's or the tests' settings."""
    return {"PATH": os.environ["PATH"], "SECRET_KEY": KEY, "DOMAIN": "example.com", **environ}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "yes please"),
        ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:port/x"),
        ("DEFAULT_STORAGE_DSN", f"{S3}?acl=public"),
    ],
)
def test_manage_py_stops_with_one_line(name, value):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=clean_environ(**{name: value}),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Configuration error: {name}")
    assert SECRET not in result.stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [("SECRET_KEY", "short"), ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@s3.amazonaws.com/")],
)
def test_server_stops_with_one_line(name, value):
    argv = [VENV_BIN / "uvicorn", "myapp.asgi:application", "--host", "127.0.0.1"]
    result = subprocess.run(
        [*argv, "--port", str(free_port())],
        cwd=BASE_DIR,
        env=clean_environ(**{name: value}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Configuration error: {name}")
