"""Storage classes that django-storage-url builds from DEFAULT_STORAGE_DSN, by its scheme."""

import mimetypes
import posixpath
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage
from django.utils.http import content_disposition_header
from django_storage_url.backends.s3 import S3Storage as DSNS3Storage

from myapp.environment import parse_storage_dsn

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


class S3Storage(DSNS3Storage):
    """django-storage-url's S3 storage, with more of the DSN's query options.

    - endpoint=http://host:port: an S3-compatible service (MinIO, Ceph, an emulator)
      instead of https://<host of the DSN>/; files are linked there too unless domain=
      or url= says otherwise. With an endpoint, url= keeps its path (the library keeps only
      its host), so http://localhost:9000/media/ links into bucket media, path style.
    - acl=none: send no ACL, for buckets with ACLs disabled (AWS's default since 2023),
      which reject the library's default public-read.
    Same-named files never overwrite each other, and files a browser could run as part of
    the site are stored as downloads.
    """

    def __init__(self, dsn):
        super().__init__(dsn)
        self.file_overwrite = False
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
