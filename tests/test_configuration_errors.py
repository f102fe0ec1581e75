"""Each malformed variable stops the project with one line that names it and shows the fix."""

import os
import re
import subprocess
import sys
import urllib.parse

import pytest
from django.core import checks
from django.core.checks import run_checks
from django.db import DatabaseError, OperationalError, connection
from django.db.utils import ConnectionHandler

from myapp.configuration import database
from myapp.configuration.environment import ConfigurationError, get_value, mask_password
from myapp.configuration.startup import check_before_serving, exit_on_configuration_error
from myapp.configuration.storages import check_storage
from tests.helpers import (
    BASE_DIR,
    VENV_BIN,
    dockerfile_cmd_on,
    free_port,
    image_environ,
    postgresql_of_its_own,
    probe,
    running_server,
)

# Every password, S3 secret and key below holds this; no message may show it.
SECRET = "hunter2"
KEY = f"{SECRET}-a-key-long-enough-for-production-settings-0123456789"
S3 = f"s3://AKIAEXAMPLE:{SECRET}@my-bucket.s3.eu-central-1.amazonaws.com/"

# Mistakes in the query of an otherwise good S3 DSN: (query, what the message must say).
S3_QUERIES = [
    ("auht=s3v4", "unknown parameter 'auht'.*addressing_style"),
    ("auth=v2", "invalid auth='v2'"),
    ("acl=public", "invalid acl='public'.*bucket-owner-full-control"),
    # A bucket's ACL, which S3 refuses for an object.
    ("acl=log-delivery-write", "invalid acl='log-delivery-write'"),
    ("acl=private&acl=none", "has acl= 2 times"),
    ("qs_auth=maybe", "invalid qs_auth"),
    ("addressing_style=dns", "invalid addressing_style"),
    ("qs_auth=true&domain=cdn.example.com", "drop domain= and url="),
    ("region_name=EU%20Central", "invalid region_name"),
    ("domain=https://cdn.example.com/", "invalid domain"),
    ("url=cdn.example.com/media/", "invalid url"),
    ("endpoint=minio:9000", "invalid endpoint"),
    ("endpoint=https://minio.example.com/b/", "invalid endpoint"),
    ("endpoint=http://minio:99999", "invalid endpoint"),
    ("endpoint=http://minio:0", "invalid endpoint"),
    ("endpoint=http://minio:\uff19\uff10\uff10\uff10", "invalid endpoint"),
    (f"endpoint=http://user:{SECRET}@minio:9000", "invalid endpoint"),
    ("region_name=-eu-central-1", "invalid region_name"),
    ("region_name=12345", "invalid region_name"),
]
UNREADABLE = "host or port that cannot be read"
DATABASE_EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/NAME"

