from django.contrib import admin
from django.utils.html import format_html

from uploader.models import UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "link")

    @admin.display(description="Link")
    def link(self, uploaded_file):
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, "Download")
