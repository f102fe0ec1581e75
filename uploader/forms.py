from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from uploader.models import UploadedFile


class UploadedFileForm(forms.ModelForm):
    class Meta:
        model = UploadedFile
        fields = ("file",)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload and upload.size > settings.UPLOAD_MAX_SIZE:
            raise forms.ValidationError(
                "This file is %(size)s; files can be %(limit)s at most.",
                code="too_large",
                params={
                    "size": filesizeformat(upload.size),
                    "limit": filesizeformat(settings.UPLOAD_MAX_SIZE),
                },
            )
        return upload