MISTAKES = [
    ("DJANGO_DEBUG", "yes please", "is not a boolean"),
    ("DJANGO_DEBUG", '"True"', "wrapped in quotes"),
    ("SECURE_SSL_REDIRECT", "maybe", "is not a boolean"),
    ("SECRET_KEY", "", "is not set"),
    ("SECRET_KEY", "   ", "is not set"),
    ("SECRET_KEY", "django-insecure-local-development-only", "development key, which is public"),
    ("DEFAULT_DATABASE_DSN", f"mysqlx://u:{SECRET}@db/x", "unknown scheme 'mysqlx'"),
    ("DATABASE_URL", f"postgres://u:{SECRET}@db:port/x", UNREADABLE),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:pa#{SECRET}@db:5432/x", UNREADABLE),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@[db:5432/x", UNREADABLE),
    ("DEFAULT_DATABASE_DSN", f'"postgres://u:{SECRET}@db:5432/x"', "remove them"),
    ("DEFAULT_DATABASE_DSN", "db.example.com", "is not a URL"),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:5432/x%00y", "holds %00"),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:5432/caf\udce9", "not UTF-8"),
    ("DEFAULT_STORAGE_DSN", "file:///data/me%00dia/?url=%2Fmedia%2F", "holds %00"),
    ("DEFAULT_STORAGE_DSN", f"{S3}?domain=caf\udce9.example.com", "not UTF-8"),
    ("SECRET_KEY", f"{KEY}\udcff", "not UTF-8"),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:5432", "names no database"),
    ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@db:5432/", "names no database"),
    ("DEFAULT_DATABASE_DSN", f"postgres://db:5432?password={SECRET}", "names no database"),
    ("DEFAULT_STORAGE_DSN", "ftp://files.example.com/", "has no supported scheme"),
    ("DEFAULT_STORAGE_DSN", "file://media/?url=%2Fmedia%2F", "needs an absolute path"),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/", "has no url="),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/?url=%2Fmedia", "invalid url='/media'"),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/?url=%2Fm%2F&acl=private", "unknown parameter"),
    ("DEFAULT_STORAGE_DSN", "file:///data/media/?url=%2Fstatic%2Fmedia%2F", "invalid url"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@b.s3.amazonaws.com:9000/", "storage ignores"),
    ("DEFAULT_STORAGE_DSN", "s3://my-bucket.s3.eu-central-1.amazonaws.com/", "no credentials"),
    ("DEFAULT_STORAGE_DSN", "s3://AKIAEXAMPLE@my-bucket.s3.amazonaws.com/", "no credentials"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@s3.eu-central-1.amazonaws.com/", "names no bucket"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@/", "names no bucket"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@b.s3.amazonaws.com:abc/", UNREADABLE),
    *[("DEFAULT_STORAGE_DSN", f"{S3}?{query}", problem) for query, problem in S3_QUERIES],
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@my-bucket/", "storage service's host name"),
    ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@my_bucket.s3.amazonaws.com/", "host name"),
    # A secret pasted without its key: the whole user-info part is masked.
    ("DEFAULT_STORAGE_DSN", f"s3://{SECRET}@my-bucket.s3.amazonaws.com/", "no credentials"),
    ("DOMAIN", "https://example.com/", "bare host names.*DOMAIN=example.com$"),
    ("DOMAIN", "example.com:8000", "DOMAIN=example.com$"),
    ("DOMAIN", "*", "bare host names.*DOMAIN=example.com$"),
    ("DOMAIN", "exampl\u212a.com", "bare host names"),
    ("DOMAIN_ALIASES", "www.example.com, http://example.org", "=www.example.com,example.org$"),
    ("DOMAIN_REDIRECTS", "example.net/old", "DOMAIN_REDIRECTS=example.net$"),
    ("UPLOAD_MAX_SIZE", "0", "not a size of at least one byte"),
    ("UPLOAD_MAX_SIZE", "-1MB", "not a size"),
    ("UPLOAD_MAX_SIZE", "100 megabytes", "not a size"),
    ("UPLOAD_MAX_SIZE", "1,5GB", "not a size"),
    ("UPLOAD_MAX_SIZE", "1e6", "not a size"),
    ("SECURE_HSTS_SECONDS", "one year", "not a whole number"),
    ("SECURE_HSTS_SECONDS", "-1", "not a whole number"),
    # str.isdigit() takes these, int() does not (or reads other scripts' digits).
    ("SECURE_HSTS_SECONDS", "\u00b2", "not a whole number"),
    ("SECURE_HSTS_SECONDS", "\u0661\u0662", "not a whole number"),
    ("UPLOAD_MAX_SIZE", "\uff11\uff10MB", "not a size"),
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


# Quotes are found, and said to be removed, in every variable alike.
DATABASE_MISTAKES = [
    (name, value)
    for name, value, problem in MISTAKES
    if name in database.VARIABLES and problem not in {"remove them", "not UTF-8"}
]


@pytest.mark.parametrize(("name", "value"), DATABASE_MISTAKES)
def test_database_dsn_mistakes_show_the_form_to_use(load_settings, name, value):
    with pytest.raises(ConfigurationError) as error:
        load_settings(**{name: value})

    assert f"e.g. {DATABASE_EXAMPLE}" in str(error.value)


def test_secret_key_mistakes_say_how_to_make_one(load_settings):
    with pytest.raises(ConfigurationError) as error:
        load_settings(SECRET_KEY="")

    assert 'python -c "import secrets; print(secrets.token_urlsafe(50))"' in str(error.value)


S3_EXAMPLE = "s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4"
SHOWN_S3 = "DEFAULT_STORAGE_DSN='s3://AKIAEXAMPLE:***@my-bucket.s3.eu-central-1.amazonaws.com/"
HOW_TO_MAKE_A_KEY = (
    ": set it to a long random string, such as python -c "
    '"import secrets; print(secrets.token_urlsafe(50))" prints '
    "(or set DJANGO_DEBUG=True for local development)."
)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"DEFAULT_STORAGE_DSN": '"file:///data/media/?url=%2Fmedia%2F'},
            """DEFAULT_STORAGE_DSN='"file:///data/media/?url=%2Fmedia%2F' is wrapped in quotes, """
            "which would be part of the value: remove them, "
            "e.g. DEFAULT_STORAGE_DSN=file:///data/media/?url=%2Fmedia%2F",
        ),
        (
            {"UPLOAD_MAX_SIZE": "0"},
            "UPLOAD_MAX_SIZE='0' is not a size of at least one byte: use e.g. "
            "UPLOAD_MAX_SIZE=100MB (a number of bytes, or with a unit: kB, MB, GB, KiB, MiB, GiB)",
        ),
        (
            {"DEFAULT_STORAGE_DSN": "ftp://files.example.com/"},
            "DEFAULT_STORAGE_DSN='ftp://files.example.com/' has no supported scheme: use "
            f"file:///data/media/?url=%2Fmedia%2F or {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": "file:///data/media/?url=%2Fm%2F&acl=private"},
            "DEFAULT_STORAGE_DSN='file:///data/media/?url=%2Fm%2F&acl=private' has an unknown "
            "parameter 'acl': the known ones are url, e.g. file:///data/media/?url=%2Fmedia%2F",
        ),
        (
            {"DEFAULT_STORAGE_DSN": "file:///data/media/"},
            "DEFAULT_STORAGE_DSN='file:///data/media/' has no url= to serve files at, "
            "e.g. file:///data/media/?url=%2Fmedia%2F",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"{S3}?auht=s3v4"},
            f"{SHOWN_S3}?auht=s3v4' has an unknown parameter 'auht': the known ones are "
            "auth, domain, url, acl, qs_auth, addressing_style, region_name, endpoint, "
            f"e.g. {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"{S3}?acl=private&acl=none"},
            f"{SHOWN_S3}?acl=private&acl=none' has acl= 2 times: keep one, e.g. acl=private "
            "(one of private, public-read, public-read-write, authenticated-read, aws-exec-read, "
            "bucket-owner-read, bucket-owner-full-control, none)",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"{S3}?auth=v2"},
            f"{SHOWN_S3}?auth=v2' has an invalid auth='v2': use e.g. auth=s3v4",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@b.s3.amazonaws.com:9000/"},
            "DEFAULT_STORAGE_DSN='s3://K:***@b.s3.amazonaws.com:9000/' has a port, which the "
            "storage ignores: name the server with endpoint= instead, "
            f"e.g. {S3_EXAMPLE}&endpoint=https%3A%2F%2Fs3.example.com%3A9000",
        ),
        (
            {"DEFAULT_STORAGE_DSN": "s3://AKIAEXAMPLE@my-bucket.s3.amazonaws.com/"},
            "DEFAULT_STORAGE_DSN='s3://***@my-bucket.s3.amazonaws.com/' has no credentials: put "
            f"the URL-encoded key and secret before the bucket, e.g. {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@s3.eu-central-1.amazonaws.com/"},
            "DEFAULT_STORAGE_DSN='s3://K:***@s3.eu-central-1.amazonaws.com/' names no bucket: "
            f"put it before the host, e.g. {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@my-bucket/"},
            "DEFAULT_STORAGE_DSN='s3://K:***@my-bucket/' needs the bucket and the storage "
            f"service's host name, dot-separated, e.g. {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"{S3}?qs_auth=true&domain=cdn.example.com"},
            f"{SHOWN_S3}?qs_auth=true&domain=cdn.example.com' has qs_auth=true with domain= or "
            "url=, but signed links come from the bucket itself: drop domain= and url=, "
            f"e.g. {S3_EXAMPLE}&acl=private&qs_auth=true",
        ),
        (
            {"DEFAULT_DATABASE_DSN": f"postgres//user:{SECRET}@localhost:5432/db"},
            "DEFAULT_DATABASE_DSN='postgres//user:***@localhost:5432/db' is not a URL: "
            f"use e.g. {DATABASE_EXAMPLE}",
        ),
        (
            {"DEFAULT_DATABASE_DSN": f"postgres://u:{SECRET}@db:5432/x%00y"},
            "DEFAULT_DATABASE_DSN='postgres://u:***@db:5432/x%00y' holds %00 (a NUL character), "
            f"which no name, path or password can hold: remove it, e.g. {DATABASE_EXAMPLE}",
        ),
        (
            {"DEFAULT_DATABASE_DSN": f"postgres://u:{SECRET}@db:5432/caf\udce9"},
            "DEFAULT_DATABASE_DSN='postgres://u:***@db:5432/caf\\udce9' holds a byte that is not "
            "UTF-8 text: retype the value, or URL-encode the character in a DSN "
            "(e.g. %C3%A9 for \u00e9)",
        ),
        (
            {"DEFAULT_STORAGE_DSN": "media"},
            f"DEFAULT_STORAGE_DSN='media' is not a URL: use e.g. {S3_EXAMPLE}",
        ),
        (
            {"DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@b.s3.amazonaws.com:abc/"},
            "DEFAULT_STORAGE_DSN='s3://K:***@b.s3.amazonaws.com:abc/' has a host or port that "
            "cannot be read (a port is a number; URL-encode special characters in the password, "
            f"e.g. %40 for @): use e.g. {S3_EXAMPLE}",
        ),
        ({"SECRET_KEY": None}, f"SECRET_KEY is not set{HOW_TO_MAKE_A_KEY}"),
        (
            {"SECRET_KEY": "django-insecure-local-development-only"},
            f"SECRET_KEY is the project's development key, which is public{HOW_TO_MAKE_A_KEY}",
        ),
    ],
)
def test_the_message_reads_in_full(load_settings, environ, message):
    """Word for word, as the one line a user reads (the test above checks each one's shape)."""
    with pytest.raises(ConfigurationError) as error:
        load_settings(**environ)

    assert str(error.value) == message


