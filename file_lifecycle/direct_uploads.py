"""Uploads from the browser straight to an S3 bucket, under names the server chose.

1. start(): the server checks the file's name and size as the form would, chooses its name
   (a folder of its own, as for any upload) and signs what it issued (django.core.signing:
   the name, the size, the user and the model, for VALID_FOR seconds). The browser gets a
   presigned POST (S3 refuses a body over the size) or, for a file over PART_SIZE, the
   parts of a multipart upload, which it sends several at once.
2. part(): for each part, the browser computes its CRC-32 and gets a URL signed for that
   checksum, so that S3 refuses a part whose bytes changed on the way, as it does for boto3's
   uploads (which send the same per-part checksums, CRC-32, since 2025).
3. complete(): only a token the server signed, for this user and model, is taken. For a
   multipart upload the server completes it from the parts S3 lists (the browser never
   reports ETags, so the bucket's CORS need not expose them); then it asks S3 for the object
   (head_object) and takes it only if its size is the one issued. The row is written after.

An upload abandoned halfway leaves what reconcile_media finds: an object in the app's layout
without a row, or an incomplete multipart upload, both removed by --fix after the grace period.
"""

import math
import posixpath
import re

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from storages.backends.s3 import S3Storage

from file_lifecycle import lifecycle
from file_lifecycle.lifecycle import StorageUnavailable
from myapp.configuration.storages import STORAGE_ERRORS

SALT = "file_lifecycle.direct_uploads"
# How long the browser has from start() to complete(): a large file on a slow line.
VALID_FOR = 24 * 3600
# A file larger than this goes in parts of this size (S3 takes at most 10,000 parts), sent
# six at once by the browser: one POST of a large file is one connection's speed. Larger
# parts mean fewer checksums to read for, URLs to sign and requests: with 16 MiB parts, 1 GiB
# to moto's server took no less time than in 32 parts of 32 MiB (make benchmark).
PART_SIZE = 32 * 1024 * 1024
MAX_PARTS = 10_000
# A CRC-32 as S3's x-amz-checksum-crc32 header takes it: four bytes, base64.
CRC32 = re.compile(r"[A-Za-z0-9+/]{6}==")


class Refused(Exception):
    """A request the server will not act on; the message says why, in a user's words."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def possible(field):
    """Whether the field's storage is a bucket the browser can send files to."""
    return isinstance(field.storage, S3Storage)


def checked(field, chosen_name, size):
    """The form field's own checks (size, name) of a file not sent yet: ValidationError."""
    field.formfield().clean(UploadedFile(name=chosen_name, size=size))


def start(field, model_label, user, chosen_name, size):
    """Choose the file's name and let the browser send it to the bucket; returns what the
    browser needs: the signed token, and a presigned POST or the parts' URLs."""
    try:
        checked(field, chosen_name, size)
    except ValidationError as error:
        raise Refused(" ".join(error.messages)) from None
    storage = field.storage
    name = field.generate_filename(None, chosen_name)
    key = bucket_key(storage, name)
    client = storage.connection.meta.client
    parameters = storage.get_object_parameters(name)
    issued = {
        "model": model_label,
        "user": user.pk,
        "name": name,
        "chosen": chosen_name,
        "size": size,
    }
    try:
        if size <= PART_SIZE:
            fields = {
                post_field: parameters[parameter]
                for post_field, parameter in (
                    ("acl", "ACL"),
                    ("Content-Type", "ContentType"),
                    ("Content-Disposition", "ContentDisposition"),
                )
                if parameter in parameters
            }
            post = client.generate_presigned_post(
                storage.bucket_name,
                key,
                Fields=fields,
                Conditions=[
                    *({name: value} for name, value in fields.items()),
                    ["content-length-range", 0, size],
                ],
                ExpiresIn=VALID_FOR,
            )
            return {"token": sign(issued), "post": post}
        part_size = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        # boto3's own uploads send checksums unless told not to (request_checksum_calculation
        # = when_required, for S3-compatible services without them): the browser's follow.
        checksums = client.meta.config.request_checksum_calculation != "when_required"
        if checksums:
            parameters["ChecksumAlgorithm"] = "CRC32"
        upload = client.create_multipart_upload(Bucket=storage.bucket_name, Key=key, **parameters)
    except STORAGE_ERRORS as error:
        lifecycle.log_failure("start an upload of", name, error)
        raise StorageUnavailable(lifecycle.unavailable_message(error)) from error
    parts = math.ceil(size / part_size)
    issued.update(upload=upload["UploadId"], parts=parts, checksums=checksums)
    return {"token": sign(issued), "parts": parts, "part_size": part_size, "checksums": checksums}


