"""Fill in what rows older than the uploader's migration 0004 lack: each file's size, its upload
time (when the storage last changed it) and an image's preview."""

import itertools
from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError

from myapp.configuration.storages import STORAGE_ERRORS, describe_error
from uploader.models import UploadedFile

# Files asked about at once: a bucket answers each request in tens of milliseconds, so a few
# in flight make it several times faster, without a burst of requests it could throttle.
WORKERS = 4
BATCH = 100


class Command(BaseCommand):
    help = (
        "Fill in the size, upload time and preview of files uploaded before the uploader "
        "described each file (rows without a size), asking the storage about "
        f"{WORKERS} files at once. A row whose file is missing is listed and left as it is. "
        "Run it once after migrating; running it again only retries what is left. Exits "
        "with status 1 when any row is left undescribed."
    )

    def handle(self, *args, **options):
        rows = UploadedFile.objects.filter(size__isnull=True).order_by("pk")
        described = left = 0
        with ThreadPoolExecutor(WORKERS) as pool:
            pending = rows.iterator(chunk_size=BATCH)
            while batch := list(itertools.islice(pending, BATCH)):
                for row, problem in zip(batch, pool.map(describe, batch), strict=True):
                    if problem:
                        self.stdout.write(f"{row.file.name} (UploadedFile {row.pk}): {problem}")
                        left += 1
                        continue
                    UploadedFile.objects.filter(pk=row.pk).update(
                        size=row.size, uploaded_at=row.uploaded_at, has_preview=row.has_preview
                    )
                    described += 1
        summary = f"Described {described} file(s)"
        if left:
            raise CommandError(f"{summary}; {left} left as they were (listed above).")
        self.stdout.write(f"{summary}.")


def describe(row):
    """Ask the storage about a row's file, and make its preview: what went wrong, if anything
    (run in a worker thread, it touches no database)."""
    storage, name = row.file.storage, row.file.name
    try:
        row.size = storage.size(name)
        row.uploaded_at = row.uploaded_at or storage.get_modified_time(name)
    except STORAGE_ERRORS as error:
        if isinstance(error, FileNotFoundError):  # as both storages raise it for a missing file
            return "missing from the storage (reconcile_media lists it too)"
        return f"the storage failed: {describe_error(error)}"
    row.has_preview = row.store_preview()
    return None
