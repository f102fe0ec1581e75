"""Public and private buckets: the admin's link must fetch the file in both."""

import urllib.parse
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import bucket_on
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket_dsn(moto_server):
    """A fresh bucket on the S3 server, and its DSN (signature v4, no other options)."""
    return bucket_on(moto_server)


def follow_the_admin_link(client):
    client.post(
        reverse("admin:uploader_uploadedfile_add"),
        {"file": SimpleUploadedFile("report.pdf", b"%PDF-1.7 numbers")},
    )
    uploaded = UploadedFile.objects.get()
    changelist = client.get(reverse("admin:uploader_uploadedfile_changelist")).text
    url = uploaded.file.url
    assert f'<a href="{url.replace("&", "&amp;")}">Download</a>' in changelist
    with urllib.request.urlopen(url) as response:
        return url, response.read()


def test_public_bucket_links_are_plain(admin_client, use_storage, bucket_dsn):
    bucket, dsn = bucket_dsn
    use_storage(dsn)

    url, body = follow_the_admin_link(admin_client)

    assert body == b"%PDF-1.7 numbers"
    assert "?" not in url
    grants = bucket.Object(UploadedFile.objects.get().file.name).Acl().grants
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in [
        grant["Grantee"].get("URI") for grant in grants
    ]


def test_private_bucket_links_are_signed_and_expire(admin_client, use_storage, bucket_dsn):
    bucket, dsn = bucket_dsn
    use_storage(f"{dsn}&acl=private&qs_auth=true")

    url, body = follow_the_admin_link(admin_client)

    assert body == b"%PDF-1.7 numbers"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert "X-Amz-Signature" in query
    assert int(query["X-Amz-Expires"][0]) <= 3600
    grants = bucket.Object(UploadedFile.objects.get().file.name).Acl().grants
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