def test_a_quoted_secret_is_not_shown_in_the_example(monkeypatch):
    """A variable with a secret's name (as a fork may add) is shown by its name alone."""
    monkeypatch.setenv("API_TOKEN", f"'{SECRET}'")

    with pytest.raises(ConfigurationError) as error:
        get_value("API_TOKEN")

    assert str(error.value) == (
        "API_TOKEN is wrapped in quotes, which would be part of the value: "
        "remove them, e.g. API_TOKEN=VALUE"
    )


def test_a_size_of_one_byte_is_a_size(load_settings):
    assert load_settings(UPLOAD_MAX_SIZE="1")["UPLOAD_MAX_SIZE"] == 1


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        (f"postgres://u:{SECRET}@db:5432/x", "postgres://u:***@db:5432/x"),
        ("postgres://postgres@postgres:5432/db", "postgres://postgres@postgres:5432/db"),
        (f"postgres://{SECRET}%2Fx@db/x", "postgres://***@db/x"),
        (f"s3://{SECRET}@b.s3.amazonaws.com/", "s3://***@b.s3.amazonaws.com/"),
        (f"s3://K:{SECRET}/x@b.s3.amazonaws.com/", "s3://K:***@b.s3.amazonaws.com/"),
        (f"s3://K%2F{SECRET}:x@b.s3.amazonaws.com/", "s3://***@b.s3.amazonaws.com/"),
        # An unescaped @ in the password: masked up to the last @ before the host's end.
        (f"postgres://u@x:{SECRET}@db/x", "postgres://***@db/x"),
        (f"postgres://u:{SECRET}/x@y@db/x", "postgres://u:***@db/x"),
        (
            f"s3://K:{SECRET}@b.s3.amazonaws.com/2024@home/",
            "s3://K:***@b.s3.amazonaws.com/2024@home/",
        ),
        (f"u:{SECRET}@db/x", "u:***@db/x"),
        (f"{SECRET}@db/x", "***@db/x"),
        # Not URLs: the mistyped separator stays in sight, the password does not.
        (f"postgres//user:{SECRET}@localhost:5432/db", "postgres//user:***@localhost:5432/db"),
        (f"postgres:/u:{SECRET}@db/x", "postgres:/u:***@db/x"),
        (f"postgres:{SECRET}@db/x", "postgres:***@db/x"),
        ("sqlite:////data/a@b.sqlite3", "sqlite:////data/a@b.sqlite3"),
        (
            f"s3://K:S@b.s3.amazonaws.com/?endpoint=http%3A%2F%2Fu%3A{SECRET}%40minio%3A9000",
            "s3://K:***@b.s3.amazonaws.com/?endpoint=http%3A%2F%2F***%40minio%3A9000",
        ),
        (
            f"s3://K:S@b.s3.amazonaws.com/?secret_key={SECRET}",
            "s3://K:***@b.s3.amazonaws.com/?secret_key=***",
        ),
    ],
)
def test_masking_hides_whatever_could_be_a_secret(dsn, masked):
    assert mask_password(dsn) == masked


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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", ""),
        ("DEFAULT_STORAGE_DSN", f"s3://K:{SECRET}@s3.amazonaws.com/"),
        ("DEFAULT_STORAGE_DSN", "file:///tmp/me%00dia/?url=%2Fmedia%2F"),
        ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@127.0.0.1:5432/x%00y"),
        ("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@127.0.0.1:5432/caf\udce9"),
    ],
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


