"""Storage classes that django-storage-url builds from DEFAULT_STORAGE_DSN, by its scheme."""

import errno
import functools
import mimetypes
import os
import posixpath
import re
import tempfile
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.session
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.checks import Tags, register
from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage
from django.core.files.storage import storages
from django.utils.http import content_disposition_header
from django_storage_url.backends.s3 import S3Storage as DSNS3Storage

from myapp.configuration.environment import (
    FALSE_VALUES,
    HOST_NAME,
    TRUE_VALUES,
    ConfigurationError,
    check_messages,
    get_value,
    mask_password,
    shown,
    split_dsn,
)

VARIABLE = "DEFAULT_STORAGE_DSN"

# The longest file name (one part of a path) that common local file systems hold, in bytes.
MAX_NAME_BYTES = 255

# What a browser may show inline from the site's own origin: nothing it could run as part of
# the site (HTML, SVG, XML, JavaScript...). Anything else is served as a download.
INLINE_TYPES = {
    "application/pdf",
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/plain",
}

# What a storage raises when it cannot keep a file: a full or read-only disk, a bucket that
# is unreachable, refuses the credentials, or rejects the upload's ACL.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, S3UploadFailedError)

PARTS_IN_FLIGHT = 2
PART_SIZE = 5 * 1024 * 1024

HTTP_URL = re.compile(r"https?://[^/?#@\s]+(/[^\s]*)?", re.IGNORECASE)
# An S3 endpoint's own host name, e.g. s3.eu-central-1.amazonaws.com, has no bucket in front.
AWS_ENDPOINT = re.compile(r"s3[.-]([a-z0-9-]+\.)?amazonaws\.com", re.IGNORECASE)
# The names botocore accepts for a region.
S3_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
# An S3 endpoint: http(s), a host, maybe a port (checked to be 1 to 65535), and no path.
ENDPOINT = re.compile(
    rf"https?://(?:{HOST_NAME.pattern})(?::(?P<port>[0-9]{{1,5}}))?/?", re.IGNORECASE | re.ASCII
)


def content_headers(name, nosniff=True):
    """The Content-Type (guessed from the name, never from the uploader's browser) and, for
    anything not safe to show inline, the Content-Disposition to serve a stored file with.

    A bucket cannot send X-Content-Type-Options: nosniff (S3 stores no such header with an
    object): from there, text is a download too, lest a browser guess it is something else.
    """
    content_type, encoding = mimetypes.guess_type(name)
    inline = INLINE_TYPES if nosniff else INLINE_TYPES - {"text/plain"}
    if not encoding and (
        content_type in inline or str(content_type).partition("/")[0] in {"audio", "video"}
    ):
        return {"Content-Type": content_type}
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition_header(
            as_attachment=True, filename=posixpath.basename(name)
        ),
    }


def error_code(error):
    """S3's error code, or the name of an OS error's errno (ENOSPC), if the error has one."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    return errno.errorcode.get(getattr(error, "errno", None))


def describe_error(error):
    """The error's type and code (error_code): never its text, which may hold hosts and URLs."""
    code = error_code(error)
    name = type(error).__name__  # boto3 names some after their code: NoSuchBucket
    return f"{name} ({code})" if code and code != name else name


def media_root(dsn):
    """A file:// DSN's folder (the DSN checked first); empty for a bucket."""
    return media_location(dsn)[0]


def media_url(dsn):
    """A file:// DSN's url= (the DSN checked first); empty for a bucket."""
    return media_location(dsn)[1]


