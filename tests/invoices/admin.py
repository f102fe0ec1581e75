from django.contrib import admin

from file_lifecycle.admin import ManagedFilesAdmin
from tests.invoices.models import Invoice


@admin.register(Invoice)
class InvoiceAdmin(ManagedFilesAdmin, admin.ModelAdmin):
    pass