@pytest.mark.parametrize(
    "dsn",
    [
        "s3://K:S@ab.s3.eu-central-1.amazonaws.com/",
        "s3://K:S@-media.s3.eu-central-1.amazonaws.com/",
    ],
)
def test_a_bucket_name_s3_refuses_is_found_before_any_upload(use_storage, dsn, monkeypatch):
    monkeypatch.setenv("DEFAULT_STORAGE_DSN", dsn)
    use_storage(dsn)

    with pytest.raises(ConfigurationError, match="which S3 refuses: use 3 to 63 lowercase"):
        check_storage()


def test_a_media_folder_the_server_cannot_write_is_found_at_start(
    use_storage, tmp_path, monkeypatch
):
    (tmp_path / "taken").write_text("a file where the folder should be")
    folder = tmp_path / "taken" / "media"
    dsn = f"{folder.as_uri()}/?url=%2Fmedia%2F"
    monkeypatch.setenv("DEFAULT_STORAGE_DSN", dsn)
    use_storage(dsn)

    with pytest.raises(ConfigurationError) as error:
        check_storage()

    assert str(error.value) == (
        f"DEFAULT_STORAGE_DSN='{dsn}' names the folder {folder}, which the server cannot write "
        "(NotADirectoryError: Not a directory): let the server's user write there, or use another "
        "folder, e.g. DEFAULT_STORAGE_DSN=file:///data/media/?url=%2Fmedia%2F"
    )


