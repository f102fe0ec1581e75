import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Tags, run_checks
from django.core.management.utils import get_random_secret_key
from django.views.debug import get_default_exception_reporter_filter
from django_storage_url import get_storage
from storages.backends.s3 import S3Storage

from myapp.configuration.storages import FileSystemStorage
from tests.helpers import BASE_DIR

PRODUCTION_SECRET_KEY = secrets.token_urlsafe(50)
PLATFORM_S3_DSN = (
    "s3://AKIAEXAMPLE:se%2Fcret@my-bucket.s3.eu-central-1.amazonaws.com/"
    "?auth=s3v4&domain=media.example.com"
)


def test_defaults_need_no_service(load_settings):
    settings = load_settings()

    assert settings["DEBUG"] is False
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["NAME"] == str(BASE_DIR / "data" / "db.sqlite3")
    assert settings["MEDIA_ROOT"] == BASE_DIR / "data" / "media"
    assert settings["MEDIA_URL"] == "/media/"


@pytest.fixture
def storage_of(settings):
    """The storage that loaded settings build: django-storage-url's, by the DSN's scheme, from
    the settings' MEDIA_ROOT and MEDIA_URL, which the DSN gave once."""

    def build(loaded):
        settings.MEDIA_ROOT, settings.MEDIA_URL = loaded["MEDIA_ROOT"], loaded["MEDIA_URL"]
        return get_storage(loaded["DEFAULT_STORAGE_DSN"])

    return build


def test_default_storage_keeps_files_in_data_media(load_settings, storage_of):
    storage = storage_of(load_settings())

    assert isinstance(storage, FileSystemStorage)
    assert Path(storage.location) == BASE_DIR / "data" / "media"
    assert storage.url("report.pdf") == "/media/report.pdf"


def test_postgres_dsn(load_settings):
    settings = load_settings(DEFAULT_DATABASE_DSN="postgres://postgres:pw@postgres:5432/db")

    database = settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("postgres", 5432, "db")
    assert (database["USER"], database["PASSWORD"]) == ("postgres", "pw")


def test_database_url_is_the_fallback_name(load_settings):
    settings = load_settings(DATABASE_URL="postgres://u@fallback:5432/other")

    assert settings["DATABASES"]["default"]["HOST"] == "fallback"


def test_default_database_dsn_wins_over_database_url(load_settings):
    settings = load_settings(
        DEFAULT_DATABASE_DSN="postgres://u@primary:5432/db",
        DATABASE_URL="postgres://u@fallback:5432/db",
    )

    assert settings["DATABASES"]["default"]["HOST"] == "primary"


def test_file_dsn_sets_media_root_and_url(load_settings, storage_of):
    settings = load_settings(DEFAULT_STORAGE_DSN="file:///data/media/?url=%2Fmedia%2F")

    assert settings["MEDIA_ROOT"] == Path("/data/media")
    assert settings["MEDIA_URL"] == "/media/"
    storage = storage_of(settings)
    assert Path(storage.location) == settings["MEDIA_ROOT"]


def test_file_dsn_with_escaped_characters_stores_where_media_root_says(
    load_settings, storage_of, tmp_path
):
    folder = tmp_path / "my media"
    settings = load_settings(DEFAULT_STORAGE_DSN=folder.as_uri() + "/?url=%2Fuploads%2F")

    storage = storage_of(settings)
    assert settings["MEDIA_ROOT"] == folder
    assert Path(storage.location) == folder
    assert storage.url("a b.txt") == "/uploads/a%20b.txt"


def test_platform_s3_dsn(load_settings):
    settings = load_settings(DEFAULT_STORAGE_DSN=PLATFORM_S3_DSN)

    assert (settings["MEDIA_ROOT"], settings["MEDIA_URL"]) == ("", "")
    assert settings["STORAGES"]["default"]["OPTIONS"] == {"setting_name": "DEFAULT_STORAGE_DSN"}
    storage = get_storage(settings["DEFAULT_STORAGE_DSN"])
    assert isinstance(storage, S3Storage)
    assert storage.bucket_name == "my-bucket"
    assert storage.region_name == "eu-central-1"
    assert storage.signature_version == "s3v4"
    assert (storage.access_key, storage.secret_key) == ("AKIAEXAMPLE", "se/cret")
    assert storage.url("report.pdf") == "https://media.example.com/report.pdf"


