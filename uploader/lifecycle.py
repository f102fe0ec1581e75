"""A stored file's life, top to bottom, kept in step with its row.

1. store(): a new upload is stored under its final name before its row is written. If the
   storage fails, whatever it may have kept under that name is removed again and the editor
   is told (StorageUnavailable): nothing is saved.
2. file_operations(): if the row, or the transaction around it, then fails (as late as its
   commit), the stored file is removed: no row will ever point at it.
3. delete_after_commit(): a deleted or replaced file is listed as a PendingDeletion in the
   transaction that changes its row, and deleted from the storage only once that commits: a
   row without its file would be worse than a file without its row.
4. A deletion the storage refuses is logged, stays listed, and the admin tells the editor
   (FileOperations.failed_deletions); `manage.py reconcile_media --fix` finishes it later.

Each failure is logged with the file's name and the error's type, never the error's text.
"""

import contextvars
import logging
from contextlib import contextmanager

from django.apps import apps
from django.db import transaction

from myapp.configuration.storages import STORAGE_ERRORS, describe_error

logger = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The storage could not keep an uploaded file; the message says so in a user's words."""


def store(instance, field_name):
    """Store a model's new file under its final name, chosen first so that a failure can undo
    it, and return the name of the file it replaces, if any.

    The storage may have kept the file although it answered with an error (an answer lost on
    the way back, a time-out after the last byte): whatever the error, the name is removed
    again. If that fails too, reconcile_media finds the file.
    """
    file = getattr(instance, field_name)
    # Django's own mark of an upload not yet stored, which FileField.pre_save reads too.
    if not file or file._committed:
        return None
    replaced = None
    if instance.pk:
        rows = type(instance)._default_manager.filter(pk=instance.pk)
        replaced = rows.values_list(field_name, flat=True).first()
    field, storage = file.field, file.storage
    name = field.generate_filename(instance, file.name)
    name = storage.get_available_name(name, max_length=field.max_length)
    try:
        name = storage.save(name, file.file, max_length=field.max_length)
    except BaseException as error:
        log_failure("store", name, error)
        remove_quietly(storage, name)
        if isinstance(error, STORAGE_ERRORS):
            raise StorageUnavailable(unavailable_message(error)) from error
        raise
    file.name = name
    file._committed = True
    operations = _current.get()
    if operations is not None:
        operations.stored.append((storage, name))
    return replaced if replaced != name else None


class FileOperations:
    """What became of stored files within one change of rows (the admin's request, or one
    save): the files stored, and the (name, error) of each deletion the storage refused."""

    def __init__(self):
        self.stored = []
        self.failed_deletions = []


_current = contextvars.ContextVar("file_operations", default=None)


@contextmanager
def file_operations():
    """Remove again the files stored within, if it fails; nested, the outermost one does."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    operations = FileOperations()
    token = _current.set(operations)
    try:
        yield operations
    except BaseException:
        for storage, name in operations.stored:
            remove_quietly(storage, name)
        raise
    finally:
        _current.reset(token)


def delete_after_commit(storage, name):
    """List a stored file for deletion in the current transaction, and delete it from the
    storage once that commits, never before; if the storage fails then, it stays listed."""
    pending = apps.get_model("uploader", "PendingDeletion").objects.create(name=name)
    operations = _current.get()

    def delete():
        try:
            storage.delete(name)
        except STORAGE_ERRORS as error:
            log_failure("delete", name, error)
            if operations is not None:
                operations.failed_deletions.append((name, error))
            return
        pending.delete()

    transaction.on_commit(delete, robust=True)


def remove_quietly(storage, name):
    """Remove a file that must not stay; if the storage fails, log it and carry on."""
    try:
        storage.delete(name)
    except STORAGE_ERRORS as error:
        log_failure("remove", name, error)
        logger.error("%s may be left in the storage: reconcile_media --fix removes it", name)


def log_failure(action, name, error):
    logger.error("Could not %s %s in the storage: %s", action, name, describe_error(error))


def unavailable_message(error):
    message = f"The file could not be stored ({type(error).__name__}), and nothing was saved."
    if "AccessControlListNotSupported" in str(error):
        return f"{message} The bucket does not allow ACLs: add acl=none to DEFAULT_STORAGE_DSN."
    return f"{message} The storage service may be down: try again in a moment."
