"""Media storages as copy_media sees them: a local folder or an S3 bucket, named by a storage DSN,
listed as keys (paths relative to the storage's root) with sizes and checksums.

Copies go through boto3's transfer manager (S3Transfer: multipart for large files, parts and
files sent on one shared pool of threads) and through temporary files that are renamed into
place, so that a copy that is stopped never leaves a partial file under its final name.
"""

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from boto3.s3.transfer import S3Transfer, TransferConfig
from django.conf import settings
from django_storage_url import get_storage

from myapp.configuration.environment import mask_password
from myapp.configuration.storages import PART_SIZE, media_location

# What copy_media writes under a folder before renaming it into place (boto3 adds a suffix of
# its own to a download's): left by a copy that was stopped, removed by the next.
TEMPORARY_PREFIX = ".copy_media-"
# The whole content's MD5, kept with each object copy_media sends to a bucket in parts, as the
# ETag of such an object is not its MD5.
MD5_METADATA = "md5"
# How S3 and boto3 size the parts of an upload: a whole number of MiB.
MIB = 2**20
READ_SIZE = MIB


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    etag: str = ""  # a bucket's, without its quotes


def open_storage(dsn, name):
    """The Folder or Bucket a storage DSN names ('default': DEFAULT_STORAGE_DSN), checked by the
    rules the settings apply; name is what messages call it."""
    if dsn == "default":
        dsn = settings.DEFAULT_STORAGE_DSN
    folder, _ = media_location(dsn, name, served=False)
    described = f"{name}={mask_password(dsn)!r}"
    return Folder(folder, described) if folder else Bucket(dsn, described)


def file_md5(path, start=0, length=None):
    """The hex MD5 of a file, or of length bytes of it from start, read a piece at a time."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        file.seek(start)
        remaining = math.inf if length is None else length
        while remaining and (piece := file.read(min(READ_SIZE, remaining))):
            digest.update(piece)
            remaining -= len(piece)
    return digest.hexdigest()


def hash_cache(root):
    """Where a folder's MD5s are kept between runs: the user's cache folder (never the source,
    which copy_media does not write to), one file per folder."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copy_media"
    return base / f"{hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()}.json"


def read_hash_cache(root):
    try:
        return json.loads(hash_cache(root).read_text())
    except (OSError, RuntimeError, ValueError):  # none yet, no home folder, or damaged
        return {}


def write_hash_cache(root, hashes):
    """Keep hashes for the next run; where the cache cannot be written, the next run reads the
    files again, and that is all."""
    try:
        path = hash_cache(root)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f"{TEMPORARY_PREFIX}{path.name}")
        temporary.write_text(json.dumps(hashes))
        os.replace(temporary, path)
    except (OSError, RuntimeError):
        pass


def multipart_etag(path, size, etag):
    """The ETag S3 would give the file uploaded in as many parts as etag says ("MD5-PARTS"):
    the MD5 of the parts' MD5s. The parts' size is not kept: it is tried as boto3 sends them
    (8 MiB), as the project's storage does (PART_SIZE), and as the smallest whole number of MiB
    that makes that many parts; the first that gives etag, else the last."""
    parts = int(etag.rpartition("-")[2])
    smallest = max(math.ceil(size / parts / MIB), 1) * MIB
    tried = ""
    for part_size in dict.fromkeys([8 * MIB, PART_SIZE, smallest]):
        if math.ceil(size / part_size) == parts:
            digests = b"".join(
                bytes.fromhex(file_md5(path, start, part_size))
                for start in range(0, size, part_size)
            )
            tried = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{parts}"
            if tried == etag:
                break
    return tried


