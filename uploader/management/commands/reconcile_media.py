"""Compare the stored files with the rows that point at them, and repair what can be repaired."""

import datetime
import os
import posixpath
from pathlib import Path

from django.core.files.storage import FileSystemStorage
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from myapp.configuration.storages import STORAGE_ERRORS, describe_error
from uploader.models import PendingDeletion, UploadedFile

# Long enough for any upload in progress to have written its row: its file is stored first.
DEFAULT_GRACE_PERIOD = 3600


class Command(BaseCommand):
    help = (
        "List stored files that no row points at (orphans) and rows whose file is missing, "
        "in the storage DEFAULT_STORAGE_DSN names. With --fix, remove the orphans older "
        "than the grace period and finish pending deletions; missing files can only be "
        "reported. Exits with status 1 when anything found was left unfixed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="remove orphaned files and empty folders"
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
        storage = UploadedFile._meta.get_field("file").storage
        # The storage is listed before the rows are read: a file stored meanwhile is young,
        # and its row, if committed meanwhile, is seen.
        try:
            stored, empty_folders = list_storage(storage)
        except STORAGE_ERRORS as error:
            raise CommandError(f"Could not list the storage: {describe_error(error)}") from None
        total = len(stored)
        rows = dict(UploadedFile.objects.values_list("file", "pk"))
        pending = list(PendingDeletion.objects.order_by("pk"))
        unfixed = 0

        for deletion in pending:
            if deletion.name in rows:  # stored again under the same name since: keep it
                deletion.delete()
                continue
            stored.pop(deletion.name, None)
            if not fix:
                self.stdout.write(f"Deleted row's file not yet removed: {deletion.name}")
                unfixed += 1
            elif self._delete(storage, deletion.name, "deleted row's file"):
                deletion.delete()
            else:
                unfixed += 1

        cutoff = timezone.now() - datetime.timedelta(seconds=grace_period)
        orphans = sorted(name for name in stored if name not in rows)
        for name in orphans:
            modified = stored[name]
            if not fix:
                self.stdout.write(
                    f"Orphaned file (no row): {name}, stored {modified:%Y-%m-%d %H:%M:%S} UTC"
                )
                unfixed += 1
            elif modified > cutoff:
                self.stdout.write(
                    f"Kept orphaned file {name}: stored {modified:%Y-%m-%d %H:%M:%S} UTC, "
                    f"within the grace period of {grace_period} s (maybe an upload in progress)"
                )
                unfixed += 1
            elif not self._delete(storage, name, "orphaned file (no row)"):
                unfixed += 1

        missing = [(pk, name) for name, pk in sorted(rows.items()) if name not in stored]
        for pk, name in missing:
            try:
                if storage.exists(name):  # stored after the listing
                    continue
            except STORAGE_ERRORS as error:
                self.stdout.write(f"Could not check {name}: {describe_error(error)}")
            self.stdout.write(
                f"Missing file: UploadedFile {pk} points at {name}, which is not in the "
                "storage (restore it from a backup, or delete the row)"
            )
            unfixed += 1

        for folder, modified in empty_folders:
            if modified > cutoff:  # maybe made for an upload in progress
                continue
            if not fix:
                self.stdout.write(f"Empty folder: {folder}")
                unfixed += 1
                continue
            try:
                folder.rmdir()
            except OSError as error:  # a file arrived meanwhile
                self.stdout.write(f"Could not remove folder {folder}: {describe_error(error)}")
                unfixed += 1
            else:
                self.stdout.write(f"Removed empty folder {folder}")

        summary = f"{len(rows)} rows, {total} stored files"
        if unfixed:
            raise CommandError(f"{summary}: {unfixed} problem(s) left unfixed.")
        self.stdout.write(f"{summary}: rows and stored files match.")

    def _delete(self, storage, name, what):
        try:
            storage.delete(name)
        except STORAGE_ERRORS as error:
            self.stdout.write(f"Could not remove {what} {name}: {describe_error(error)}")
            return False
        self.stdout.write(f"Removed {what} {name}")
        return True


def list_storage(storage):
    """Every stored file's name and the local storage's empty folders (bottom up), each with
    its time of last change. One listing request per 1,000 files on S3, none per file."""
    files, empty_folders = {}, []
    if not isinstance(storage, FileSystemStorage):  # S3
        # The DSN's folder, if any, as "media" or "media/": keys start with "media/".
        prefix = posixpath.join(storage.location, "")
        for item in storage.bucket.objects.filter(Prefix=prefix):
            files[item.key.removeprefix(prefix)] = item.last_modified
        return files, empty_folders
    root = Path(storage.location)
    empty = set()
    for folder, subfolders, names in os.walk(root, topdown=False):
        folder = Path(folder)
        for name in names:
            files[(folder / name).relative_to(root).as_posix()] = modified(folder / name)
        if folder != root and not names and {folder / sub for sub in subfolders} <= empty:
            empty.add(folder)
            empty_folders.append((folder, modified(folder)))
    return files, empty_folders


def modified(path):
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
