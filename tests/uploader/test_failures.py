"""Rows and stored files match whatever fails; what a failure leaves behind is logged, told to
the editor, and found and repaired by `manage.py reconcile_media`."""

import io
import os
import time

import pytest
from botocore.exceptions import ClientError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from tests.helpers import bucket_on, closed_endpoint, s3_dsn, storage_errors
from tests.uploader.factories import UploadedFileFactory
from uploader.lifecycle import unavailable_message
from uploader.models import PendingDeletion, UploadedFile

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:uploader_uploadedfile_add")
CHANGELIST_URL = reverse("admin:uploader_uploadedfile_changelist")
AN_HOUR_AGO = time.time() - 3601


def reconcile(*args):
    """Run reconcile_media; return its exit status and what it printed."""
    output = io.StringIO()
    try:
        call_command("reconcile_media", *args, stdout=output)
    except CommandError as error:
        return error.returncode, f"{output.getvalue()}{error}\n"
    return 0, output.getvalue()


@pytest.fixture
def s3(moto_server, use_storage):
    """A bucket on the S3 server that the storage points at; yields (bucket, its DSN)."""
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn)
    return bucket, dsn


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
            "CREATE TRIGGER keep BEFORE DELETE ON uploader_pendingdeletion "
            "FOR EACH ROW EXECUTE FUNCTION keep()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER keep ON uploader_pendingdeletion; DROP FUNCTION keep()")


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


def test_reconcile_on_matching_rows_and_files_finds_nothing(media_root):
    UploadedFileFactory.create_batch(2)

    assert reconcile() == (0, "2 rows, 2 stored files: rows and stored files match.\n")


def test_reconcile_lists_orphans_and_missing_files_in_a_folder(media_root):
    kept, lost = UploadedFileFactory.create_batch(2)
    lost.file.storage.delete(lost.file.name)  # by hand, say
    old_orphan, new_orphan = media_root / "a" / "old.txt", media_root / "b" / "new.txt"
    for orphan in (old_orphan, new_orphan):
        orphan.parent.mkdir()
        orphan.write_bytes(b"no row")
    os.utime(old_orphan, (AN_HOUR_AGO, AN_HOUR_AGO))
    (media_root / "empty").mkdir()
    os.utime(media_root / "empty", (AN_HOUR_AGO, AN_HOUR_AGO))
    (media_root / "in-progress").mkdir()  # made for an upload just now: never listed

    status, listed = reconcile()
    assert status == 1
    assert "Orphaned file (no row): a/old.txt, stored " in listed
    assert "Orphaned file (no row): b/new.txt, stored " in listed
    assert f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}" in listed
    assert f"Empty folder: {media_root / 'empty'}" in listed
    assert listed.endswith("2 rows, 3 stored files: 4 problem(s) left unfixed.\n")

    status, fixed = reconcile("--fix")
    assert status == 1
    assert "Removed orphaned file (no row) a/old.txt\n" in fixed
    assert "Kept orphaned file b/new.txt: stored " in fixed
    assert "within the grace period of 3600 s (maybe an upload in progress)" in fixed
    assert f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}" in fixed
    assert f"Removed empty folder {media_root / 'empty'}\n" in fixed
    assert fixed.endswith("2 rows, 3 stored files: 2 problem(s) left unfixed.\n")
    assert not old_orphan.parent.exists()
    assert (media_root / "in-progress").exists()
    assert new_orphan.exists()
    assert (media_root / kept.file.name).exists()

    lost.delete()
    assert reconcile("--fix", "--grace-period", "0")[0] == 0
    assert not new_orphan.exists()


def test_reconcile_removes_orphans_in_a_bucket(s3):
    bucket, _ = s3
    kept = UploadedFileFactory()
    bucket.put_object(Key="f00/orphan.txt", Body=b"no row")

    assert reconcile("--fix", "--grace-period", "0") == (
        0,
        "Removed orphaned file (no row) f00/orphan.txt\n"
        "1 rows, 2 stored files: rows and stored files match.\n",
    )
    assert [item.key for item in bucket.objects.all()] == [kept.file.name]


def test_reconcile_says_when_it_cannot_reach_the_storage(use_storage):
    use_storage(s3_dsn(closed_endpoint()))

    assert reconcile() == (1, "Could not list the storage: EndpointConnectionError\n")
