"""A stored file's life, top to bottom, kept in step with its row.

1. store(): a new file is stored under its final name before its row is written (Django's
   FileField.pre_save calls it, through ManagedFieldFile.save). If the storage fails, whatever
   it may have kept under that name is removed again and the editor is told, in words that
   name the cause (StorageUnavailable): nothing is saved.
2. file_operations(): if the row, or the transaction around it, then fails (as late as its
   commit), the stored file is removed: no row will ever point at it.
3. delete_after_commit(): a deleted or replaced file (with the files derived from it) is
   listed as a PendingDeletion in the transaction that changes its row, and deleted from the
   storage only once that commits: a row without its file would be worse than a file without
   its row.
4. A deletion the storage refuses is logged, stays listed, and the admin tells the editor
   (failed_deletions); `manage.py reconcile_media --fix` finishes it later.

Each failure is logged with the file's name and the error's type and code, never its text.
"""

import contextvars
import logging
from contextlib import contextmanager
from types import SimpleNamespace

from django.db import transaction

from file_lifecycle.models import PendingDeletion, field_label
from myapp.configuration.storages import STORAGE_ERRORS, describe_error, error_code

logger = logging.getLogger(__name__)

STORAGE_DOWN = "The storage service may be down: try again in a moment."
# What the editor reads for a storage's own names of what went wrong (errnos, S3's codes).
CAUSES = {
    "ENOSPC EDQUOT": "The storage is full: ask whoever runs it to free space.",
    "EACCES EPERM": "The app may not write in the storage's folder: check who owns it.",
    "EROFS": "The storage's folder is read-only: check how its volume is mounted.",
    "ENOTDIR": "The storage's folder is not a folder: check that its volume is mounted.",
    "AccessDenied": "The bucket refused the credentials the right to store files: check the "
    "bucket's policy for DEFAULT_STORAGE_DSN's key.",
    "InvalidAccessKeyId SignatureDoesNotMatch": "The bucket refused the credentials: check the "
    "key and secret in DEFAULT_STORAGE_DSN.",
    "NoSuchBucket": "The bucket does not exist: check its name in DEFAULT_STORAGE_DSN.",
    "AccessControlListNotSupported": "The bucket does not allow ACLs: add acl=none to "
    "DEFAULT_STORAGE_DSN.",
}


class StorageUnavailable(Exception):
    """The storage could not keep an uploaded file; the message says so in a user's words."""


def store(storage, name, content, max_length):
    """Store a new file under its final name, chosen first so that a failure can undo it;
    return that name.

    The storage may have kept the file although it answered with an error (an answer lost on
    the way back, a time-out after the last byte): whatever the error, the name is removed
    again. If that fails too, reconcile_media finds the file.
    """
    name = storage.get_available_name(name, max_length=max_length)
    try:
        name = storage.save(name, content, max_length=max_length)
    except BaseException as error:
        log_failure("store", name, error)
        remove_quietly(storage, name)
        if isinstance(error, STORAGE_ERRORS):
            raise StorageUnavailable(unavailable_message(error)) from error
        raise
    if (operations := _current.get()) is not None:
        operations.stored.append((storage, name))
    return name


_current = contextvars.ContextVar("file_operations", default=None)


@contextmanager
def file_operations():
    """Remove again the files stored within, if it fails; nested, the outermost one does."""
    if (outer := _current.get()) is not None:
        yield outer
        return
    # What became of stored files within one change of rows (the admin's request, or one block
    # of a view): the files stored, and the (name, error) of each deletion refused.
    operations = SimpleNamespace(stored=[], failed_deletions=[])
    token = _current.set(operations)
    try:
        yield operations
    except BaseException:
        for storage, name in operations.stored:
            remove_quietly(storage, name)
        raise
    finally:
        _current.reset(token)


def delete_after_commit(field, name, *derived):
    """List a field's stored file, and the files derived from it (its preview, say), for
    deletion in the current transaction, and delete them from the storage once that commits,
    never before; if the storage fails then, what is left stays listed, and the editor is told
    of the file."""
    label = field_label(field)
    pending = PendingDeletion.objects.bulk_create(
        PendingDeletion(name=each, field=label) for each in (name, *derived)
    )
    operations = _current.get()

    def delete():
        for deletion in pending:
            try:
                field.storage.delete(deletion.name)
            except STORAGE_ERRORS as error:
                log_failure("delete", deletion.name, error)
                if operations is not None:
                    operations.failed_deletions.append((name, error))
                return
            deletion.delete()

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
    code = error_code(error)
    cause = next((cause for codes, cause in CAUSES.items() if code in codes.split()), STORAGE_DOWN)
    return f"The file could not be stored ({type(error).__name__}), and nothing was saved. {cause}"
