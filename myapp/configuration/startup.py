"""What manage.py and the server check as they start, so that no mistake waits for a request."""

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import Error as DatabaseError

from myapp.configuration import database
from myapp.configuration.environment import ConfigurationError
from myapp.configuration.storages import check_storage


@contextmanager
def exit_on_configuration_error():
    """Stop the program with the error's one line instead of a traceback.

    A database that cannot be reached fails wherever it is first used, so commands that never
    connect (the build's collectstatic) need none: then too, one line says why. Other errors
    show as they are.
    """
    try:
        yield
    except ConfigurationError as error:
        sys.exit(f"Configuration error: {error}")
    except (ImproperlyConfigured, DatabaseError):
        try:
            database.check_connection()
        except ConfigurationError as reason:
            sys.exit(f"Configuration error: {reason}")
        except Exception:  # noqa: S110 (the settings cannot load: the error itself says why)
            pass
        raise


def check_before_serving():
    """What the server checks once at start.

    A database that gives no answer in time is an outage as often as a mistake: the server
    starts anyway, so that the platform's probes get an answer, and /readyz reports it.
    """
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        raise ConfigurationError(
            "DOMAIN is not set, so with DEBUG off every request would be refused (400 Bad "
            "Request): set DOMAIN to the site's host name, e.g. DOMAIN=example.com "
            "(or set DJANGO_DEBUG=True for local development)."
        )
    check_storage()
    # In a thread: Uvicorn's --reload and --workers import the app inside their event loop,
    # where Django refuses to connect.
    try:
        with ThreadPoolExecutor() as executor:
            executor.submit(database.check_connection).result()
    except database.DatabaseNoAnswer as error:
        logging.getLogger(__name__).warning("Starting anyway: %s", error)
