"""manage.py copy_media SOURCE_DSN TARGET_DSN: every media file from one storage to another."""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from myapp.configuration.environment import ConfigurationError
from myapp.configuration.storages import STORAGE_ERRORS, S3Storage, describe_error
from transfer.media import Bucket, Folder, copy_file, open_storage

# Files copied at once, and S3 requests in flight: boto3's own default concurrency.
JOBS = 10


class Command(BaseCommand):
    help = (
        "Copy every media file from one storage DSN (file:// or s3://, or 'default' for "
        "DEFAULT_STORAGE_DSN) to another, skipping files already identical at the target. "
        "The source is never changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="SOURCE_DSN")
        parser.add_argument("target", metavar="TARGET_DSN")
        parser.add_argument("--dry-run", action="store_true", help="list what would change")
        parser.add_argument(
            "--delete", action="store_true", help="remove target files missing at the source"
        )
        parser.add_argument(
            "--verify", action="store_true", help="re-read the target and compare checksums"
        )
        parser.add_argument("--jobs", type=int, default=JOBS, help="transfers at once")

    def handle(self, source, target, dry_run, delete, verify, jobs, **options):
        started = time.monotonic()
        source = self.open(source, "SOURCE_DSN")
        target = self.open(target, "TARGET_DSN")
        if isinstance(source, Folder) and not source.root.is_dir():
            raise CommandError(
                f"{source.described} names the folder {source.root}, which does not exist: "
                "correct the path"
            )
        if source.same_as(target):
            raise CommandError(
                f"{source.described} and {target.described} are the same storage: "
                "name two different ones"
            )
        with ExitStack() as stack:
            for storage in (source, target):
                if isinstance(storage, Bucket):
                    stack.enter_context(storage.transfers(jobs))
            pool = stack.enter_context(ThreadPoolExecutor(jobs))
            hashers = stack.enter_context(ThreadPoolExecutor(os.cpu_count()))
            failures = self.copy(source, target, pool, hashers, dry_run, delete, verify)
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
        if failures:
            for key, reason in failures:
                self.stderr.write(f"Failed: {key}: {reason}")
            raise CommandError(
                f"{len(failures)} file(s) failed (listed above): fix what each says, then run "
                "the same command again (files already copied are skipped)"
            )

    def open(self, dsn, name):
        try:
            return open_storage(dsn, name)
        except ConfigurationError as error:
            raise CommandError(error) from None
        except Exception as error:
            # Its type only, as at start: the error's text may quote the DSN's secret.
            raise CommandError(
                f"{name} cannot be used by the storage library ({type(error).__name__}): check "
                f"it against e.g. {S3Storage.EXAMPLE}"
            ) from None

    def list(self, storage):
        try:
            return storage.entries()
        except STORAGE_ERRORS as error:
            raise CommandError(
                f"{storage.described} cannot be listed ({describe_error(error)}): check that it "
                "exists and can be reached, and its credentials"
            ) from None

    def copy(self, source, target, pool, hashers, dry_run, delete, verify):
        """Copy what differs, delete what --delete asks for; the failures, as (key, reason)."""
        wanted = self.list(source)
        hashing_ahead = isinstance(source, Folder) and isinstance(target, Bucket)
        if hashing_ahead:
            source.hash_ahead(hashers, wanted.values())
        present = self.list(target)
        if hashing_ahead:
            # A first run to a bucket needs no file's MD5 to compare, nor to send a file whole.
            source.keep_hashes(
                {
                    key
                    for key, entry in wanted.items()
                    if getattr(present.get(key), "size", -1) == entry.size
                }
            )
        failures = []

        def unchanged(key):
            entry, existing = wanted[key], present.get(key)
            if existing is None or existing.size != entry.size:
                return False
            try:
                return source.identical(entry, existing, target)
            except STORAGE_ERRORS:
                return False  # copied again, which says what is wrong if it still is

        same = dict(zip(wanted, pool.map(unchanged, wanted), strict=True))
        copies = [wanted[key] for key, identical in same.items() if not identical]
        removals = sorted(set(present) - set(wanted)) if delete else []
        size = sum(entry.size for entry in copies)
        self.stdout.write(
            f"{source.described} -> {target.described}: {len(wanted)} file(s) at the source, "
            f"{len(wanted) - len(copies)} already identical at the target, {len(copies)} to copy "
            f"({filesizeformat(size)})"
            + (f", {len(removals)} to delete at the target" if delete else "")
        )
        if dry_run:
            for entry in copies:
                state = "changed" if entry.key in present else "new"
                self.stdout.write(f"would copy {entry.key} ({state}, {entry.size} bytes)")
            for key in removals:
                self.stdout.write(f"would delete {key}")
            return failures
        target.remove_leftovers()
        failures += self.run(
            pool,
            copies,
            size,
            "copied",
            lambda entry, callback: copy_file(source, target, entry, callback),
        )
        if hashing_ahead:
            self.save_hashes(source, target, copies, failures)
        if removals:
            self.stdout.write(f"Deleting {len(removals)} file(s) missing from the source")
            failures += self.run(pool, removals, 0, "deleted", lambda key, _: target.delete(key))
        if verify:
            failed = {key for key, _ in failures}
            checked = [key for key in wanted if key not in failed]

            def compare(key, callback):
                if source.read_md5(key) != target.read_md5(key):
                    raise ValueError("differs at the target")
                callback(wanted[key].size)

            size = sum(wanted[key].size for key in checked)
            failures += self.run(pool, checked, size, "verified", compare)
        return failures

    def save_hashes(self, source, target, copies, failures):
        """Keep the folder's MD5s for the next run, with those of the files sent whole, read
        back from the bucket's listing (their ETags): a rerun then reads no unchanged file."""
        failed = {key for key, _ in failures}
        try:
            listed = target.entries() if len(copies) > len(failed) else {}
        except STORAGE_ERRORS:
            listed = {}  # the next run reads the files again, and that is all
        sent = {
            entry.key: listed[entry.key].etag
            for entry in copies
            if entry.key not in failed and entry.key in listed and "-" not in listed[entry.key].etag
        }
        source.save_hashes(sent)

    def run(self, pool, items, size, done, work):
        """Do work(item, callback) for every item, in the pool, with a progress bar on a terminal
        (bytes, files, rate) or a line per item otherwise; the failures, as (key, reason)."""
        failures, finished = [], []
        on_terminal = self.stdout.isatty()
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            disable=not on_terminal,
        )

        def one(item):
            key = getattr(item, "key", item)
            try:
                work(item, lambda count: progress.advance(task, count))
            except (*STORAGE_ERRORS, ValueError) as error:
                reason = str(error) if type(error) is ValueError else describe_error(error)
                failures.append((key, reason))
                return
            finished.append(key)
            progress.update(task, description=f"{done} {len(finished)}/{len(items)} files")
            if not on_terminal:
                self.stdout.write(f"{done} {key}")

        with progress:
            task = progress.add_task(f"{done} 0/{len(items)} files", total=size)
            list(pool.map(one, items))
        self.stdout.write(
            f"{done.capitalize()} {len(finished)} of {len(items)} file(s)"
            + (f" ({filesizeformat(size)})" if size else "")
        )
        return failures
