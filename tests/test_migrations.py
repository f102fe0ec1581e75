import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """A model change without its migration fails here (as makemigrations --check does)."""
    try:
        call_command("makemigrations", check=True, dry_run=True, verbosity=0)
    except SystemExit:
        pytest.fail("Model changes have no migration: run python manage.py makemigrations")
