import posixpath

from django.db import models

from file_lifecycle.fields import ManagedFileField


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points; its whole
    life beside its row: file_lifecycle/lifecycle.py."""

    file = ManagedFileField()

    def __str__(self):
        return posixpath.basename(self.file.name)
