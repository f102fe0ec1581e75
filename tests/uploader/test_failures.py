"""Rows and stored files match whatever fails; what a failure leaves behind is logged, told to
the editor, and found and repaired by `manage.py reconcile_media`."""

import contextlib
import errno

import pytest
from botocore.exceptions import ClientError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from moto.core.authorization import enable_iam_authentication

from file_lifecycle.fields import derived_name
from file_lifecycle.lifecycle import unavailable_message
from file_lifecycle.models import PendingDeletion
from myapp.configuration.storages import describe_error
from tests.helpers import (
    bucket_on,
    closed_endpoint,
    image_bytes,
    reconcile,
    s3_dsn,
    storage_errors,
)
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile
from uploader.previews import PREVIEW

pytestmark = pytest.mark.django_db
FULL = "The storage is full: ask whoever runs it to free space."
OWNER = "The app may not write in the storage's folder: check who owns it."
READ_ONLY = "The storage's folder is read-only: check how its volume is mounted."
ADD_URL = reverse("admin:uploader_uploadedfile_add")
CHANGELIST_URL = reverse("admin:uploader_uploadedfile_changelist")


def test_deleting_while_the_storage_is_down_is_told_logged_and_finished_later(
    admin_client, transactional_db, s3, use_storage, caplog
):
    bucket, dsn = s3
    uploads = UploadedFileFactory.create_batch(2)
    names = sorted(upload.file.name for upload in uploads)

    use_storage(s3_dsn(closed_endpoint()))
    response = admin_client.post(
        CHANGELIST_URL,
        {"action": "delete_selected", "_selected_action": [u.pk for u in uploads], "post": "yes"},
        follow=True,
    )

    assert "The storage could not delete 2 file(s) (EndpointConnectionError)" in response.text
    assert not UploadedFile.objects.exists()
    assert sorted(PendingDeletion.objects.values_list("name", flat=True)) == names
    assert sorted(storage_errors(caplog)) == [
        f"Could not delete {name} in the storage: EndpointConnectionError" for name in names
    ]

    use_storage(dsn)
    status, listed = reconcile()
    assert status == 1
    assert sorted(listed.splitlines()) == [
        "0 rows, 2 stored files: 2 problem(s) left unfixed.",
        *(f"Deleted row's file not yet removed: {name}" for name in names),
    ]
    status, fixed = reconcile("--fix")
    assert status == 0
    assert sorted(fixed.splitlines()) == [
        "0 rows, 2 stored files: rows and stored files match.",
        *(f"Removed deleted row's file {name}" for name in names),
    ]
    assert list(bucket.objects.all()) == []
    assert not PendingDeletion.objects.exists()


def test_deleting_one_file_while_the_storage_is_down_is_told(
    admin_client, transactional_db, s3, use_storage
):
    bucket, dsn = s3
    # An image: its preview is listed with it, and the editor is told of the file once.
    uploaded = UploadedFileFactory(file__filename="photo.png", file__data=image_bytes())
    names = sorted([uploaded.file.name, derived_name(uploaded.file.name, PREVIEW)])

    use_storage(s3_dsn(closed_endpoint()))
    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_delete", args=[uploaded.pk]),
        {"post": "yes"},
        follow=True,
    )

    assert (
        "The storage could not delete 1 file(s) (EndpointConnectionError): photo.png."
        in response.text
    )
    assert not UploadedFile.objects.exists()
    assert sorted(PendingDeletion.objects.values_list("name", flat=True)) == names
    use_storage(dsn)
    assert reconcile("--fix")[0] == 0
    assert list(bucket.objects.all()) == []


