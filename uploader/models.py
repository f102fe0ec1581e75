import posixpath
import secrets

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

# What a storage raises when it cannot keep a file: a full or read-only disk, a bucket that
# is unreachable, refuses the credentials, or rejects the upload's ACL.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, S3UploadFailedError)


class StorageUnavailable(Exception):
    """The storage could not keep an uploaded file; the message says so in a user's words."""


def upload_to_own_folder(uploaded_file, filename):
    """Give each upload a folder of its own, so same-named files never meet, even at once."""
    return f"{secrets.token_hex(8)}/{filename}"


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points."""

    file = models.FileField(upload_to=upload_to_own_folder, max_length=255)

    def __str__(self):
        return posixpath.basename(self.file.name)

    def save(self, *args, **kwargs):
        """Store a new file, then write the row; a file whose row cannot be written is removed."""
        storing = bool(self.file) and not self.file._committed
        replaced = self._stored_name() if storing and self.pk else None
        try:
            super().save(*args, **kwargs)
        except BaseException as error:
            if storing and self.file._committed:
                self.file.storage.delete(self.file.name)
            if isinstance(error, STORAGE_ERRORS):
                raise StorageUnavailable(storage_error_message(error)) from error
            raise
        if replaced and replaced != self.file.name:
            delete_on_commit(self.file.storage, replaced)

    def _stored_name(self):
        return UploadedFile.objects.filter(pk=self.pk).values_list("file", flat=True).first()


@receiver(post_delete, sender=UploadedFile)
def delete_stored_file(sender, instance, **kwargs):
    if instance.file:
        delete_on_commit(instance.file.storage, instance.file.name)


def delete_on_commit(storage, name):
    """Delete a stored file once the deletion of its row is committed, never before.

    If the storage fails then, the error is logged and the file stays: a row without its
    file would be worse than a file without its row.
    """
    transaction.on_commit(lambda: storage.delete(name), robust=True)


def storage_error_message(error):
    message = f"The file could not be stored ({type(error).__name__}), and nothing was saved."
    if "AccessControlListNotSupported" in str(error):
        return f"{message} The bucket does not allow ACLs: add acl=none to DEFAULT_STORAGE_DSN."
    return f"{message} The storage service may be down: try again in a moment."
