import furl
import pytest
from django_storage_url.backends.s3 import S3Storage as LibraryS3Storage

from myapp.configuration.storages import S3Storage, content_headers

SAME_AS_THE_LIBRARY = [
    "bucket_name",
    "region_name",
    "endpoint_url",
    "use_ssl",
    "addressing_style",
    "signature_version",
    "location",
    "custom_domain",
    "url_protocol",
    "querystring_auth",
    "base_url",
]


@pytest.mark.parametrize(
    "dsn",
    [
        "s3://KEY:SECRET@media.s3.eu-central-1.amazonaws.com/?auth=s3v4&domain=cdn.example.com",
        "s3://KEY:SECRET@media.s3-eu-west-1.amazonaws.com/uploads/",
        "s3://KEY:SECRET@my.bucket.s3.amazonaws.com/?url=https%3A%2F%2Fcdn.example.com%2F",
        "s3://KEY:SECRET@media.s3.amazonaws.com/files/?url=http%3A%2F%2Fcdn.example.com%2Fm%2F",
        "s3://KEY:SECRET@media.s3.us-east-1.amazonaws.com/?acl=private&qs_auth=true",
    ],
)
def test_without_endpoint_the_platforms_dsns_work_as_the_library_makes_them(dsn):
    ours, theirs = S3Storage(furl.furl(dsn)), LibraryS3Storage(furl.furl(dsn))

    for attribute in SAME_AS_THE_LIBRARY:
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert ours.object_parameters == theirs.object_parameters
    # No request per upload to ask whether the name is taken: the uploader's random folders
    # keep names apart (tests/uploader/test_s3_access.py, with credentials that cannot list).
    assert ours.file_overwrite is theirs.file_overwrite is True


def test_endpoint_replaces_the_https_host_of_the_dsn():
    storage = S3Storage(
        furl.furl(
            "s3://KEY:SECRET@media.s3.us-east-1.amazonaws.com/files/"
            "?endpoint=http%3A%2F%2F127.0.0.1%3A9000"
        )
    )

    assert (storage.endpoint_url, storage.use_ssl) == ("http://127.0.0.1:9000", False)
    assert storage.client_config.s3["addressing_style"] == "path"
    assert storage.custom_domain is None
    assert storage.base_url == "http://127.0.0.1:9000/media/files/"


def test_with_an_endpoint_url_keeps_its_path():
    # Compose's app reaches the emulator as minio:9000, the browser as localhost:9000.
    storage = S3Storage(
        furl.furl(
            "s3://KEY:SECRET@media.s3.us-east-1.amazonaws.com/?endpoint=http%3A%2F%2Fminio%3A9000"
            "&url=http%3A%2F%2Flocalhost%3A9000%2Fmedia%2F"
        )
    )

    assert storage.endpoint_url == "http://minio:9000"
    assert storage.url("0123/report.txt") == "http://localhost:9000/media/0123/report.txt"
    assert storage.base_url == "http://localhost:9000/media/"


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("photo.JPG", {"Content-Type": "image/jpeg"}),
        ("notes.txt", {"Content-Type": "text/plain"}),
        ("clip.mp4", {"Content-Type": "video/mp4"}),
        ("folder/page.html", {"Content-Disposition": 'attachment; filename="page.html"'}),
        ("image.svg", {"Content-Disposition": 'attachment; filename="image.svg"'}),
        ("notes.txt.gz", {"Content-Disposition": 'attachment; filename="notes.txt.gz"'}),
        (
            "résumé.xhtml",
            {"Content-Disposition": "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.xhtml"},
        ),
    ],
)
def test_content_headers_by_name(name, headers):
    assert headers.items() <= content_headers(name).items()
    if "Content-Disposition" in headers:
        assert content_headers(name)["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        # S3 cannot send nosniff: text from the bucket is a download, lest it be sniffed.
        (
            "notes.txt",
            {
                "ContentType": "application/octet-stream",
                "ContentDisposition": 'attachment; filename="notes.txt"',
            },
        ),
        ("photo.jpg", {"ContentType": "image/jpeg"}),
        ("page.html", {"ContentDisposition": 'attachment; filename="page.html"'}),
    ],
)
def test_the_bucket_stores_text_as_a_download(name, parameters):
    storage = S3Storage(furl.furl("s3://KEY:SECRET@media.s3.eu-central-1.amazonaws.com/"))

    stored = storage.get_object_parameters(name)

    assert parameters.items() <= stored.items()
    if "ContentDisposition" not in parameters:
        assert "ContentDisposition" not in stored