def part(field, model_label, user, token, number, checksum):
    """The URL the browser sends part number (from 1) to, signed for its CRC-32 (base64) when
    start() asked for checksums: the browser sends it as the x-amz-checksum-crc32 header, and
    S3 checks the bytes against it."""
    issued = issued_to(token, model_label, user)
    if "upload" not in issued or not 1 <= number <= issued["parts"]:
        raise Refused("This part was not issued: upload the file again.")
    storage = field.storage
    parameters = {
        "Bucket": storage.bucket_name,
        "Key": bucket_key(storage, issued["name"]),
        "UploadId": issued["upload"],
        "PartNumber": number,
    }
    if issued["checksums"]:
        if not CRC32.fullmatch(checksum or ""):
            raise Refused("This part's checksum is not a CRC-32: reload the page.")
        parameters["ChecksumCRC32"] = checksum
    return storage.connection.meta.client.generate_presigned_url(
        "upload_part", Params=parameters, ExpiresIn=VALID_FOR
    )


def complete(field, model_label, user, token):
    """The (stored name, chosen name) of a file the browser sent to the bucket, once S3 shows
    it whole; Refused for a token not issued to this user, or a file not as issued."""
    issued = issued_to(token, model_label, user)
    storage, name = field.storage, issued["name"]
    key = bucket_key(storage, name)
    client = storage.connection.meta.client
    try:
        if "upload" in issued:
            pages = client.get_paginator("list_parts").paginate(
                Bucket=storage.bucket_name, Key=key, UploadId=issued["upload"]
            )
            # S3 needs each part's checksum back, as it listed it.
            fields = ("PartNumber", "ETag", "ChecksumCRC32")
            parts = [
                {field: sent[field] for field in fields if field in sent}
                for page in pages
                for sent in page.get("Parts", [])
            ]
            client.complete_multipart_upload(
                Bucket=storage.bucket_name,
                Key=key,
                UploadId=issued["upload"],
                MultipartUpload={"Parts": parts},
            )
        size = client.head_object(Bucket=storage.bucket_name, Key=key)["ContentLength"]
    except STORAGE_ERRORS as error:
        lifecycle.log_failure("complete the upload of", name, error)
        raise StorageUnavailable(lifecycle.unavailable_message(error)) from error
    if size != issued["size"]:
        lifecycle.remove_quietly(storage, name)
        raise Refused(
            f"The bucket received {size:,} bytes of this file, not {issued['size']:,}: "
            "upload it again."
        )
    return name, issued["chosen"]


def abort(field, model_label, user, token):
    """Abort an unfinished multipart upload the browser gave up on (its parts are billed)."""
    issued = issued_to(token, model_label, user)
    storage = field.storage
    client = storage.connection.meta.client
    key = bucket_key(storage, issued["name"])
    try:
        if "upload" in issued:
            client.abort_multipart_upload(
                Bucket=storage.bucket_name, Key=key, UploadId=issued["upload"]
            )
        else:
            storage.delete(issued["name"])
    except STORAGE_ERRORS as error:
        # reconcile_media finds it: an incomplete upload or an orphaned file.
        lifecycle.log_failure("abort the upload of", issued["name"], error)


def sign(issued):
    return signing.dumps(issued, salt=SALT, compress=True)


def issued_to(token, model_label, user):
    """What start() issued, from a token it signed for this user and model; else Refused."""
    try:
        issued = signing.loads(token, salt=SALT, max_age=VALID_FOR)
    except signing.SignatureExpired:
        raise Refused("This upload took too long: upload the file again.") from None
    except signing.BadSignature:
        raise Refused("This upload was not started here: upload the file again.") from None
    if issued["model"] != model_label or issued["user"] != user.pk:
        raise Refused("This upload was started by another user or for another list.", 403)
    return issued


def bucket_key(storage, name):
    """The object's key in the bucket: the storage's folder (the DSN's path), then name."""
    return posixpath.join(storage.location, name) if storage.location else name
