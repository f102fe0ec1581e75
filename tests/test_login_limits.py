"""Login attempts are limited per client and per account (django-axes, settings.py)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F

LOGIN_URL = "/admin/login/?next=/admin/"
PASSWORD = "the-right-password"


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user(
        "editor", password=PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def other_editor(django_user_model):
    return django_user_model.objects.create_user(
        "other-editor", password=PASSWORD, is_staff=True, is_superuser=True
    )


def log_in(client, username, password=PASSWORD, client_address="198.51.100.1"):
    """A login through the admin's form, from a client as the platform's router forwards it."""
    client.cookies.clear()
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password},
        headers={"X-Forwarded-For": f"203.0.113.99, {client_address}"},
        REMOTE_ADDR="10.0.0.2",  # the router, the same for every client
    )


def logged_in(response):
    return response.status_code == 302 and response["Location"] == "/admin/"


def fail(client, username, times, **where):
    for _ in range(times):
        response = log_in(client, username, password="a-wrong-password", **where)
    return response


@pytest.mark.django_db
def test_wrong_passwords_up_to_the_limit_leave_the_right_one_working(client, editor):
    response = fail(client, "editor", settings.AXES_FAILURE_LIMIT - 1)

    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.text
    assert logged_in(log_in(client, "editor"))


@pytest.mark.django_db
def test_at_the_limit_even_the_right_password_is_refused_with_how_to_get_back_in(client, editor):
    locked = fail(client, "editor", settings.AXES_FAILURE_LIMIT)
    response = log_in(client, "editor")

    assert not logged_in(response)
    for page in (locked, response):
        assert page.status_code == 429
        assert "logging in is locked for 15 minutes" in page.text
        assert "python manage.py axes_reset_username YOUR_USER_NAME" in page.text


@pytest.mark.django_db
def test_a_locked_account_is_locked_from_every_client(client, editor):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT, client_address="198.51.100.1")

    assert log_in(client, "editor", client_address="192.0.2.7").status_code == 429


@pytest.mark.django_db
def test_a_locked_client_is_locked_for_every_account(client, editor, other_editor):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT, client_address="198.51.100.1")

    response = log_in(client, "other-editor", client_address="198.51.100.1")

    assert response.status_code == 429


@pytest.mark.django_db
def test_another_account_from_another_client_behind_the_same_router_logs_in(
    client, editor, other_editor
):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT, client_address="198.51.100.1")

    assert logged_in(log_in(client, "other-editor", client_address="192.0.2.7"))


@pytest.mark.django_db
def test_the_lock_ends_after_the_cool_off_period(client, editor):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT)
    # The failures, as if made a cool-off period and a minute ago.
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    )

    assert logged_in(log_in(client, "editor"))


@pytest.mark.django_db
def test_an_administrator_unlocks_an_account_with_the_command_the_page_names(client, editor):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT, client_address="198.51.100.1")

    call_command("axes_reset_username", "editor")

    assert logged_in(log_in(client, "editor", client_address="192.0.2.7"))


@pytest.mark.django_db
def test_a_successful_login_starts_the_count_again(client, editor):
    fail(client, "editor", settings.AXES_FAILURE_LIMIT - 1)
    assert logged_in(log_in(client, "editor"))

    response = fail(client, "editor", settings.AXES_FAILURE_LIMIT - 1)

    assert response.status_code == 200
