import contextvars
import logging
import posixpath
import secrets
from contextlib import contextmanager

from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from uploader.errors import STORAGE_ERRORS, describe_error

logger = logging.getLogger(__name__)

# The files whose deletion failed while handling the current request, for the admin to say so.
_failed_deletions = contextvars.ContextVar("failed_deletions", default=None)


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
        if storing:
            self._store_file()
        try:
            super().save(*args, **kwargs)
        except BaseException:
            if storing:
                remove_quietly(self.file.storage, self.file.name)
            raise
        if replaced and replaced != self.file.name:
            delete_once_committed(self.file.storage, replaced)

    def _store_file(self):
        """Store the new file under its final name, chosen first, so that a failure can undo it.

        The storage may have kept the file although it answered with an error (an answer
        lost on the way back, a time-out after the last byte): whatever the error, the name
        is removed again. If that fails too, reconcile_media finds the file.
        """
        field, storage = self.file.field, self.file.storage
        name = field.generate_filename(self, self.file.name)
        name = storage.get_available_name(name, max_length=field.max_length)
        try:
            name = storage.save(name, self.file.file, max_length=field.max_length)
        except BaseException as error:
            log_storage_failure("store", name, error)
            remove_quietly(storage, name)
            if isinstance(error, STORAGE_ERRORS):
                raise StorageUnavailable(storage_error_message(error)) from error
            raise
        self.file.name = name
        self.file._committed = True

    def _stored_name(self):
        return UploadedFile.objects.filter(pk=self.pk).values_list("file", flat=True).first()


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
        delete_once_committed(instance.file.storage, instance.file.name)


def delete_once_committed(storage, name):
    """Delete a stored file once the deletion of its row is committed, never before.

    A row without its file would be worse than a file without its row. If the storage
    fails then, the failure is logged, the file and its PendingDeletion stay, and the admin
    says so (deletion_failures).
    """
    pending = PendingDeletion.objects.create(name=name)
    failures = _failed_deletions.get()

    def delete():
        try:
            storage.delete(name)
        except STORAGE_ERRORS as error:
            log_storage_failure("delete", name, error)
            if failures is not None:
                failures.append((name, error))
            return
        PendingDeletion.objects.filter(pk=pending.pk).delete()

    transaction.on_commit(delete, robust=True)


@contextmanager
def deletion_failures():
    """Collect the (name, error) of each stored file that could not be deleted, in a list."""
    failures = []
    token = _failed_deletions.set(failures)
    try:
        yield failures
    finally:
        _failed_deletions.reset(token)


def remove_quietly(storage, name):
    """Remove a file that must not stay; if the storage fails, log it and carry on."""
    try:
        storage.delete(name)
    except STORAGE_ERRORS as error:
        log_storage_failure("remove", name, error)
        logger.error("%s may be left in the storage: reconcile_media --fix removes it", name)


def log_storage_failure(action, name, error):
    logger.error("Could not %s %s in the storage: %s", action, name, describe_error(error))


def storage_error_message(error):
    message = f"The file could not be stored ({type(error).__name__}), and nothing was saved."
    if "AccessControlListNotSupported" in str(error):
        return f"{message} The bucket does not allow ACLs: add acl=none to DEFAULT_STORAGE_DSN."
    return f"{message} The storage service may be down: try again in a moment."