def test_the_default_media_folder_is_named_when_it_cannot_be_written(
    use_storage, tmp_path, monkeypatch
):
    monkeypatch.delenv("DEFAULT_STORAGE_DSN", raising=False)
    (tmp_path / "data").write_text("a file where the folder should be")
    use_storage(f"{(tmp_path / 'data' / 'media').as_uri()}/?url=%2Fmedia%2F")

    with pytest.raises(ConfigurationError, match=r"^DEFAULT_STORAGE_DSN is not set, so uploads "):
        check_storage()


def test_a_usable_storage_passes_the_start_check(use_storage):
    use_storage("s3://K:S@my-bucket.s3.eu-central-1.amazonaws.com/?auth=s3v4")

    check_storage()


@pytest.fixture
def database_at(monkeypatch):
    """Point the default database at another host and port, as DEFAULT_DATABASE_DSN would."""

    def point(host, port):
        monkeypatch.setenv("DEFAULT_DATABASE_DSN", f"postgres://u:{SECRET}@{host}:{port}/db")
        monkeypatch.setitem(connection.settings_dict, "HOST", host)
        monkeypatch.setitem(connection.settings_dict, "PORT", str(port))

    return point


@pytest.fixture
def connect_with(load_settings, monkeypatch):
    """Make the start check connect as a process with these variables would: its settings loaded
    afresh from them. Returns the default database's settings, to change before the check."""

    def use(**environ):
        databases = load_settings(**environ)["DATABASES"]
        monkeypatch.setattr(database, "connections", ConnectionHandler(databases))
        return databases["default"]

    return use


@pytest.mark.django_db
def test_the_start_check_passes_with_a_database_and_a_storage_that_work():
    check_before_serving()


def test_the_start_check_stops_without_domain_in_production(settings):
    settings.ALLOWED_HOSTS = []

    with pytest.raises(ConfigurationError) as error:
        check_before_serving()

    assert str(error.value) == (
        "DOMAIN is not set, so with DEBUG off every request would be refused (400 Bad Request): "
        "set DOMAIN to the site's host name, e.g. DOMAIN=example.com "
        "(or set DJANGO_DEBUG=True for local development)."
    )


def test_the_deploy_check_of_the_database_reports_it_in_one_line(database_at):
    """The release command `check --deploy --database default` runs the start check's
    connection as a system check."""
    database_at("127.0.0.1", free_port())

    (issue,) = run_checks(include_deployment_checks=True, databases=["default"], tags=["database"])

    assert (issue.id, issue.level) == ("myapp.E001", checks.ERROR)
    assert issue.msg.startswith("DEFAULT_DATABASE_DSN='postgres://u:***@127.0.0.1:")
    assert "cannot be reached (Connection refused): start the database server" in issue.msg
    assert SECRET not in issue.msg


@pytest.mark.django_db
def test_the_deploy_check_passes_with_a_database_and_a_storage_that_work():
    assert (
        run_checks(include_deployment_checks=True, databases=["default"], tags=["database"]) == []
    )
    # The local folder a test's uploads go to is usable (and a deploy warning of the uploader's).
    assert [issue.id for issue in run_checks(include_deployment_checks=True, tags=["files"])] == [
        "uploader.W001"
    ]


