from django.contrib import admin
from django.utils.html import format_html

from file_lifecycle.admin import ManagedFilesAdmin
from uploader.models import UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(ManagedFilesAdmin, admin.ModelAdmin):
    list_display = ("__str__", "link")

    @admin.display(description="Link")
    def link(self, uploaded_file):
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, "Download")