def media_location(dsn, name=VARIABLE, served=True):
    """Check a storage DSN by the rules of the storage class its scheme names, and return
    its (folder, URL): a file:// DSN's, empty for a bucket. Messages name it as name (the
    variable, or a command's argument). A folder that is not served (copy_media's) needs no
    url=."""
    parts = split_dsn(name, dsn, S3Storage.EXAMPLE)
    storage_class = {"file": FileSystemStorage, "s3": S3Storage}.get(parts.scheme)
    if storage_class is None:
        raise ConfigurationError(
            f"{shown(name, dsn)} has no supported scheme: "
            f"use {FileSystemStorage.EXAMPLE} or {S3Storage.EXAMPLE}"
        )
    options = parse_qs(parts.query, keep_blank_values=True)
    for option, values in options.items():
        if option not in storage_class.OPTIONS:
            raise ConfigurationError(
                f"{shown(name, dsn)} has an unknown parameter {option!r}: the known ones "
                f"are {', '.join(storage_class.OPTIONS)}, e.g. {storage_class.EXAMPLE}"
            )
        is_valid, example = storage_class.OPTIONS[option]
        example = example() if callable(example) else example
        if len(values) > 1:
            raise ConfigurationError(
                f"{shown(name, dsn)} has {option}= {len(values)} times: keep one, e.g. {example}"
            )
        if not is_valid(values[0]):
            raise ConfigurationError(
                f"{shown(name, dsn)} has an invalid {option}={mask_password(values[0])!r}: "
                f"use e.g. {example}"
            )
    if not served and storage_class is FileSystemStorage:
        options.setdefault("url", ["/"])
    problem = storage_class.dsn_problem(parts, options)
    if problem:
        raise ConfigurationError(f"{shown(name, dsn)} {problem}")
    if storage_class is S3Storage:
        return "", ""  # a bucket serves its own URLs
    return Path(unquote(parts.path)), options["url"][0]


@register(Tags.files, deploy=True)
def check_storage_is_usable(app_configs=None, **kwargs):
    """`manage.py check --deploy`: what the server checks at start, without a request."""
    return check_messages(check_storage, "myapp.E002")


def check_storage():
    """Build the media storage and its client as the first upload would, without a request."""
    dsn = settings.DEFAULT_STORAGE_DSN
    try:
        storage = storages["default"]
        # For S3, this builds the client and checks the bucket and region the DSN gives.
        storage.url("startup-check")
        bucket = getattr(storage, "bucket_name", None)
    except Exception as error:
        # Its type only: the error's text may quote the DSN's secret.
        raise ConfigurationError(
            f"{shown(VARIABLE, dsn)} cannot be used by the storage library "
            f"({type(error).__name__}): check it against e.g. {S3Storage.EXAMPLE}"
        ) from None
    if isinstance(storage, FileSystemStorage):
        check_folder(storage.location)
    if bucket is not None and not S3Storage.BUCKET.fullmatch(bucket):
        raise ConfigurationError(
            f"{shown(VARIABLE, dsn)} names the bucket {bucket!r}, which S3 refuses: use 3 to 63 "
            f"lowercase letters, digits, dots or hyphens, e.g. {S3Storage.EXAMPLE}"
        )


def check_folder(folder):
    """Write a nameless file in a local media folder (or, if missing, where the first upload
    would make it), as an upload would: a folder the server's user cannot write is a
    deployment mistake, to be said at start, not at each upload."""
    existing = next(path for path in [Path(folder), *Path(folder).parents] if path.exists())
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        dsn = get_value(VARIABLE)
        described = (
            f"{shown(VARIABLE, dsn)} names the folder"
            if dsn
            else f"{VARIABLE} is not set, so uploads go to the default folder"
        )
        raise ConfigurationError(
            f"{described} {folder}, which the server cannot write ({type(error).__name__}: "
            f"{error.strerror}): let the server's user write there, or use another folder, "
            f"e.g. {VARIABLE}={FileSystemStorage.EXAMPLE}"
        ) from None


