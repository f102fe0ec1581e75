"""Storage classes that django-storage-url builds from DEFAULT_STORAGE_DSN, by its scheme."""

import mimetypes
import os
import posixpath
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage
from django.utils.http import content_disposition_header
from django_storage_url.backends.s3 import S3Storage as DSNS3Storage

from myapp.environment import parse_storage_dsn

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

PARTS_IN_FLIGHT = 2
PART_SIZE = 5 * 1024 * 1024


def content_headers(name):
    """The Content-Type (guessed from the name, never from the uploader's browser) and, for
    anything not safe to show inline, the Content-Disposition to serve a stored file with."""
    content_type, encoding = mimetypes.guess_type(name)
    if not encoding and (
        content_type in INLINE_TYPES or str(content_type).partition("/")[0] in {"audio", "video"}
    ):
        return {"Content-Type": content_type}
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition_header(
            as_attachment=True, filename=posixpath.basename(name)
        ),
    }


class FileSystemStorage(DjangoFileSystemStorage):
    """A file:// DSN's folder, located exactly where the settings' MEDIA_ROOT says.

    django-storage-url keeps percent-escapes in the path (a space stays "%20"), which
    would put files in a folder other than MEDIA_ROOT.
    """

    def __init__(self, dsn):
        location, base_url = parse_storage_dsn(str(dsn))
        super().__init__(location=location, base_url=base_url)

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
    Files a browser could run as part of the site are stored as downloads.

    No request asks whether a name is taken before a file is stored (the library's
    AWS_S3_FILE_OVERWRITE=False would): that costs a request per upload, is not atomic, and
    fails (403) with credentials that may not list the bucket. The uploader gives each file a
    folder of 64 random bits (uploader.models.upload_to_own_folder), which is what keeps
    same-named files apart: a million uploads have about one chance in 37 million of ever
    meeting.
    """

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
        for header, value in content_headers(name).items():
            parameters[header.replace("-", "")] = value
        return parameters
