"""What the server and manage.py check as they start (myapp/startup.py), in this process.

Run as their own programs (one line on stderr, exit code 1), in test_configuration_errors.py.
"""

import pytest

from myapp.environment import ConfigurationError
from myapp.startup import check_before_serving, exit_on_configuration_error


def test_a_configuration_error_stops_the_program_with_its_one_line():
    with pytest.raises(SystemExit) as stopped, exit_on_configuration_error():
        raise ConfigurationError("DJANGO_DEBUG='yes please' is not a boolean")

    assert stopped.value.code == "Configuration error: DJANGO_DEBUG='yes please' is not a boolean"


def test_other_errors_show_as_they_are():
    with pytest.raises(ZeroDivisionError), exit_on_configuration_error():
        1 / 0  # noqa: B018


def test_without_debug_the_server_needs_a_domain(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = []

    with pytest.raises(ConfigurationError, match="DOMAIN is not set, so with DEBUG off"):
        check_before_serving()


@pytest.mark.django_db
def test_a_working_database_and_storage_pass(settings):
    settings.ALLOWED_HOSTS = ["example.com"]

    check_before_serving()
