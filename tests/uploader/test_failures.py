"""Rows and stored files match whatever fails; what a failure leaves behind is logged, told to
the editor, and found and repaired by `manage.py reconcile_media`."""

import io
import os
import time

import pytest
from botocore.exceptions import ClientError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from moto.core.authorization import enable_iam_authentication

from tests.helpers import bucket_on, closed_endpoint, iam_user_dsn, s3_dsn, storage_errors
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


def test_deleting_one_file_while_the_storage_is_down_is_told(
    admin_client, transactional_db, s3, use_storage
):
    uploaded = UploadedFileFactory()

    use_storage(s3_dsn(closed_endpoint()))
    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_delete", args=[uploaded.pk]),
        {"post": "yes"},
        follow=True,
    )

    assert (
        "The storage could not delete 1 file(s) (EndpointConnectionError): hello.txt."
        in response.text
    )
    assert not UploadedFile.objects.exists()
    assert list(PendingDeletion.objects.values_list("name", flat=True)) == [uploaded.file.name]


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
    assert (
        f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}, which is not in the "
        "storage (restore it from a backup, or delete the row)\n"
    ) in listed
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


def test_reconcile_help_tells_what_each_option_does(capsys):
    command = ManagementUtility(["manage.py"]).fetch_command("reconcile_media")

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "reconcile_media", "--help"])

    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # however wide the terminal
    assert "--fix remove orphaned files and empty folders --grace-period SECONDS " in shown
    assert (
        "--grace-period SECONDS leave orphans younger than this alone: they may be uploads "
        "in progress (default 3600; 0 when the app is stopped)"
    ) in shown


def test_reconcile_keeps_every_orphan_within_the_grace_period(media_root):
    orphans = [media_root / "f01" / "a.txt", media_root / "f02" / "b.txt"]
    for orphan in orphans:
        orphan.parent.mkdir(parents=True)
        orphan.write_bytes(b"an upload in progress")

    status, fixed = reconcile("--fix")

    assert status == 1
    assert fixed.count("within the grace period of 3600 s") == 2
    assert fixed.endswith("0 rows, 2 stored files: 2 problem(s) left unfixed.\n")
    assert all(orphan.exists() for orphan in orphans)


def test_reconcile_removes_empty_folders_inside_empty_folders(media_root):
    folders = [media_root / "a", media_root / "a" / "b", media_root / "a" / "b" / "c"]
    folders.append(media_root / "d")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for folder in folders:  # a folder changes when one is made inside it
        os.utime(folder, (AN_HOUR_AGO, AN_HOUR_AGO))

    status, listed = reconcile()
    assert status == 1
    assert sorted(listed.splitlines()) == [
        "0 rows, 0 stored files: 4 problem(s) left unfixed.",
        *(f"Empty folder: {folder}" for folder in folders),
    ]

    status, fixed = reconcile("--fix")
    assert status == 0
    assert sorted(fixed.splitlines()) == [
        "0 rows, 0 stored files: rows and stored files match.",
        *(f"Removed empty folder {folder}" for folder in folders),
    ]
    assert list(media_root.iterdir()) == []


def test_reconcile_leaves_a_folder_that_is_no_longer_empty_and_says_so(media_root):
    young_orphan = media_root / "f01" / "a.txt"
    young_orphan.parent.mkdir(parents=True)
    young_orphan.write_bytes(b"an upload in progress")
    # An old empty folder in which a folder was just made: too young to go, it keeps its
    # parent from being removed.
    old, young = media_root / "old", media_root / "old" / "new"
    young.mkdir(parents=True)
    os.utime(old, (AN_HOUR_AGO, AN_HOUR_AGO))

    status, fixed = reconcile("--fix")

    assert status == 1
    assert f"\nCould not remove folder {old}: OSError\n" in fixed
    assert fixed.endswith("0 rows, 1 stored files: 2 problem(s) left unfixed.\n")
    assert young.exists()
    assert young_orphan.exists()


def test_reconcile_drops_the_deletion_record_of_a_name_stored_again(media_root):
    stored_again = UploadedFileFactory()
    PendingDeletion.objects.create(name=stored_again.file.name)
    left_over = media_root / "f00" / "deleted.txt"
    left_over.parent.mkdir()
    left_over.write_bytes(b"a deleted row's file")
    PendingDeletion.objects.create(name="f00/deleted.txt")

    assert reconcile() == (
        1,
        "Deleted row's file not yet removed: f00/deleted.txt\n"
        "1 rows, 2 stored files: 1 problem(s) left unfixed.\n",
    )
    assert list(PendingDeletion.objects.values_list("name", flat=True)) == ["f00/deleted.txt"]
    assert (media_root / stored_again.file.name).exists()


@pytest.mark.parametrize("folder", ["site", "site/"])
def test_reconcile_in_a_bucket_folder_leaves_the_rest_of_the_bucket_alone(
    moto_server, use_storage, folder
):
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn.replace(".com/?", f".com/{folder}?"))
    kept = UploadedFileFactory()
    bucket.put_object(Key="site/f00/orphan.txt", Body=b"no row")
    bucket.put_object(Key="site-old/f00/other.txt", Body=b"another app's")

    assert reconcile("--fix", "--grace-period", "0") == (
        0,
        "Removed orphaned file (no row) f00/orphan.txt\n"
        "1 rows, 2 stored files: rows and stored files match.\n",
    )
    assert sorted(item.key for item in bucket.objects.all()) == sorted(
        [f"site/{kept.file.name}", "site-old/f00/other.txt"]
    )


def test_reconcile_with_credentials_that_may_only_list_says_what_it_could_not_do(
    moto_server, s3, use_storage
):
    bucket, dsn = s3
    lost = UploadedFileFactory()
    bucket.Object(lost.file.name).delete()
    left_over = ["p1/deleted.txt", "p2/deleted.txt", "o1/orphan.txt", "o2/orphan.txt"]
    for key in left_over:
        bucket.put_object(Key=key, Body=b"left over")
    for name in left_over[:2]:
        PendingDeletion.objects.create(name=name)
    may_only_list = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket.name}",
    }
    use_storage(iam_user_dsn(moto_server, dsn, [may_only_list]))

    with enable_iam_authentication():
        status, output = reconcile("--fix", "--grace-period", "0")

    assert status == 1
    assert output.splitlines() == [
        "Could not remove deleted row's file p1/deleted.txt: AccessDenied",
        "Could not remove deleted row's file p2/deleted.txt: AccessDenied",
        "Could not remove orphaned file (no row) o1/orphan.txt: AccessDenied",
        "Could not remove orphaned file (no row) o2/orphan.txt: AccessDenied",
        f"Could not check {lost.file.name}: ClientError (403)",
        f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}, which is not in the "
        "storage (restore it from a backup, or delete the row)",
        "1 rows, 4 stored files: 5 problem(s) left unfixed.",
    ]
    assert sorted(item.key for item in bucket.objects.all()) == sorted(left_over)
    assert PendingDeletion.objects.count() == 2
