import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from moto import mock_aws

from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db

REGION = "eu-central-1"
BUCKET = "tutorial-media"
# The shape of DSN the hosting platform gives for cloud media storage.
PLATFORM_DSN = (
    f"s3://AKIAEXAMPLE:SECRET@{BUCKET}.s3.{REGION}.amazonaws.com/"
    "?auth=s3v4&domain=media.example.com"
)


@pytest.fixture
def bucket(use_storage, monkeypatch):
    """An in-process S3 bucket (moto) that the platform's DSN points at."""
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        s3 = boto3.resource("s3", region_name=REGION)
        bucket = s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        use_storage(PLATFORM_DSN)
        yield bucket


def test_upload_through_the_admin_lands_in_the_bucket(admin_client, bucket, media_root):
    upload = SimpleUploadedFile("report.txt", b"quarterly numbers\n")

    response = admin_client.post(reverse("admin:uploader_uploadedfile_add"), {"file": upload})

    assert response.status_code == 302
    uploaded = UploadedFile.objects.get()
    stored = bucket.Object(uploaded.file.name).get()
    assert stored["Body"].read() == b"quarterly numbers\n"
    assert uploaded.file.name == "report.txt"
    assert not media_root.exists()


def test_changelist_links_to_the_public_url(admin_client, bucket):
    admin_client.post(
        reverse("admin:uploader_uploadedfile_add"),
        {"file": SimpleUploadedFile("report.txt", b"numbers")},
    )

    response = admin_client.get(reverse("admin:uploader_uploadedfile_changelist"))

    assert '<a href="https://media.example.com/report.txt">Download</a>' in response.text