def test_the_deploy_check_reports_what_the_server_would_stop_on(use_storage):
    use_storage("s3://K:S@ab.s3.eu-central-1.amazonaws.com/")

    (issue,) = run_checks(include_deployment_checks=True, tags=["files"])

    assert issue.id == "myapp.E002"
    assert "names the bucket 'ab', which S3 refuses" in issue.msg


@pytest.mark.slow
def test_the_release_check_names_an_unreachable_database_in_one_line():
    dsn = f"postgres://u:{SECRET}@127.0.0.1:{free_port()}/db"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--database", "default"],
        cwd=BASE_DIR,
        env=clean_environ(DEFAULT_DATABASE_DSN=dsn, DOMAIN="example.com", SECRET_KEY=KEY),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "DEFAULT_DATABASE_DSN" in line]
    assert line.startswith("?: (myapp.E001) DEFAULT_DATABASE_DSN='postgres://u:***@127.0.0.1:")
    assert line.endswith(
        "cannot be reached (Connection refused): start the database server, or correct the host "
        "and port"
    )


def test_the_start_check_stops_on_a_database_that_refuses_connections(database_at):
    database_at("127.0.0.1", free_port())

    with pytest.raises(ConfigurationError) as error:
        check_before_serving()

    message = str(error.value)
    assert message.startswith("DEFAULT_DATABASE_DSN='postgres://u:***@127.0.0.1:")
    assert "cannot be reached (Connection refused): start the database server" in message
    assert SECRET not in message


def test_the_start_check_lets_the_server_start_when_the_database_hangs(
    database_at, unanswering_server, monkeypatch, caplog
):
    # libpq waits 2 s at the least.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "connect_timeout", 2)
    hung = urllib.parse.urlsplit(unanswering_server)
    database_at(hung.hostname, hung.port)

    check_before_serving()

    # The log line names where it comes from.
    (warning,) = [
        record.getMessage()
        for record in caplog.records
        if record.levelname == "WARNING" and record.name == "myapp.configuration.startup"
    ]
    assert warning.startswith("Starting anyway: DEFAULT_DATABASE_DSN='postgres://u:***@")
    assert warning.endswith(
        "gave no answer within 2 s: check that the database server is up, and the host and port"
    )


def test_a_configuration_error_stops_a_command_with_its_one_line():
    with pytest.raises(SystemExit) as stopped, exit_on_configuration_error():
        raise ConfigurationError("DOMAIN='*' is not a host name: use e.g. DOMAIN=example.com")

    assert stopped.value.code == (
        "Configuration error: DOMAIN='*' is not a host name: use e.g. DOMAIN=example.com"
    )


def test_a_database_error_stops_a_command_with_the_reason_when_it_cannot_connect(database_at):
    database_at("127.0.0.1", free_port())

    with pytest.raises(SystemExit) as stopped, exit_on_configuration_error():
        raise OperationalError("a command's first query fails")

    assert stopped.value.code.startswith("Configuration error: DEFAULT_DATABASE_DSN='postgres://u:")
    assert "cannot be reached (Connection refused)" in stopped.value.code
    assert SECRET not in stopped.value.code


@pytest.mark.django_db
def test_other_database_errors_are_left_as_they_are():
    with pytest.raises(DatabaseError) as error, exit_on_configuration_error():
        raise DatabaseError("a query's own error")

    assert str(error.value) == "a query's own error"


@pytest.fixture(scope="module")
def cluster_with_password():
    """A PostgreSQL server of its own that checks passwords."""
    with postgresql_of_its_own(password=SECRET) as cluster:
        yield cluster


UNREACHABLE = {
    "server down": (
        lambda: f"postgres://u:{SECRET}@127.0.0.1:{free_port()}/db",
        r"cannot be reached \(Connection refused\): start the database server, "
        r"or correct the host and port$",
    ),
    "unknown host": (
        lambda: f"postgres://u:{SECRET}@no-such-host.invalid:5432/db",
        r'cannot be reached \(could not translate host name "no-such-host\.invalid" to address: '
        r"[^()]+\): correct the host name$",
    ),
    "driver not installed": (
        lambda: f"mysql://u:{SECRET}@db.example.com/db",
        r"mysql://u:\*\*\*@db\.example\.com/db' needs a database driver that is not installed "
        r"\(Error loading MySQLdb module\.\): use e\.g\. postgres://USER:PASSWORD@HOST:5432/NAME, "
        r"or add the driver to requirements\.in$",
    ),
    "GDAL not installed": (
        lambda: f"postgis://u:{SECRET}@127.0.0.1:{free_port()}/db",
        # Where GDAL is installed, the backend loads and the server is found down instead.
        "needs a database driver that is not installed|Connection refused",
    ),
    "SQLite folder missing": (
        lambda: "sqlite:////no-such-folder/db.sqlite3",
        r"unable to open database file\): create the SQLite file's folder and let the server "
        r"write there, or correct the path$",
    ),
}