def test_static_files_are_compressed_and_hashed(load_settings):
    settings = load_settings()

    assert settings["STORAGES"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    assert settings["MIDDLEWARE"].index("whitenoise.middleware.WhiteNoiseMiddleware") == 2
    assert settings["STATIC_ROOT"] == BASE_DIR / "staticfiles"


@pytest.mark.parametrize("value", ["True", "true", "1", "yes", "on", " TRUE "])
def test_debug_on_only_when_asked(load_settings, value):
    assert load_settings(DJANGO_DEBUG=value)["DEBUG"] is True


@pytest.mark.parametrize("value", ["False", "false", "0", "no", "off"])
def test_debug_off(load_settings, value):
    assert load_settings(DJANGO_DEBUG=value)["DEBUG"] is False


def test_allowed_hosts_from_platform_domains(load_settings):
    settings = load_settings(
        DOMAIN="example.com",
        DOMAIN_ALIASES="www.example.com, example.org",
        DOMAIN_REDIRECTS="example.net,",
    )

    assert settings["ALLOWED_HOSTS"] == [
        "example.com",
        "www.example.com",
        "example.org",
        "example.net",
    ]


def test_debug_allows_localhost_and_needs_no_secret_key(load_settings):
    settings = load_settings(DJANGO_DEBUG="True", SECRET_KEY="")

    assert {"localhost", "127.0.0.1"} <= set(settings["ALLOWED_HOSTS"])
    assert settings["SECRET_KEY"]


def test_secret_key_from_environment(load_settings):
    assert load_settings(SECRET_KEY=PRODUCTION_SECRET_KEY)["SECRET_KEY"] == PRODUCTION_SECRET_KEY


def test_debug_takes_any_secret_key(load_settings):
    assert load_settings(DJANGO_DEBUG="True", SECRET_KEY="s3cr3t")["SECRET_KEY"] == "s3cr3t"


def test_production_is_https_only(load_settings):
    settings = load_settings()

    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert settings["SECURE_HSTS_PRELOAD"] is True
    assert settings["SESSION_COOKIE_SECURE"] is settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_NAME"] == "__Secure-sessionid"
    assert settings["CSRF_COOKIE_NAME"] == "__Secure-csrftoken"


def test_debug_cookies_work_over_plain_http(load_settings):
    settings = load_settings(DJANGO_DEBUG="True")

    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SECURE_HSTS_SECONDS"] == 0
    assert settings["SESSION_COOKIE_SECURE"] is settings["CSRF_COOKIE_SECURE"] is False
    assert (settings["SESSION_COOKIE_NAME"], settings["CSRF_COOKIE_NAME"]) == (
        "sessionid",
        "csrftoken",
    )


def test_https_redirect_and_hsts_are_configurable(load_settings):
    settings = load_settings(SECURE_SSL_REDIRECT="False", SECURE_HSTS_SECONDS="3600")

    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SECURE_HSTS_SECONDS"] == 3600


def test_plain_http_is_redirected_except_the_health_checks(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"
    # Behind the load balancer, which ended TLS.
    assert client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200
    # The platform probes the container directly, over plain HTTP.
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("1048576", 1048576),
        ("500kB", 500_000),
        ("100MB", 100_000_000),
        ("1.5GB", 1_500_000_000),
        ("2 MiB", 2 * 1024 * 1024),
        ("1KiB", 1024),
        ("1gib", 1024**3),
    ],
)
def test_upload_max_size(load_settings, value, size):
    assert load_settings(UPLOAD_MAX_SIZE=value)["UPLOAD_MAX_SIZE"] == size


def test_upload_max_size_default_is_100_mb(load_settings):
    assert load_settings()["UPLOAD_MAX_SIZE"] == 100_000_000


def test_empty_variables_count_as_unset(load_settings):
    settings = load_settings(
        DJANGO_DEBUG="",
        DEFAULT_DATABASE_DSN=" ",
        DATABASE_URL="postgres://u@fallback:5432/db",
        DEFAULT_STORAGE_DSN="",
        DOMAIN="",
        SECURE_SSL_REDIRECT="",
        UPLOAD_MAX_SIZE="",
    )

    assert settings["DEBUG"] is False
    assert settings["DATABASES"]["default"]["HOST"] == "fallback"
    assert settings["MEDIA_ROOT"] == BASE_DIR / "data" / "media"
    assert settings["ALLOWED_HOSTS"] == []
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["UPLOAD_MAX_SIZE"] == 100_000_000


def test_blanks_around_values_are_ignored(load_settings):
    settings = load_settings(
        SECRET_KEY=f" {PRODUCTION_SECRET_KEY}\n",
        DEFAULT_DATABASE_DSN="  postgres://u@primary:5432/db\n",
        DOMAIN=" example.com ",
        UPLOAD_MAX_SIZE=" 10MB ",
    )

    assert settings["SECRET_KEY"] == PRODUCTION_SECRET_KEY
    assert settings["DATABASES"]["default"]["HOST"] == "primary"
    assert settings["ALLOWED_HOSTS"] == ["example.com"]
    assert settings["UPLOAD_MAX_SIZE"] == 10_000_000


@pytest.mark.parametrize(
    "query",
    [
        "auth=s3",
        "acl=none",
        "acl=bucket-owner-full-control",
        "qs_auth=true&acl=private",
        "addressing_style=virtual&region_name=fr-par",
        "url=https://cdn.example.com/media/",
        "endpoint=https://s3.example.com:9000",
        "endpoint=http://127.0.0.1:9000/",
    ],
)
def test_s3_dsn_parameters(load_settings, query):
    dsn = f"s3://KEY:SECRET@my-bucket.s3.example.com/?{query}"

    assert load_settings(DEFAULT_STORAGE_DSN=dsn)["DEFAULT_STORAGE_DSN"] == dsn


