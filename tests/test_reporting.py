"""Error reports hide every credential; errors are logged to stderr at the configured level."""

import sys
import types

import pytest
from django.urls import path
from django.views.debug import ExceptionReporter
from django.views.decorators.debug import sensitive_post_parameters

import myapp.urls
from myapp.configuration.environment import ConfigurationError

SECRET = "hunter2-in-a-frame"


def fail_with_credentials_in_sight():
    address = f"postgres://app:{SECRET}@db.example.com:5432/app"  # noqa: F841
    conn_params = {"user": "app", "password": SECRET, "host": "db.example.com"}  # noqa: F841
    conninfo = f"dbname=app user=app password={SECRET} host=db.example.com"  # noqa: F841
    environ = types.MappingProxyType({"DEFAULT_STORAGE_DSN": f"s3://K:{SECRET}@b/"})  # noqa: F841
    nested = [(f"https://user:{SECRET}@example.com/", {"api": {"token": SECRET}})]  # noqa: F841
    api_token = SECRET  # noqa: F841 (secret by its name alone)
    options = types.SimpleNamespace(endpoint=f"https://user:{SECRET}@example.com/")  # noqa: F841
    raise RuntimeError("the database is down")


@pytest.mark.parametrize("debug", [True, False])
def test_reports_hide_credentials_in_every_variable(rf, settings, debug):
    settings.DEBUG = debug
    try:
        fail_with_credentials_in_sight()
    except RuntimeError:
        reporter = ExceptionReporter(rf.get("/"), *sys.exc_info())

    html, text = reporter.get_traceback_html(), reporter.get_traceback_text()

    assert "the database is down" in html
    # Local variables are on the HTML page only; masked, not dropped.
    assert "app:********@db.example.com" in html
    assert "password=******** host=db.example.com" in html
    # Each as Python shows it: a string quoted, an object as its (masked) repr, by name whole.
    assert "<pre>&#x27;postgres://app:********@db.example.com:5432/app&#x27;</pre>" in html
    assert "<pre>namespace(endpoint=&#x27;https://user:********@example.com/&#x27;)</pre>" in html
    assert "{&#x27;DEFAULT_STORAGE_DSN&#x27;: &#x27;********************&#x27;}" in html
    assert "&#x27;********************&#x27;" in html.split("api_token", 1)[1]
    assert SECRET not in html
    assert SECRET not in text


def fail(request):
    raise RuntimeError("the database is down")


# The project's URLs (the front reverses the admin's) and one that fails.
urlpatterns = [path("fail/", fail), *myapp.urls.urlpatterns]


def test_the_debug_page_hides_credentials_in_the_asgi_scope_too(settings, front_request):
    """The WSGI adapter puts the raw ASGI scope in META ("asgi.scope"): its headers are masked
    by their names, as META's own HTTP_ entries are."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    credentials = [
        (b"authorization", f"Bearer {SECRET}".encode()),
        (b"cookie", f"sessionid={SECRET}".encode()),
        (b"x-api-token", SECRET.encode()),
    ]

    response = front_request("GET", "/fail/", [*credentials, (b"x-request-id", b"abc-123")])

    page = response.body.decode()
    assert response.status == 500
    assert "the database is down" in page
    assert "asgi.scope" in page
    # Masked by name, not dropped: the page still shows which headers came.
    assert "(b&#x27;authorization&#x27;, &#x27;********************&#x27;)" in page
    assert "(b&#x27;x-request-id&#x27;, b&#x27;abc-123&#x27;)" in page
    # The cookie by its name, its value as Django shows a hidden one.
    cookies = page.split("COOKIES", 1)[1]
    assert "<td>sessionid</td>" in cookies
    assert "&#x27;********************&#x27;" in cookies.split("</table>", 1)[0]
    assert SECRET not in page


@sensitive_post_parameters("password")
def log_in(request):
    """A view that takes a password, as the admin's login does, and fails."""
    raise RuntimeError("the database is down")


def test_reports_hide_passwords_posted_in_debug_too(rf, settings):
    settings.DEBUG = True
    request = rf.post("/admin/login/", {"username": "admin", "password": SECRET})
    try:
        log_in(request)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())

    html = reporter.get_traceback_html()

    assert "admin" in html.split("POST", 1)[1]
    assert SECRET not in html


def test_log_level_comes_from_the_environment(load_settings):
    assert load_settings()["LOGGING"]["root"]["level"] == "INFO"
    assert load_settings(DJANGO_LOG_LEVEL="warning")["LOGGING"]["root"]["level"] == "WARNING"


def test_an_unknown_log_level_is_a_one_line_error(load_settings):
    with pytest.raises(ConfigurationError) as error:
        load_settings(DJANGO_LOG_LEVEL="verbose")

    assert str(error.value) == (
        "DJANGO_LOG_LEVEL='verbose' is not a log level: use DEBUG, INFO, WARNING, ERROR or "
        "CRITICAL, e.g. DJANGO_LOG_LEVEL=INFO"
    )
