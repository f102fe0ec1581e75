from django.db import models


class PendingDeletion(models.Model):
    """A stored file whose row is deleted (or points at another file now), until the file is
    deleted from the storage too.

    It is written in the transaction that changes the row, so one never goes without the
    other; `manage.py reconcile_media --fix` finishes what a storage outage or a crash left.
    """

    name = models.CharField(max_length=255)
    # The file field it was stored by, e.g. "uploader.UploadedFile.file": its storage.
    field = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


def field_label(field):
    return f"{field.model._meta.label}.{field.name}"
