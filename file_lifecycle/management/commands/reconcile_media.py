"""Compare the stored files with the rows that point at them, in each storage that a file field
of an installed model uses, and repair what can be repaired."""

import datetime
import posixpath
from collections import defaultdict
from functools import partial
from pathlib import Path

from django.apps import apps
from django.core.files.storage import FileSystemStorage
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.utils import timezone

from file_lifecycle.fields import LAYOUT, OWN_FOLDER, ManagedFileField
from file_lifecycle.models import PendingDeletion, field_label
from myapp.configuration.storages import STORAGE_ERRORS, describe_error

# Long enough for any upload in progress to have written its row: its file is stored first.
DEFAULT_GRACE_PERIOD = 3600


class Command(BaseCommand):
    help = (
        "List stored files that no row points at (orphans) and rows whose file is missing, "
        "in every storage that a file field uses. With --fix, remove the orphans older than "
        "the grace period, with what interrupted uploads left, and finish pending deletions; "
        "missing files can only be reported. Only names in the app's layout (a folder of 16 "
        "hex digits, then the name) are ever removed: anything else is listed and left "
        "alone. Exits with status 1 when anything found was left unfixed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix",
            action="store_true",
            help="remove orphaned files and empty folders, abort incomplete multipart uploads",
        )
        parser.add_argument(
            "--grace-period",
            type=int,
            default=DEFAULT_GRACE_PERIOD,
            metavar="SECONDS",
            help="leave orphans younger than this alone: they may be uploads in progress "
            f"(default {DEFAULT_GRACE_PERIOD}; 0 when the app is stopped)",
        )

    def handle(self, *args, fix, grace_period, **options):
        self.fix, self.grace_period = fix, grace_period
        self.cutoff = timezone.now() - datetime.timedelta(seconds=grace_period)
        self.unfixed = self.rows = self.stored = 0
        every_field = (field for model in apps.get_models() for field in model._meta.fields)
        fields = {field_label(f): f for f in every_field if isinstance(f, models.FileField)}
        # Fields whose storages keep files in the same place are listed once, so that neither
        # takes the other's files for orphans: place -> (fields, pending deletions).
        places, where = defaultdict(lambda: ([], [])), {}
        for label, field in fields.items():
            where[label] = getattr(field.storage, "bucket_name", None), field.storage.location
            places[where[label]][0].append(field)
        for deletion in PendingDeletion.objects.order_by("pk"):
            if deletion.field in fields:
                places[where[deletion.field]][1].append(deletion)
            else:
                self.problem(
                    f"Deleted row's file not yet removed: {deletion.name}, of {deletion.field}, "
                    "a field that no longer exists (remove the file by hand, then the record)"
                )
        for place_fields, pending in places.values():
            self.reconcile(place_fields[0].storage, place_fields, pending)
        summary = f"{self.rows} rows, {self.stored} stored files"
        if self.unfixed:
            raise CommandError(f"{summary}: {self.unfixed} problem(s) left unfixed.")
        self.stdout.write(f"{summary}: rows and stored files match.")

    def reconcile(self, storage, fields, pending):
        """Reconcile one storage with the rows of its fields."""
        # The storage is listed before the rows are read: a file stored meanwhile is young,
        # and its row, if committed meanwhile, is seen.
        try:
            stored = list_files(storage)
        except STORAGE_ERRORS as error:
            raise CommandError(f"Could not list the storage: {describe_error(error)}") from None
        rows, needed = {}, set()  # each row's file; and those files with their derived ones
        for field in fields:
            for name, pk in field.model._default_manager.values_list(field.attname, "pk"):
                if name:
                    rows[name] = f"{field.model.__name__} {pk}"
                    needed.update(names_of(field, name))
        self.rows, self.stored = self.rows + len(rows), self.stored + len(stored)

        for deletion in pending:
            name = deletion.name
            if name in needed:  # stored again under the same name since: keep it
                deletion.delete()
                continue
            stored.pop(name, None)
            if not self.fix:
                self.problem(f"Deleted row's file not yet removed: {name}")
            elif self.remove("deleted row's file", name, partial(storage.delete, name)):
                deletion.delete()

        orphans = sorted(stored.keys() - needed)
        whole_bucket = not isinstance(storage, FileSystemStorage) and not storage.location
        if whole_bucket and not all(LAYOUT.fullmatch(name) for name in orphans):
            self.stdout.write(
                f"Listed the whole bucket {storage.bucket_name}, as its DSN names no folder: "
                "the files there that are not in the app's layout are left alone."
            )
        for name in orphans:
            self.settle("orphaned file", name, stored[name], partial(storage.delete, name))
        try:
            for what, name, modified, remove in list_interrupted_uploads(storage):
                self.settle(what, name, modified, remove)
        except STORAGE_ERRORS as error:
            self.problem(f"Could not list interrupted uploads: {describe_error(error)}")

        for name in sorted(rows.keys() - stored.keys()):
            try:
                if storage.exists(name):  # stored after the listing
                    continue
            except STORAGE_ERRORS as error:
                self.stdout.write(f"Could not check {name}: {describe_error(error)}")
            self.problem(
                f"Missing file: {rows[name]} points at {name}, which is not in the storage "
                "(restore it from a backup, or delete the row)"
            )

    def settle(self, what, name, modified, remove):
        """List something of the app's that no row needs, or with --fix remove it once older
        than the grace period; leave anything outside the app's layout alone."""
        if not LAYOUT.fullmatch(name) and not OWN_FOLDER.fullmatch(name.rstrip("/")):
            self.stdout.write(f"Left alone, not in the app's layout: {what} {name}")
        elif not self.fix:
            self.problem(f"{what.capitalize()}: {name}, dated {modified:%Y-%m-%d %H:%M:%S} UTC")
        elif modified > self.cutoff:
            self.problem(
                f"Kept {what} {name}: dated {modified:%Y-%m-%d %H:%M:%S} UTC, within the grace "
                f"period of {self.grace_period} s (maybe an upload in progress)"
            )
        else:
            self.remove(what, name, remove)

    def remove(self, what, name, remove):
        try:
            remove()
        except STORAGE_ERRORS as error:
            self.problem(f"Could not remove {what} {name}: {describe_error(error)}")
            return False
        self.stdout.write(f"Removed {what} {name}")
        return True

    def problem(self, message):
        self.stdout.write(message)
        self.unfixed += 1