class FileSystemStorage(DjangoFileSystemStorage):
    """A file:// DSN's folder: MEDIA_ROOT, served at MEDIA_URL, as the settings read them.

    django-storage-url would keep percent-escapes in the path (a space stays "%20"), which
    would put files in a folder other than MEDIA_ROOT; Django's storage uses the settings.
    """

    EXAMPLE = "file:///data/media/?url=%2Fmedia%2F"
    OPTIONS: ClassVar = {
        # Django serves static files under /static/ (STATIC_URL) and refuses a MEDIA_URL there.
        "url": (
            lambda url: url.endswith("/") and not url.startswith("/static/"),
            "url=%2Fmedia%2F",
        ),
    }

    def __init__(self, dsn):
        # The settings read the DSN once, into MEDIA_ROOT and MEDIA_URL: Django's defaults.
        super().__init__()

    @classmethod
    def dsn_problem(cls, parts, options):
        if parts.netloc or not parts.path.startswith("/"):
            return f"needs an absolute path after file://, e.g. {cls.EXAMPLE}"
        if "url" not in options:
            return f"has no url= to serve files at, e.g. {cls.EXAMPLE}"
        return None

    def get_valid_name(self, name):
        """Django's cleaned name, cut to what local disks hold: 255 bytes, not characters.

        A name of 200 accented letters is 400 bytes in UTF-8. Room is kept for the 8
        characters Django appends to a name that is taken.
        """
        name = super().get_valid_name(name)
        limit = MAX_NAME_BYTES - 8
        if len(name.encode()) <= limit:
            return name
        root, extension = os.path.splitext(name)
        if len(extension.encode()) > limit // 2:
            root, extension = name, ""
        limit -= len(extension.encode())
        return root.encode()[:limit].decode(errors="ignore") + extension

    def _save(self, name, content):
        try:
            return super()._save(name, content)
        except BaseException:
            self._remove_empty_folders(name)
            raise

    def delete(self, name):
        super().delete(name)
        self._remove_empty_folders(name)

    def _remove_empty_folders(self, name):
        """Remove the folders of name that are left empty, up to the storage's own folder.

        Each upload has a folder of its own, which would otherwise stay behind.
        """
        folder = os.path.dirname(self.path(name))
        while os.path.normpath(folder) != os.path.normpath(self.location):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or already gone): nothing more to remove
                return
            folder = os.path.dirname(folder)


