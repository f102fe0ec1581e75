import posixpath
from contextlib import contextmanager

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from uploader.errors import describe_error
from uploader.forms import UploadedFileForm
from uploader.models import (
    StorageUnavailable,
    UploadedFile,
    deletion_failures,
    remove_quietly,
)


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
            with self.warning_of_files_left(request):
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
                remove_quietly(stored.storage, stored.name)
            raise

    def delete_view(self, request, *args, **kwargs):
        with self.warning_of_files_left(request):
            return super().delete_view(request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        # Where the "delete selected" action runs.
        with self.warning_of_files_left(request):
            return super().changelist_view(request, *args, **kwargs)

    @contextmanager
    def warning_of_files_left(self, request):
        """Tell the editor when deleted or replaced files could not be removed from storage."""
        with deletion_failures() as failures:
            yield
        if failures:
            names = ", ".join(posixpath.basename(name) for name, _ in failures)
            errors = ", ".join(sorted({describe_error(error) for _, error in failures}))
            self.message_user(
                request,
                f"The storage could not delete {len(failures)} file(s) ({errors}): {names}. "
                "They are listed for removal, which `manage.py reconcile_media --fix` does "
                "once the storage answers again.",
                messages.WARNING,
            )
