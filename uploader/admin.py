import posixpath
from contextlib import contextmanager

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from myapp.configuration.storages import describe_error
from uploader import lifecycle
from uploader.forms import UploadedFileForm
from uploader.lifecycle import StorageUnavailable
from uploader.models import UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    form = UploadedFileForm
    list_display = ("__str__", "link")

    @admin.display(description="Link")
    def link(self, uploaded_file):
        return format_html('<a href="{}">{}</a>', uploaded_file.file.url, "Download")

    def get_urls(self):
        # The ASGI front takes an upload's body (the file and its form) on these views only.
        urls = super().get_urls()
        for url in urls:
            if (url.name or "").endswith(("_add", "_change")):
                url.callback.request_body_limit = (
                    settings.UPLOAD_MAX_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                )
        return urls

    def changeform_view(self, request, *args, **kwargs):
        try:
            with self.file_operations(request):
                return super().changeform_view(request, *args, **kwargs)
        except StorageUnavailable as error:
            # Raised inside the view's transaction, so nothing was saved: back to the form.
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, *args, **kwargs):
        with self.file_operations(request):
            return super().delete_view(request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        # Where the "delete selected" action runs.
        with self.file_operations(request):
            return super().changelist_view(request, *args, **kwargs)

    @contextmanager
    def file_operations(self, request):
        """Keep stored files in step with the view's transaction (uploader/lifecycle.py), and
        tell the editor when deleted or replaced files could not be removed from storage."""
        with lifecycle.file_operations() as operations:
            yield
        failures = operations.failed_deletions
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