class S3Storage(DSNS3Storage):
    """django-storage-url's S3 storage, with more of the DSN's query options.

    - endpoint=http://host:port: an S3-compatible service (MinIO, Ceph, an emulator)
      instead of https://<host of the DSN>/; files are linked there too unless domain=
      or url= says otherwise. With an endpoint, url= keeps its path (the library keeps only
      its host), so http://localhost:9000/media/ links into bucket media, path style.
    - acl=none: send no ACL, for buckets with ACLs disabled (AWS's default since 2023),
      which reject the library's default public-read.
    Files a browser could run as part of the site are stored as downloads. The DSN's options
    are checked here (OPTIONS, dsn_problem) when the settings load, before any request.

    No request asks whether a name is taken before a file is stored (the library's
    AWS_S3_FILE_OVERWRITE=False would): that costs a request per upload, is not atomic, and
    fails (403) with credentials that may not list the bucket. The uploader gives each file a
    folder of 64 random bits (file_lifecycle.fields.own_folder), which is what keeps
    same-named files apart: a million uploads have about one chance in 37 million of ever
    meeting.
    """

    EXAMPLE = "s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4"
    # Each query option: (check of its value, a valid example).
    OPTIONS: ClassVar = {
        "auth": (lambda value: value in {"s3v4", "s3"}, "auth=s3v4"),
        "domain": (HOST_NAME.fullmatch, "domain=cdn.example.com"),
        "url": (HTTP_URL.fullmatch, "url=https://cdn.example.com/media/"),
        "acl": (
            lambda value: value in canned_acls(),
            lambda: f"acl=private (one of {', '.join(canned_acls())})",
        ),
        "qs_auth": (lambda value: value.lower() in TRUE_VALUES | FALSE_VALUES, "qs_auth=true"),
        "addressing_style": (
            lambda value: value in {"auto", "path", "virtual"},
            "addressing_style=path",
        ),
        "region_name": (S3_REGION.fullmatch, "region_name=eu-central-1"),
        "endpoint": (
            lambda value: (
                (found := ENDPOINT.fullmatch(value)) and 0 < int(found["port"] or 1) < 2**16
            ),
            "endpoint=https://s3.example.com:9000",
        ),
    }
    # The names S3 accepts for a bucket, checked at start (check_storage) before any request.
    BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

    @classmethod
    def dsn_problem(cls, parts, options):
        if parts.port is not None:
            # django-storage-url always connects to https://HOST/, whatever the port.
            return (
                "has a port, which the storage ignores: name the server with endpoint= instead, "
                f"e.g. {cls.EXAMPLE}&endpoint=https%3A%2F%2Fs3.example.com%3A9000"
            )
        if not parts.username or not parts.password:
            return (
                "has no credentials: put the URL-encoded key and secret before the bucket, "
                f"e.g. {cls.EXAMPLE}"
            )
        if not parts.hostname or AWS_ENDPOINT.fullmatch(parts.hostname):
            return f"names no bucket: put it before the host, e.g. {cls.EXAMPLE}"
        if "." not in parts.hostname or not HOST_NAME.fullmatch(parts.hostname):
            # django-storage-url reads the bucket and the service's host from this host name.
            return (
                "needs the bucket and the storage service's host name, dot-separated, "
                f"e.g. {cls.EXAMPLE}"
            )
        signed = options.get("qs_auth", ["false"])[0].lower() in TRUE_VALUES
        if signed and ("domain" in options or "url" in options):
            # django-storages signs only the bucket's own URLs: a domain's links would fail.
            return (
                "has qs_auth=true with domain= or url=, but signed links come from the bucket "
                f"itself: drop domain= and url=, e.g. {cls.EXAMPLE}&acl=private&qs_auth=true"
            )
        return None

    def __init__(self, dsn):
        super().__init__(dsn)
        self.file_overwrite = True
        endpoint = dsn.args.get("endpoint")
        if endpoint:
            self.endpoint_url = endpoint
            self.use_ssl = endpoint.startswith("https:")
            if "addressing_style" not in dsn.args:
                # An endpoint such as 127.0.0.1:9000 has no bucket subdomains.
                self.addressing_style = "path"
                self.client_config = self.client_config.merge(
                    Config(s3={"addressing_style": "path"})
                )
            if "url" in dsn.args:
                # The library keeps only the host of url=, which would drop the bucket from
                # a path-style address such as http://localhost:9000/media/.
                url = urlsplit(dsn.args["url"])
                self.url_protocol = f"{url.scheme}:"
                self.custom_domain = f"{url.netloc}{url.path}".rstrip("/")
                self.base_url = f"{self.url_protocol}//{self.custom_domain}/{self.location}"
            elif "domain" not in dsn.args:
                self.custom_domain = None
                self.base_url = f"{endpoint.rstrip('/')}/{self.bucket_name}/{self.location}"
        if dsn.args.get("acl") == "none":
            self.object_parameters.pop("ACL")
        # Memory for an upload: boto3's defaults read ten 8 MiB parts ahead and send ten at
        # once (over 130 MB held for a 1 GiB file); two 5 MiB parts (S3's smallest) hold
        # about 40 MB, and upload as fast to a server on a 2-core machine (make benchmark).
        # 10,000 parts at most: files up to 48 GiB.
        self.transfer_config = TransferConfig(
            max_concurrency=PARTS_IN_FLIGHT, multipart_chunksize=PART_SIZE
        )
        self.transfer_config.max_in_memory_upload_chunks = PARTS_IN_FLIGHT

    def get_object_parameters(self, name):
        parameters = super().get_object_parameters(name)
        for header, value in content_headers(name, nosniff=False).items():
            parameters[header.replace("-", "")] = value
        return parameters


@functools.cache
def canned_acls():
    """The ACLs S3 takes for an object, as botocore's model of S3 knows them, and none: send no
    ACL, for buckets whose ACLs are disabled."""
    model = botocore.session.get_session().get_service_model("s3")
    return (*model.shape_for("ObjectCannedACL").enum, "none")
