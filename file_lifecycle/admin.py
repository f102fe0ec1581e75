import posixpath

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
        limit = settings.UPLOAD_MAX_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        for url in urls:
            if url.name in (f"{prefix}_add", f"{prefix}_change"):
                # Read by the ASGI front (myapp/serving), which refuses larger bodies unread.
                url.callback.request_body_limit = limit
        return urls

    def changeform_view(self, request, *args, **kwargs):
        return self.keep_files_in_step(super().changeform_view, request, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        return self.keep_files_in_step(super().delete_view, request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):  # where "delete selected" runs
        return self.keep_files_in_step(super().changelist_view, request, *args, **kwargs)

    def keep_files_in_step(self, view, request, *args, **kwargs):
        """Run an admin view within lifecycle.file_operations, and tell the editor what the
        storage refused: a new file (back to the form), or removing deleted or replaced ones."""
        try:
            with lifecycle.file_operations() as operations:
                response = view(request, *args, **kwargs)
        except StorageUnavailable as error:
            # Raised inside the view's transaction, so nothing was saved: back to the form.
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        if failures := operations.failed_deletions:
            names = ", ".join(posixpath.basename(name) for name, _ in failures)
            errors = ", ".join(sorted({describe_error(error) for _, error in failures}))
            self.message_user(
                request,
                f"The storage could not delete {len(failures)} file(s) ({errors}): {names}. "
                "They are listed for removal, which `manage.py reconcile_media --fix` does "
                "once the storage answers again.",
                messages.WARNING,
            )
        return response