@pytest.fixture
def records_kept(transactional_db):
    """Make the database refuse to delete a PendingDeletion, as a connection lost right after
    the commit would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION keep() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'connection lost'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER keep BEFORE DELETE ON file_lifecycle_pendingdeletion "
            "FOR EACH ROW EXECUTE FUNCTION keep()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER keep ON file_lifecycle_pendingdeletion; DROP FUNCTION keep()")


def test_a_failure_after_the_commit_does_not_fail_the_deletion(
    admin_client, media_root, records_kept
):
    uploaded = UploadedFileFactory()
    stored = media_root / uploaded.file.name

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_delete", args=[uploaded.pk]), {"post": "yes"}
    )

    assert (response.status_code, response["Location"]) == (302, CHANGELIST_URL)
    assert not UploadedFile.objects.exists()
    assert not stored.exists()
    # Still listed: reconcile_media --fix finds the file gone and drops the record.
    assert list(PendingDeletion.objects.values_list("name", flat=True)) == [uploaded.file.name]


def test_a_bucket_refusing_acls_is_told_how_to_fix_the_dsn():
    # What S3 answers a PUT with an ACL into a bucket whose ACLs are disabled (AWS's default
    # since 2023); moto, the S3 of these tests, accepts the ACL instead.
    refused = ClientError(
        {
            "Error": {
                "Code": "AccessControlListNotSupported",
                "Message": "The bucket does not allow ACLs",
            }
        },
        "PutObject",
    )

    assert unavailable_message(refused) == (
        "The file could not be stored (ClientError), and nothing was saved. "
        "The bucket does not allow ACLs: add acl=none to DEFAULT_STORAGE_DSN."
    )


@pytest.mark.parametrize(
    ("error", "logged", "told"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "OSError (ENOSPC)", FULL),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "OSError (EDQUOT)", FULL),
        (PermissionError(errno.EACCES, "Permission denied"), "PermissionError (EACCES)", OWNER),
        (OSError(errno.EROFS, "Read-only file system"), "OSError (EROFS)", READ_ONLY),
    ],
)
def test_a_full_or_closed_disk_is_named_in_the_log_and_on_the_form(error, logged, told):
    # What the kernel answers a write on a full disk, over its quota, into a folder of another
    # user's, or on a read-only mount (the tests run as root, which no folder refuses).
    assert describe_error(error) == logged
    assert unavailable_message(error) == (
        f"The file could not be stored ({type(error).__name__}), and nothing was saved. {told}"
    )


@pytest.mark.parametrize(
    ("credentials", "bucket", "told"),
    [
        ("wrong:secret", None, "The bucket refused the credentials: check the key and secret"),
        ("key:secret", "no-such-bucket", "The bucket does not exist: check its name"),
    ],
)
def test_a_bucket_refusing_the_upload_is_named_on_the_form(
    admin_client, moto_server, use_storage, credentials, bucket, told
):
    # moto checks credentials only with IAM authentication on.
    checking = enable_iam_authentication() if bucket is None else contextlib.nullcontext()
    bucket = bucket or bucket_on(moto_server)[0].name
    use_storage(s3_dsn(moto_server, bucket=bucket, credentials=credentials))

    with checking:
        response = admin_client.post(
            ADD_URL, {"file": SimpleUploadedFile("report.txt", b"1")}, follow=True
        )

    assert told in response.text
    assert not UploadedFile.objects.exists()


def test_a_deletion_that_works_leaves_no_record(transactional_db, media_root):
    uploaded = UploadedFileFactory()

    uploaded.delete()

    assert not PendingDeletion.objects.exists()
    assert list(media_root.iterdir()) == []


@pytest.mark.slow
def test_an_upload_whose_answer_is_lost_leaves_no_file(
    admin_client, answer_losing_proxy, use_storage, caplog
):
    bucket, dsn = bucket_on(answer_losing_proxy.endpoint)
    use_storage(dsn)

    answer_losing_proxy.losing.set()
    response = admin_client.post(
        ADD_URL, {"file": SimpleUploadedFile("report.txt", b"numbers")}, follow=True
    )
    answer_losing_proxy.losing.clear()

    assert "The file could not be stored" in response.text
    assert not UploadedFile.objects.exists()
    # The server stored it, then the answer was lost: it was removed again.
    assert list(bucket.objects.all()) == []
    errors = storage_errors(caplog)
    name = errors[0].split()[3]
    assert name.endswith("/report.txt")
    assert errors[0] == f"Could not store {name} in the storage: ConnectionClosedError"