def connection_error():
    """The one line the start check's connection to the database fails with."""
    with pytest.raises(ConfigurationError) as error:
        database.check_connection()
    return str(error.value)


@pytest.mark.parametrize("case", UNREACHABLE)
def test_the_check_names_an_unusable_database_in_one_line(connect_with, case):
    make_dsn, pattern = UNREACHABLE[case]
    connect_with(DEFAULT_DATABASE_DSN=make_dsn())

    message = connection_error()

    assert re.search("^DEFAULT_DATABASE_DSN='.*" + pattern, message), message
    assert "\n" not in message
    assert SECRET not in message


def test_the_check_names_a_connection_option_libpq_does_not_know(connect_with):
    port = free_port()
    connect_with(DEFAULT_DATABASE_DSN=f"postgres://u:{SECRET}@127.0.0.1:{port}/db?sslmod=require")

    assert connection_error() == (
        f"DEFAULT_DATABASE_DSN='postgres://u:***@127.0.0.1:{port}/db?sslmod=require' cannot be "
        'reached (invalid dsn: invalid connection option "sslmod"): '
        "check the host, port, user, password and database name"
    )


def test_the_check_says_what_to_set_when_the_embedded_database_has_no_folder(
    connect_with, tmp_path
):
    # As in the image, which has no data/ folder: only Compose mounts one.
    path = tmp_path / "data" / "db.sqlite3"
    connect_with()["NAME"] = str(path)

    assert connection_error() == (
        f"DEFAULT_DATABASE_DSN is not set, so the embedded SQLite database {path} cannot be "
        "reached (unable to open database file): create the SQLite file's folder and let the "
        "server write there, or correct the path, or set DEFAULT_DATABASE_DSN"
    )


def test_the_check_names_a_wrong_password_and_passes_with_the_right_one(
    connect_with, cluster_with_password
):
    connect_with(DEFAULT_DATABASE_DSN=cluster_with_password.dsn.replace(SECRET, f"not-{SECRET}"))

    message = connection_error()

    assert message.startswith("DEFAULT_DATABASE_DSN='postgres://postgres:***@%2F")
    assert message.endswith(
        '\' cannot be reached (password authentication failed for user "postgres"): correct '
        "the user and password (URL-encode special characters, e.g. %40 for @)"
    )
    assert SECRET not in message
    # The right password connects, so the message was about the password.
    connect_with(DEFAULT_DATABASE_DSN=cluster_with_password.dsn)
    database.check_connection()


def test_the_check_says_to_create_a_missing_database(connect_with, cluster_with_password):
    dsn = cluster_with_password.dsn.removesuffix("/postgres") + "/no_such_database"
    connect_with(DEFAULT_DATABASE_DSN=dsn)

    assert connection_error().endswith(
        '/no_such_database\' cannot be reached (database "no_such_database" does not exist): '
        "create the database, or correct the name after the last /"
    )


def assert_one_line(result, pattern):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("Configuration error: "), line
    assert re.search(pattern, line), line