def names_of(field, name):
    """A row's stored file, and the files derived from it (ManagedFileField's derived): a
    plain FileField has none."""
    return [name, *field.derived_names(name)] if isinstance(field, ManagedFileField) else [name]


def list_files(storage):
    """Every stored file's name, with its time of last change: one listing request per 1,000
    files on S3, none per file."""
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.location)
        files = [path for path in root.rglob("*") if path.is_file()]
        return {path.relative_to(root).as_posix(): modified(path) for path in files}
    prefix = posixpath.join(storage.location, "")  # "media" or "media/": keys start "media/"
    objects = storage.bucket.objects.filter(Prefix=prefix)
    return {item.key.removeprefix(prefix): item.last_modified for item in objects}


def list_interrupted_uploads(storage):
    """What an upload cut short leaves besides a file: (what, name, time, removal) of each
    empty folder of a local storage, or incomplete multipart upload on S3 (billed, but in no
    listing of files)."""
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.location)
        return [
            ("empty folder", f"{path.name}/", modified(path), path.rmdir)
            for path in root.glob("*/")  # folders only
            if not any(path.iterdir())
        ]
    prefix = posixpath.join(storage.location, "")
    uploads = storage.bucket.multipart_uploads.filter(Prefix=prefix)
    what = "incomplete multipart upload"
    return [(what, up.key.removeprefix(prefix), up.initiated, up.abort) for up in uploads]


def modified(path):
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
