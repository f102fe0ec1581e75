import posixpath
import secrets

from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from uploader import lifecycle


def upload_to_own_folder(uploaded_file, filename):
    """Give each upload a folder of its own, so same-named files never meet, even at once."""
    return f"{secrets.token_hex(8)}/{filename}"


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points."""

    file = models.FileField(upload_to=upload_to_own_folder, max_length=255)

    def __str__(self):
        return posixpath.basename(self.file.name)

    def save(self, *args, **kwargs):
        """Store a new file, then write the row; the file's whole life: uploader/lifecycle.py."""
        with lifecycle.file_operations():
            replaced = lifecycle.store(self, "file")
            super().save(*args, **kwargs)
        if replaced:
            lifecycle.delete_after_commit(self.file.storage, replaced)


class PendingDeletion(models.Model):
    """A stored file whose row is deleted, until the file is deleted from the storage too.

    It is written in the transaction that deletes the row, so one never goes without the
    other; `manage.py reconcile_media --fix` finishes what a storage outage or a crash left.
    """

    name = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


@receiver(post_delete, sender=UploadedFile)
def delete_stored_file(sender, instance, **kwargs):
    if instance.file:
        lifecycle.delete_after_commit(instance.file.storage, instance.file.name)