def test_debug_pages_and_error_reports_hide_dsns(rf, settings):
    settings.DEFAULT_STORAGE_DSN = PLATFORM_S3_DSN
    request = rf.get("/", DEFAULT_DATABASE_DSN="postgres://u:database-secret@db:5432/db")
    reporter_filter = get_default_exception_reporter_filter()

    safe_settings = reporter_filter.get_safe_settings()
    assert safe_settings["DEFAULT_STORAGE_DSN"] == reporter_filter.cleansed_substitute
    assert "se%2Fcret" not in str(safe_settings)
    assert "database-secret" not in str(reporter_filter.get_safe_request_meta(request))


def run_manage_py(*args, **environ):
    """manage.py in a process of its own, with only the given variables (and PATH)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={"PATH": os.environ["PATH"], **environ},
        capture_output=True,
        text=True,
        check=False,
    )


PRODUCTION = {
    "SECRET_KEY": PRODUCTION_SECRET_KEY,
    "DOMAIN": "example.com",
    "DEFAULT_DATABASE_DSN": "postgres://myapp:pw@db.example.com:5432/myapp",
    "DEFAULT_STORAGE_DSN": PLATFORM_S3_DSN,
}


@pytest.mark.slow
def test_production_passes_the_deploy_check():
    result = run_manage_py("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


@pytest.mark.slow
def test_deploy_check_warns_about_local_media_storage():
    environ = {**PRODUCTION, "DEFAULT_STORAGE_DSN": "file:///data/media/?url=%2Fmedia%2F"}

    result = run_manage_py("check", "--deploy", "--fail-level", "WARNING", **environ)

    assert result.returncode == 1
    assert "uploader.W001" in result.stderr
    assert "s3://" in result.stderr


def deploy_check_messages():
    """What `check --deploy` reports about storage, as (ids reported, ids silenced)."""
    issues = run_checks(include_deployment_checks=True, tags=[Tags.files])
    return (
        [issue.id for issue in issues if not issue.is_silenced()],
        [issue.id for issue in issues if issue.is_silenced()],
    )


def test_local_media_storage_is_a_deploy_warning(use_storage):
    use_storage("file:///data/media/?url=%2Fmedia%2F")

    assert deploy_check_messages() == (["uploader.W001"], [])


def test_s3_media_storage_passes_the_deploy_check(use_storage):
    use_storage(PLATFORM_S3_DSN)

    assert deploy_check_messages() == ([], [])


def test_local_media_storage_warning_can_be_silenced(settings, use_storage):
    use_storage("file:///data/media/?url=%2Fmedia%2F")
    settings.SILENCED_SYSTEM_CHECKS = ["uploader.W001"]

    assert deploy_check_messages() == ([], ["uploader.W001"])


def test_local_media_storage_is_fine_in_debug(settings, use_storage):
    use_storage("file:///data/media/?url=%2Fmedia%2F")
    settings.DEBUG = True

    assert deploy_check_messages() == ([], [])


@pytest.mark.parametrize(
    ("dsn", "engine", "name", "host"),
    [
        ("sqlite://", "django.db.backends.sqlite3", ":memory:", ""),
        ("sqlite://:memory:", "django.db.backends.sqlite3", ":memory:", None),
        ("sqlite:////data/db.sqlite3", "django.db.backends.sqlite3", "/data/db.sqlite3", ""),
        ("postgresql://u:p@db/x", "django.db.backends.postgresql", "x", "db"),
        ("pgsql://u:p@db/x", "django.db.backends.postgresql", "x", "db"),
        ("postgis://u:p@db/x", "django.contrib.gis.db.backends.postgis", "x", "db"),
        (
            "postgres://u:p@[2001:db8::1]:5432/x",
            "django.db.backends.postgresql",
            "x",
            "2001:db8::1",
        ),
        (
            "postgres://%2Fvar%2Frun%2Fpostgresql/x",
            "django.db.backends.postgresql",
            "x",
            "/var/run/postgresql",
        ),
        (
            "postgres://u@%2FUsers%2FMe%2Fpg:5433/x",
            "django.db.backends.postgresql",
            "x",
            "/Users/Me/pg",
        ),
        ("mysql://u:p@db:3306/x", "django.db.backends.mysql", "x", "db"),
    ],
)
def test_every_documented_database_dsn_form(load_settings, dsn, engine, name, host):
    database = load_settings(DEFAULT_DATABASE_DSN=dsn)["DATABASES"]["default"]

    assert (database["ENGINE"], database["NAME"], database.get("HOST")) == (engine, name, host)


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(50),
        get_random_secret_key(),
        secrets.token_hex(16),  # shorter than Django recommends: check --deploy says so
        "django-insecure-" + secrets.token_urlsafe(50),
        f"'{secrets.token_urlsafe(50)}'",
    ],
)
def test_any_key_a_platform_could_generate_boots(load_settings, key):
    assert load_settings(SECRET_KEY=key)["SECRET_KEY"] == key


@pytest.mark.slow
def test_deploy_check_reports_a_weak_key_that_still_boots():
    result = run_manage_py("check", "--deploy", **{**PRODUCTION, "SECRET_KEY": "short-key"})

    assert result.returncode == 0, result.stderr
    assert "security.W009" in result.stderr
