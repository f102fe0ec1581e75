from django.db import models


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points."""

    file = models.FileField()

    def __str__(self):
        return self.file.name