class Folder:
    """A local folder: keys are its files' paths below it, with / between folders."""

    def __init__(self, root, described):
        self.root = Path(root)
        self.described = described
        # Each file's (size, mtime, inode) as listed, MD5s known from the last run, and the
        # hashing under way.
        self.stamps, self.known, self.hashes = {}, {}, {}

    def same_as(self, other):
        return isinstance(other, Folder) and self.root.resolve() == other.root.resolve()

    def entries(self):
        """Every file below the folder (none if it does not exist yet)."""
        found = {}
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                if name.startswith(TEMPORARY_PREFIX):
                    continue
                key = path.relative_to(self.root).as_posix()
                stat = path.stat()
                found[key] = Entry(key, stat.st_size)
                self.stamps[key] = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        return found

    def remove_leftovers(self):
        """Remove the temporary files of a copy to this folder that was stopped."""
        for folder, _, names in os.walk(self.root):
            for name in names:
                if name.startswith(TEMPORARY_PREFIX):
                    Path(folder, name).unlink(missing_ok=True)

    def path(self, key):
        return self.root / key

    def hash_ahead(self, pool, entries):
        """Start hashing files in the pool (a thread per core), for md5() to wait for: a rerun
        to a bucket compares every file's MD5, and the files can be read while the bucket is
        listed. keep_hashes() then cancels what a first run does not need. A file unchanged
        since the last run (same size, modification time and inode) is not read again: its MD5
        is the one save_hashes() kept."""
        kept = read_hash_cache(self.root)
        for entry in entries:
            stamp, md5 = kept.get(entry.key, [None, None])
            if stamp == self.stamps[entry.key]:
                self.known[entry.key] = md5
            else:
                self.hashes[entry.key] = pool.submit(file_md5, self.path(entry.key))

    def keep_hashes(self, keys):
        """Cancel the hashing, if not started yet, of every file but keys'."""
        for key, future in self.hashes.items():
            if key not in keys:
                future.cancel()

    def save_hashes(self, sent):
        """Keep the MD5s known now for the next run: those hashed, and sent, each file's MD5
        that a bucket gave as the ETag of the object it was sent to whole, if the file is as
        it was listed (not written to meanwhile)."""
        known = dict(self.known)
        for key, future in self.hashes.items():
            # Not needed (cancelled), or not readable: the file's copy says why.
            if not future.cancelled() and not future.exception():
                known[key] = future.result()
        for key, etag in sent.items():
            with contextlib.suppress(OSError):  # a file removed meanwhile: nothing to keep
                stat = self.path(key).stat()
                if [stat.st_size, stat.st_mtime_ns, stat.st_ino] == self.stamps[key]:
                    known[key] = etag
        write_hash_cache(self.root, {key: [self.stamps[key], md5] for key, md5 in known.items()})

    def md5(self, entry):
        if entry.key in self.known:
            return self.known[entry.key]
        future = self.hashes.get(entry.key)
        if future is not None and not future.cancelled():
            return future.result()
        return file_md5(self.path(entry.key))

    def identical(self, entry, other_entry, other):
        """Whether a file of another storage has this file's content (sizes are equal)."""
        theirs = other.md5(other_entry)
        if theirs:
            return theirs == self.md5(entry)
        # An object sent in parts by another tool, with no MD5 of its own kept.
        path = self.path(entry.key)
        return multipart_etag(path, entry.size, other_entry.etag) == other_entry.etag

    def fetch(self, entry, into, callback):
        """A local path holding the entry's content: the file itself."""
        return self.path(entry.key)

    def store(self, key, path, md5, callback):
        """Copy a local file to key, through a temporary file renamed into place."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._temporary(target)
        try:
            shutil.copyfile(path, temporary)
            self._put_in_place(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        callback(target.stat().st_size)

    def receive(self, bucket, entry, callback):
        """Download an object of a bucket to its key here, through a temporary file."""
        target = self.path(entry.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._temporary(target)
        try:
            bucket.download(entry, temporary, callback)
            self._put_in_place(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def read_md5(self, key):
        return file_md5(self.path(key))

    def delete(self, key):
        """Remove a file, and the folders it leaves empty below the root."""
        path = self.path(key)
        path.unlink()
        for folder in path.parents:
            if folder == self.root:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty
                break

    @staticmethod
    def _put_in_place(temporary, target):
        """Rename a temporary file to its key, readable as an upload's (mkstemp makes it 0600)."""
        if settings.FILE_UPLOAD_PERMISSIONS is not None:
            os.chmod(temporary, settings.FILE_UPLOAD_PERMISSIONS)
        os.replace(temporary, target)

    @staticmethod
    def _temporary(target):
        handle, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=target.parent)
        os.close(handle)
        return Path(name)


