"""Public and private buckets: the admin's link must fetch the file in both."""

import urllib.parse
import urllib.request

import pytest
from django.urls import reverse
from moto.core.authorization import enable_iam_authentication

from tests.helpers import bucket_on, iam_user_dsn, upload
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket_dsn(moto_server):
    """A fresh bucket on the S3 server, and its DSN (signature v4, no other options)."""
    return bucket_on(moto_server)


def follow_the_admin_link(client):
    uploaded = upload(client, "report.pdf", b"%PDF-1.7 numbers")
    changelist = client.get(reverse("admin:uploader_uploadedfile_changelist")).text
    url = uploaded.file.url
    assert f'<a href="{url.replace("&", "&amp;")}">Open</a>' in changelist
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


@pytest.fixture
def store_only_dsn(moto_server, bucket_dsn):
    """The DSN of an IAM user that may store and delete files in the bucket, but neither list
    nor read it, as a least-privilege uploader is set up (AWS then answers 403 to a HEAD of a
    name that is not there)."""
    bucket, dsn = bucket_dsn
    return iam_user_dsn(
        moto_server,
        dsn,
        [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket.name}/*",
            }
        ],
    )


def test_credentials_that_cannot_list_the_bucket_store_files_and_are_ready(
    client, admin_client, use_storage, bucket_dsn, store_only_dsn
):
    bucket, _ = bucket_dsn
    use_storage(store_only_dsn)

    # moto enforces the user's policy only while IAM authentication is on.
    with enable_iam_authentication():
        for content in (b"first", b"second"):
            upload(admin_client, "report.txt", content)
        ready = client.get("/readyz")
        # The same user with a wrong secret is refused.
        use_storage(store_only_dsn.replace("@", "x@", 1))
        refused = client.get("/readyz")

    names = UploadedFile.objects.values_list("file", flat=True)
    assert sorted(bucket.Object(name).get()["Body"].read() for name in names) == [
        b"first",
        b"second",
    ]
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert (refused.status_code, refused.text) == (
        503,
        "storage: ClientError (SignatureDoesNotMatch)\n",
    )
