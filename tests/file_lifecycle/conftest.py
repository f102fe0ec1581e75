import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from tests.helpers import reload_urls


@pytest.fixture
def invoice_model(settings, db):
    """tests/invoices installed, migrated and in the admin, as a forker adds an app whose model
    has a ManagedFileField (docs/uploads-and-failures.md); yields its model, Invoice."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.invoices"]
    call_command("makemigrations", "invoices", check=True, dry_run=True, verbosity=0)
    call_command("migrate", "invoices", verbosity=0)
    from tests.invoices.admin import InvoiceAdmin
    from tests.invoices.models import Invoice

    if not admin.site.is_registered(Invoice):  # registered by the first import only
        admin.site.register(Invoice, InvoiceAdmin)
    reload_urls()
    yield Invoice
    admin.site.unregister(Invoice)
    reload_urls()
    call_command("migrate", "invoices", "zero", verbosity=0)
    # Its content type goes with the test's database changes: Django must not remember it.
    ContentType.objects.clear_cache()
