from django.contrib import admin
from django.utils.html import format_html

from file_lifecycle.admin import ManagedFilesAdmin
from uploader.models import UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(ManagedFilesAdmin, admin.ModelAdmin):
    list_display = ("__str__", "link")

    def object_for_upload(self, request, stored_name, chosen_name):
        uploaded_file = super().object_for_upload(request, stored_name, chosen_name)
        uploaded_file.original_name = chosen_name
        return uploaded_file

    @admin.display(description="Link")
    def link(self, uploaded_file):
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, "Download")
