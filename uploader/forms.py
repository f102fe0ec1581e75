import posixpath

from django import forms
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.template.defaultfilters import filesizeformat

from uploader.models import UploadedFile


class UploadedFileForm(forms.ModelForm):
    class Meta:
        model = UploadedFile
        fields = ("file",)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload or getattr(upload, "_committed", False):
            return upload  # nothing new: the stored file is kept
        if upload.size > settings.UPLOAD_MAX_SIZE:
            size, limit = filesizeformat(upload.size), filesizeformat(settings.UPLOAD_MAX_SIZE)
            if size == limit:
                # "10.0 MB; at most 10.0 MB" would not say what is wrong.
                size, limit = f"{upload.size:,}\xa0bytes", f"{settings.UPLOAD_MAX_SIZE:,}\xa0bytes"
            raise forms.ValidationError(
                "This file is %(size)s; files can be %(limit)s at most.",
                code="too_large",
                params={"size": size, "limit": limit},
            )
        storage = UploadedFile._meta.get_field("file").storage
        try:
            storage.get_valid_name(posixpath.basename(upload.name))
        except SuspiciousFileOperation:
            raise forms.ValidationError(
                "This file's name has no letters or digits that can be kept (%(name)s): "
                "rename the file, e.g. to report.pdf, and upload it again.",
                code="unusable_name",
                params={"name": upload.name},
            ) from None
        return upload
