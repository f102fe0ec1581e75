"""Uploads from the browser straight to an S3 bucket, under names the server chose.

1. start(): the server checks the file's name and size as the form would, chooses its name
   (a folder of its own, as for any upload) and signs what it issued (django.core.signing:
   the name, the size, the user and the model, for VALID_FOR seconds). The browser gets a
   presigned POST (S3 refuses a body over the size) or, for a file over PART_SIZE, presigned
   URLs of a multipart upload's parts, which it sends several at once.
2. complete(): only a token the server signed, for this user and model, is taken. For a
   multipart upload the server completes it from the parts S3 lists (the browser never
   reports ETags, so the bucket's CORS need not expose them); then it asks S3 for the object
   (head_object) and takes it only if its size is the one issued. The row is written after.

An upload abandoned halfway leaves what reconcile_media finds: an object in the app's layout
without a row, or an incomplete multipart upload, both removed by --fix after the grace period.
"""

import math
import posixpath

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
# parts mean fewer URLs to sign and fewer requests: 1 GiB to moto's server took 1.45 times
# boto3's upload_file in 32 parts of 32 MiB, six at once, and 1.97 times in 64 parts of 16 MiB,
# four at once (make benchmark).
PART_SIZE = 32 * 1024 * 1024
MAX_PARTS = 10_000


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
    issued = {"model": model_label, "user": user.pk, "name": name, "chosen": chosen_name}
    issued["size"] = size
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
        upload = client.create_multipart_upload(Bucket=storage.bucket_name, Key=key, **parameters)
    except STORAGE_ERRORS as error:
        lifecycle.log_failure("start an upload of", name, error)
        raise StorageUnavailable(lifecycle.unavailable_message(error)) from error
    issued["upload"] = upload["UploadId"]
    parts = [
        client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": storage.bucket_name,
                "Key": key,
                "UploadId": upload["UploadId"],
                "PartNumber": number,
            },
            ExpiresIn=VALID_FOR,
        )
        for number in range(1, math.ceil(size / part_size) + 1)
    ]
    return {"token": sign(issued), "parts": parts, "part_size": part_size}


def complete(field, model_label, user, token):
    """The (stored name, chosen name) of a file the browser sent to the bucket, once S3 shows
    it whole; Refused for a token not issued to this user, or a file not as issued."""
    try:
        issued = signing.loads(token, salt=SALT, max_age=VALID_FOR)
    except signing.SignatureExpired:
        raise Refused("This upload took too long: upload the file again.") from None
    except signing.BadSignature:
        raise Refused("This upload was not started here: upload the file again.") from None
    if issued["model"] != model_label or issued["user"] != user.pk:
        raise Refused("This upload was started by another user or for another list.", 403)
    storage, name = field.storage, issued["name"]
    key = bucket_key(storage, name)
    client = storage.connection.meta.client
    try:
        if "upload" in issued:
            pages = client.get_paginator("list_parts").paginate(
                Bucket=storage.bucket_name, Key=key, UploadId=issued["upload"]
            )
            parts = [
                {"PartNumber": part["PartNumber"], "ETag": part["ETag"]}
                for page in pages
                for part in page.get("Parts", [])
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
    try:
        issued = signing.loads(token, salt=SALT, max_age=VALID_FOR)
    except signing.BadSignature:
        raise Refused("This upload was not started here.") from None
    if issued["model"] != model_label or issued["user"] != user.pk:
        raise Refused("This upload was started by another user or for another list.", 403)
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


def bucket_key(storage, name):
    """The object's key in the bucket: the storage's folder (the DSN's path), then name."""
    return posixpath.join(storage.location, name) if storage.location else name
