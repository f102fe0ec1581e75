from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from uploader.forms import UploadedFileForm
from uploader.models import StorageUnavailable, UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    form = UploadedFileForm
    list_display = ("__str__", "link")

    @admin.display(description="Link")
    def link(self, uploaded_file):
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, "Download")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "file" in form.changed_data:
            request.stored_upload = obj.file

    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except StorageUnavailable as error:
            # Raised inside the view's transaction, so nothing was saved: back to the form.
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        except BaseException:
            # The transaction failed after the file was stored (as late as its commit):
            # no row will point at the file, so it goes too.
            stored = getattr(request, "stored_upload", None)
            if stored:
                stored.storage.delete(stored.name)
            raise
