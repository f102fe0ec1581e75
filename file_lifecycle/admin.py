import posixpath
from contextlib import contextmanager

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect

from file_lifecycle import lifecycle
from file_lifecycle.lifecycle import StorageUnavailable
from myapp.configuration.storages import describe_error


class ManagedFilesAdmin:
    """A ModelAdmin mixin for models with ManagedFileFields: `class MyAdmin(ManagedFilesAdmin,
    admin.ModelAdmin)`. Its views keep stored files in step with their transactions, tell the
    editor what the storage refused, and take a request body as large as a file and its form."""

    def get_urls(self):
        urls = super().get_urls()
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        forms = {f"{prefix}_add", f"{prefix}_change"}
        for url in urls:
            if url.name in forms:
                # Read by the ASGI front (myapp/serving), which refuses larger bodies unread.
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
        """Keep stored files in step with the view's transaction (lifecycle.file_operations),
        and tell the editor when deleted or replaced files could not be removed from storage."""
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