def run_in_image(image_dir, argv, **environ):
    """A command in the project as the Docker image holds it, with only the given variables."""
    return subprocess.run(
        argv,
        cwd=image_dir,
        env=image_environ(**environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def migrate_and_serve(image_dir, **environ):
    """The release command, then the Dockerfile's CMD, each as a process of its own."""
    manage_py = run_in_image(image_dir, ["python", "manage.py", "migrate"], **environ)
    server = run_in_image(image_dir, dockerfile_cmd_on(free_port()), **environ)
    return manage_py, server


@pytest.mark.slow
@pytest.mark.parametrize("case", UNREACHABLE)
def test_an_unusable_database_stops_manage_py_and_the_server_with_one_line(image_dir, case):
    make_dsn, pattern = UNREACHABLE[case]
    environ = {"SECRET_KEY": KEY, "DOMAIN": "example.com", "DEFAULT_DATABASE_DSN": make_dsn()}

    for result in migrate_and_serve(image_dir, **environ):
        assert_one_line(result, "DEFAULT_DATABASE_DSN=.*" + pattern)


@pytest.mark.slow
def test_a_wrong_database_password_stops_with_one_line(image_dir, cluster_with_password):
    dsn = cluster_with_password.dsn.replace(SECRET, f"not-{SECRET}")
    environ = {"SECRET_KEY": KEY, "DOMAIN": "example.com", "DEFAULT_DATABASE_DSN": dsn}

    for result in migrate_and_serve(image_dir, **environ):
        assert_one_line(result, "password authentication failed.*: correct the user and password")
    # The right password works, so the line above was about the password.
    environ["DEFAULT_DATABASE_DSN"] = cluster_with_password.dsn
    assert run_in_image(image_dir, ["python", "manage.py", "migrate"], **environ).returncode == 0


@pytest.mark.slow
def test_the_embedded_database_without_its_folder_says_what_to_set(image_dir):
    # The image has no data/ folder: only Compose mounts one, at /data.
    result = run_in_image(image_dir, ["python", "manage.py", "migrate"], SECRET_KEY=KEY)

    assert_one_line(
        result,
        r"DEFAULT_DATABASE_DSN is not set, so the embedded SQLite database .*data/db\.sqlite3 "
        r"cannot be reached .*, or set DEFAULT_DATABASE_DSN$",
    )


@pytest.mark.slow
def test_commands_without_a_database_need_none(image_dir):
    environ = {"SECRET_KEY": KEY, "DEFAULT_DATABASE_DSN": UNREACHABLE["server down"][0]()}

    result = run_in_image(
        image_dir, ["python", "manage.py", "collectstatic", "--no-input", "--dry-run"], **environ
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_server_refuses_to_start_without_domain_in_production(image_dir, tmp_path):
    environ = {"SECRET_KEY": KEY, "DEFAULT_DATABASE_DSN": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    # The release command needs no DOMAIN; the server would answer every request with 400.
    manage_py, server = migrate_and_serve(image_dir, **environ)

    assert manage_py.returncode == 0, manage_py.stderr
    assert_one_line(server, "^Configuration error: DOMAIN is not set.*DJANGO_DEBUG=True")


@pytest.mark.slow
def test_the_server_refuses_a_bucket_s3_would_refuse(image_dir, tmp_path):
    environ = {
        "SECRET_KEY": KEY,
        "DOMAIN": "example.com",
        "DEFAULT_DATABASE_DSN": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@ab.s3.eu-central-1.amazonaws.com/",
    }

    server = run_in_image(image_dir, dockerfile_cmd_on(free_port()), **environ)

    assert_one_line(server, "DEFAULT_STORAGE_DSN=.* names the bucket 'ab', which S3 refuses")


@pytest.mark.slow
def test_the_server_refuses_a_media_folder_it_cannot_write(image_dir, tmp_path):
    environ = {
        "SECRET_KEY": KEY,
        "DOMAIN": "example.com",
        "DEFAULT_DATABASE_DSN": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # /dev/null is a file: no folder can be made under it, even by root.
        "DEFAULT_STORAGE_DSN": "file:///dev/null/media/?url=%2Fmedia%2F",
    }

    server = run_in_image(image_dir, dockerfile_cmd_on(free_port()), **environ)

    assert_one_line(
        server,
        r"DEFAULT_STORAGE_DSN=.* names the folder /dev/null/media, which the server cannot write "
        r"\(NotADirectoryError: Not a directory\): let the server's user write there",
    )


@pytest.mark.slow
def test_a_missing_database_says_to_create_it(image_dir, cluster_with_password):
    dsn = cluster_with_password.dsn.removesuffix("/postgres") + "/no_such_database"
    environ = {"SECRET_KEY": KEY, "DOMAIN": "example.com", "DEFAULT_DATABASE_DSN": dsn}

    result = run_in_image(image_dir, ["python", "manage.py", "migrate"], **environ)

    assert_one_line(result, r'database "no_such_database" does not exist\): create the database')


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--reload", "--reload-dir", "myapp"], ["--workers", "2"]])
def test_make_runs_server_checks_its_database_too(image_dir, tmp_path, mode):
    # These import the app inside Uvicorn's event loop, where Django refuses to connect.
    environ = image_environ(
        SECRET_KEY=KEY,
        DJANGO_DEBUG="True",
        DEFAULT_DATABASE_DSN=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    with running_server(image_dir, environ, tmp_path / "server.log", *mode) as server:
        answer = probe(f"http://127.0.0.1:{server.port}/healthz")

    log = server.log.read_text()
    assert answer == (200, b"ok\n"), log
    assert "Traceback" not in log
