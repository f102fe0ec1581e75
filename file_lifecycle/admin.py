import json
import posixpath
from urllib.parse import parse_qsl, urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from file_lifecycle import direct_uploads, lifecycle
from file_lifecycle.fields import ManagedFileField, format_size
from file_lifecycle.lifecycle import StorageUnavailable
from myapp.configuration.storages import describe_error

# The query parameter of the form a body too large for it is sent back to (by the ASGI front).
TOO_LARGE = "too_large"


class ManagedFilesAdmin:
    """A ModelAdmin mixin for models with ManagedFileFields: `class MyAdmin(ManagedFilesAdmin,
    admin.ModelAdmin)`. Its views keep stored files in step with their transactions, tell the
    editor what the storage refused, and take a request body as large as a file and its form.

    For a model with one ManagedFileField, the add page takes many files at once (picked or
    dropped), each sent in a request of its own with a progress bar, by
    file_lifecycle/static/file_lifecycle/uploads.js; with a bucket, straight to the bucket
    (file_lifecycle/direct_uploads.py). Without JavaScript it is the plain form."""

    @property
    def media(self):
        return super().media + forms.Media(
            js=["file_lifecycle/uploads.js"], css={"all": ["file_lifecycle/uploads.css"]}
        )

    def get_urls(self):
        urls = super().get_urls()
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        limit = settings.UPLOAD_MAX_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        for url in urls:
            if url.name in (f"{prefix}_add", f"{prefix}_change"):
                # Read by the ASGI front (myapp/serving), which refuses larger bodies unread, or
                # drains them and sends the browser back to the form, which says why.
                url.callback.request_body_limit = limit
                url.callback.too_large_url = too_large_url
        direct = path(
            "direct/<str:step>/",
            self.admin_site.admin_view(require_POST(self.direct_upload_view)),
            name=f"{prefix}_direct",
        )
        return [direct, *urls]

    def upload_field(self):
        """The model's one ManagedFileField, or None: many files at once need exactly one."""
        found = [f for f in self.opts.fields if isinstance(f, ManagedFileField)]
        return found[0] if len(found) == 1 else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The form, its file input carrying what uploads.js needs: the size limit, whether it
        takes many files (the add page), and where a bucket upload starts."""
        form = super().get_form(request, obj, change=change, **kwargs)
        field = self.upload_field()
        if field is not None and field.name in form.base_fields:
            limit = settings.UPLOAD_MAX_SIZE
            attrs = {"data-upload-limit": limit, "data-upload-limit-text": format_size(limit)}
            if not change:
                name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
                attrs["data-upload-many"] = "true"
                attrs["data-upload-done"] = reverse(f"{name}_changelist")
                if direct_uploads.possible(field):
                    start = reverse(f"{name}_direct", kwargs={"step": "start"})
                    attrs["data-upload-direct"] = start.removesuffix("start/")
            form.base_fields[field.name].widget.attrs.update(attrs)
        return form

    def object_for_upload(self, request, stored_name, chosen_name):
        """The new, unsaved row for a file the browser sent straight to the bucket, stored
        under stored_name; chosen_name is the file's name on the editor's computer. Override it
        to fill fields of the model's own from them."""
        return self.model(**{self.upload_field().name: stored_name})

    def direct_upload_view(self, request, step):
        """start, part, complete or abort an upload from the browser to the bucket (JSON)."""
        field = self.upload_field()
        if not self.has_add_permission(request) or field is None:
            raise PermissionDenied
        if not direct_uploads.possible(field) or step not in ("start", "part", "complete", "abort"):
            return JsonResponse({"error": "Files are not sent to a bucket here."}, status=404)
        try:
            data = json.loads(request.body)
            label = self.opts.label
            if step == "start":
                size = whole_number(data["size"])
                return JsonResponse(
                    direct_uploads.start(field, label, request.user, str(data["name"]), size)
                )
            if step == "part":
                number = whole_number(data["number"])
                token, checksum = str(data["token"]), data.get("checksum")
                if checksum is not None and not isinstance(checksum, str):
                    raise TypeError
                url = direct_uploads.part(field, label, request.user, token, number, checksum)
                return JsonResponse({"url": url})
            if step == "abort":
                direct_uploads.abort(field, label, request.user, str(data["token"]))
                return JsonResponse({})
            name, chosen = direct_uploads.complete(field, label, request.user, str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return JsonResponse(
                {"error": "The request is not one this page sends: reload the page."}, status=400
            )
        except direct_uploads.Refused as refusal:
            return JsonResponse({"error": str(refusal)}, status=refusal.status)
        except StorageUnavailable as error:
            return JsonResponse({"error": str(error)}, status=503)
        obj = self.object_for_upload(request, name, chosen)
        try:
            with lifecycle.file_operations(), transaction.atomic(router.db_for_write(self.model)):
                self.save_model(request, obj, None, change=False)
                self.log_addition(request, obj, [{"added": {}}])
        except BaseException:
            lifecycle.remove_quietly(field.storage, name)  # no row will point at it
            raise
        return self.response_add(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        # The admin's own answer, for its message ("... was added successfully"), which the
        # page shows once uploads.js has sent every file.
        response = super().response_add(request, obj, post_url_continue)
        if wants_json(request):
            return JsonResponse({"added": str(obj)})
        return response

    def render_change_form(self, request, context, *args, **kwargs):
        form = context["adminform"].form
        if wants_json(request) and request.method == "POST" and form.errors:
            errors = [error for errors in form.errors.values() for error in errors]
            return JsonResponse({"error": " ".join(errors)}, status=400)
        return super().render_change_form(request, context, *args, **kwargs)

    def changeform_view(self, request, *args, **kwargs):
        if request.method == "GET" and (length := request.GET.get(TOO_LARGE, "")).isdigit():
            self.too_large(request, int(length))
        return self.keep_files_in_step(super().changeform_view, request, *args, **kwargs)

    def too_large(self, request, length):
        """Tell the editor why the form came back: the ASGI front took a body over the limit
        (its length, the file with the form) and sent the browser back here."""
        field = self.upload_field()
        message = f"The upload was {format_size(length)}, more than this page takes."
        if field is not None:
            try:
                direct_uploads.checked(field, "upload", length)
            except ValidationError as error:  # the form's own words for a file too large
                message = " ".join(error.messages)
        self.message_user(request, f"{message} Nothing was saved.", messages.ERROR)

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
            if wants_json(request):
                return JsonResponse({"error": str(error)}, status=503)
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


def wants_json(request):
    """Sent by uploads.js, which reads the answer: the admin's pages answer it in JSON."""
    return request.headers.get("Accept") == "application/json"


def too_large_url(path, query_string, length):
    """Where the ASGI front sends a browser whose form's body was over the view's limit: the
    same form (its query kept), which then says why."""
    query = [(name, value) for name, value in parse_qsl(query_string) if name != TOO_LARGE]
    return f"{path}?{urlencode([*query, (TOO_LARGE, length)])}"


def whole_number(value):
    """A number from JSON that is a whole number (JSON's true would pass for 1): TypeError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError
    return value
