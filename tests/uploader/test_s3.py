import urllib.parse
import urllib.request

import boto3
import pytest
from django.urls import reverse
from moto import mock_aws

from tests.helpers import bucket_on, upload

pytestmark = pytest.mark.django_db

REGION = "eu-central-1"
BUCKET = "tutorial-media"
# The shape of DSN the hosting platform gives for cloud media storage.
PLATFORM_DSN = (
    f"s3://AKIAEXAMPLE:SECRET@{BUCKET}.s3.{REGION}.amazonaws.com/"
    "?auth=s3v4&domain=media.example.com"
)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture
def aws():
    """AWS's S3, in process (moto)."""
    with mock_aws():
        yield boto3.resource("s3", region_name=REGION)


@pytest.fixture
def bucket(aws, use_storage):
    """A bucket that the platform's DSN points at."""
    bucket = aws.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    use_storage(PLATFORM_DSN)
    return bucket


def test_upload_through_the_admin_lands_in_the_bucket(admin_client, bucket, media_root):
    uploaded = upload(admin_client, "report.txt", b"quarterly numbers\n")

    stored = bucket.Object(uploaded.file.name).get()
    assert stored["Body"].read() == b"quarterly numbers\n"
    assert uploaded.file.name.endswith("/report.txt")
    assert not media_root.exists()


def test_changelist_links_to_the_public_url(admin_client, bucket):
    uploaded = upload(admin_client, "report.txt", b"numbers")

    response = admin_client.get(reverse("admin:uploader_uploadedfile_changelist"))

    url = f"https://media.example.com/{uploaded.file.name}"
    assert f'<a href="{url}">Download</a>' in response.text


def test_same_name_uploads_keep_both_files(admin_client, bucket):
    first = upload(admin_client, "report.txt", b"first")
    second = upload(admin_client, "report.txt", b"second")

    assert first.file.name != second.file.name
    assert bucket.Object(first.file.name).get()["Body"].read() == b"first"
    assert bucket.Object(second.file.name).get()["Body"].read() == b"second"


def test_uploads_are_public_by_default(admin_client, bucket):
    uploaded = upload(admin_client, "photo.png", b"\x89PNG")

    grants = bucket.Object(uploaded.file.name).Acl().grants
    assert {"Type": "Group", "URI": ALL_USERS} in [grant["Grantee"] for grant in grants]


def test_acl_none_sends_no_acl(admin_client, bucket, use_storage):
    # For buckets with ACLs disabled, which reject any ACL but the owner's.
    use_storage(f"{PLATFORM_DSN}&acl=none")

    uploaded = upload(admin_client, "photo.png", b"\x89PNG")

    grants = bucket.Object(uploaded.file.name).Acl().grants
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "feed.xml", "script.js", "noext"])
def test_files_a_browser_could_run_are_stored_as_downloads(admin_client, bucket, name):
    uploaded = upload(admin_client, name, b"<script>alert(1)</script>")

    stored = bucket.Object(uploaded.file.name).get()
    assert stored["ContentType"] == "application/octet-stream"
    assert stored["ContentDisposition"] == f'attachment; filename="{name}"'


@pytest.mark.parametrize(
    ("name", "content_type"), [("photo.png", "image/png"), ("a.pdf", "application/pdf")]
)
def test_safe_files_are_stored_to_show_inline(admin_client, bucket, name, content_type):
    uploaded = upload(admin_client, name, b"data")

    stored = bucket.Object(uploaded.file.name).get()
    assert stored["ContentType"] == content_type
    assert "ContentDisposition" not in stored


@pytest.fixture
def endpoint_bucket(moto_server, use_storage):
    """A bucket on an S3-compatible server over plain HTTP, and a DSN with its endpoint."""
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn)
    return bucket


def test_endpoint_dsn_stores_on_the_endpoint_and_links_there(
    admin_client, endpoint_bucket, moto_server
):
    uploaded = upload(admin_client, "report.txt", b"through the endpoint")

    assert endpoint_bucket.Object(uploaded.file.name).get()["Body"].read() == (
        b"through the endpoint"
    )
    assert uploaded.file.url == f"{moto_server}/{endpoint_bucket.name}/{uploaded.file.name}"
    with urllib.request.urlopen(uploaded.file.url) as response:
        assert response.read() == b"through the endpoint"


def test_endpoint_dsn_with_domain_links_to_the_domain(
    admin_client, endpoint_bucket, use_storage, settings
):
    use_storage(f"{settings.DEFAULT_STORAGE_DSN}&domain=cdn.example.com")

    uploaded = upload(admin_client, "report.txt", b"x")

    assert uploaded.file.url == f"https://cdn.example.com/{uploaded.file.name}"


def test_endpoint_dsn_with_url_links_into_the_bucket_there(
    admin_client, endpoint_bucket, use_storage, settings, moto_server
):
    # The same server by another name, as a browser reaches an emulator that the app
    # reaches by its Compose service name.
    public_url = f"{moto_server.replace('127.0.0.1', 'localhost')}/{endpoint_bucket.name}/"
    use_storage(f"{settings.DEFAULT_STORAGE_DSN}&url={urllib.parse.quote(public_url, safe='')}")

    uploaded = upload(admin_client, "report.txt", b"by its public URL")

    assert uploaded.file.url == f"{public_url}{uploaded.file.name}"
    with urllib.request.urlopen(uploaded.file.url) as response:
        assert response.read() == b"by its public URL"
