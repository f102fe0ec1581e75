import posixpath
import secrets

from django.db import models


def upload_to_own_folder(uploaded_file, filename):
    """Give each upload a folder of its own, so same-named files never meet, even at once."""
    return f"{secrets.token_hex(8)}/{filename}"


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points."""

    file = models.FileField(upload_to=upload_to_own_folder, max_length=255)

    def __str__(self):
        return posixpath.basename(self.file.name)