class Bucket:
    """An S3 bucket (and the DSN's folder in it), reached as the project's S3 storage reaches it:
    keys are object keys below that folder."""

    def __init__(self, dsn, described):
        self.described = described
        self.storage = get_storage(dsn)
        self.name = self.storage.bucket_name
        self.prefix = f"{self.storage.location.strip('/')}/".lstrip("/")
        self.client = self.storage.bucket.meta.client

    def same_as(self, other):
        return isinstance(other, Bucket) and (
            self.client.meta.endpoint_url,
            self.name,
            self.prefix,
        ) == (other.client.meta.endpoint_url, other.name, other.prefix)

    @contextmanager
    def transfers(self, concurrency):
        """Share one transfer manager, with concurrency threads, between all transfers."""
        self.config = TransferConfig(max_concurrency=concurrency)
        with S3Transfer(self.client, self.config) as transfer:
            self.transfer = transfer
            yield

    def entries(self):
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if key and not key.endswith("/"):  # not a "folder" marker
                    found[key] = Entry(key, item["Size"], item["ETag"].strip('"'))
        return found

    def remove_leftovers(self):
        """Nothing: an upload that was stopped leaves no object, only parts that reconcile_media
        aborts."""

    def md5(self, entry):
        """The object's MD5: its ETag when that is one (an object not sent in parts), else the one
        copy_media kept with it; empty if neither."""
        if "-" not in entry.etag:
            return entry.etag
        head = self.client.head_object(Bucket=self.name, Key=self.prefix + entry.key)
        return head.get("Metadata", {}).get(MD5_METADATA, "")

    def identical(self, entry, other_entry, other):
        if isinstance(other, Folder):
            return other.identical(other_entry, entry, self)
        ours, theirs = self.md5(entry), other.md5(other_entry)
        return (bool(ours) and ours == theirs) or entry.etag == other_entry.etag

    def fetch(self, entry, into, callback):
        """Download the object to a file in the folder into; its path."""
        path = Path(into) / "object"
        self.download(entry, path, callback)
        return path

    def download(self, entry, path, callback):
        name = self.prefix + entry.key
        self.transfer.download_file(self.name, name, str(path), callback=callback)

    def store(self, key, path, md5, callback):
        """Upload a local file to key; if sent in parts, with its MD5 (from md5()) as metadata,
        as its ETag is not its MD5 then."""
        name = self.prefix + key
        # The storage's own parameters: its ACL, and the type a browser gets the file as.
        extra = self.storage.get_object_parameters(name)
        if Path(path).stat().st_size >= self.config.multipart_threshold:
            extra["Metadata"] = {MD5_METADATA: md5()}
        self.transfer.upload_file(str(path), self.name, name, callback=callback, extra_args=extra)

    def read_md5(self, key):
        body = self.client.get_object(Bucket=self.name, Key=self.prefix + key)["Body"]
        digest = hashlib.md5(usedforsecurity=False)
        for piece in body.iter_chunks(READ_SIZE):
            digest.update(piece)
        return digest.hexdigest()

    def delete(self, key):
        self.client.delete_object(Bucket=self.name, Key=self.prefix + key)


def copy_file(source, target, entry, callback):
    """Copy one file between any two storages; callback(bytes) as bytes reach the target."""
    if isinstance(source, Bucket) and isinstance(target, Folder):
        target.receive(source, entry, callback)
        return
    with tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX) as into:
        # Bucket to bucket: through a local file, as the two may be on different services.
        path = source.fetch(entry, into, lambda count: None)
        if isinstance(source, Folder):
            target.store(entry.key, path, lambda: source.md5(entry), callback)
        else:
            target.store(entry.key, path, lambda: file_md5(path), callback)
