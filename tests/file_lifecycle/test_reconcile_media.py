"""reconcile_media: rows and stored files compared in every storage that a file field uses; only
names in the app's layout (a folder of 16 hex digits, then the name, or derived/ and a name)
are ever removed."""

import os
import time

import boto3
import pytest
from django.core.management import ManagementUtility
from django.db import connection
from moto.core.authorization import enable_iam_authentication

from file_lifecycle.fields import derived_name
from file_lifecycle.models import PendingDeletion
from tests.helpers import (
    bucket_on,
    closed_endpoint,
    iam_user_dsn,
    image_bytes,
    on_server,
    reconcile,
    s3_dsn,
    upload,
)
from tests.uploader.factories import UploadedFileFactory
from uploader.previews import PREVIEW

pytestmark = pytest.mark.django_db
AN_HOUR_AGO = time.time() - 3601
FIELD = "uploader.UploadedFile.file"


def own(name, folder="0123456789abcdef"):
    """A name in the app's layout, as file_lifecycle.fields.own_folder makes them."""
    return f"{folder}/{name}"


def put(root, name, old=False):
    """A file at name under root (a media folder), an hour old if old."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"no row")
    if old:
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return path


def test_reconcile_on_matching_rows_and_files_finds_nothing(media_root):
    UploadedFileFactory.create_batch(2)

    assert reconcile() == (0, "2 rows, 2 stored files: rows and stored files match.\n")


def test_reconcile_lists_orphans_and_missing_files_in_a_folder(media_root):
    kept, lost = UploadedFileFactory.create_batch(2)
    lost.file.storage.delete(lost.file.name)  # by hand, say
    old_orphan = put(media_root, own("old.txt", "a" * 16), old=True)
    new_orphan = put(media_root, own("new.txt", "b" * 16))
    empty = media_root / ("c" * 16)
    empty.mkdir()
    os.utime(empty, (AN_HOUR_AGO, AN_HOUR_AGO))

    status, listed = reconcile()
    assert status == 1
    assert f"Orphaned file: {'a' * 16}/old.txt, dated " in listed
    assert f"Orphaned file: {'b' * 16}/new.txt, dated " in listed
    assert (
        f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}, which is not in the "
        "storage (restore it from a backup, or delete the row)\n"
    ) in listed
    assert f"Empty folder: {'c' * 16}/, dated " in listed
    assert listed.endswith("2 rows, 3 stored files: 4 problem(s) left unfixed.\n")

    status, fixed = reconcile("--fix")
    assert status == 1
    assert f"Removed orphaned file {'a' * 16}/old.txt\n" in fixed
    assert f"Kept orphaned file {'b' * 16}/new.txt: dated " in fixed
    assert "within the grace period of 3600 s (maybe an upload in progress)" in fixed
    assert f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}" in fixed
    assert f"Removed empty folder {'c' * 16}/\n" in fixed
    assert fixed.endswith("2 rows, 3 stored files: 2 problem(s) left unfixed.\n")
    assert not old_orphan.exists()
    assert not empty.exists()
    assert new_orphan.exists()
    assert (media_root / kept.file.name).exists()

    lost.delete()
    assert reconcile("--fix", "--grace-period", "0")[0] == 0
    assert not new_orphan.exists()


def test_reconcile_leaves_what_the_app_did_not_write_in_a_folder(media_root):
    # What a volume, a developer or another program may keep in the media folder.
    foreign = [put(media_root, name, old=True) for name in [".gitkeep", "backups/db.sql.gz"]]
    foreign.append(put(media_root, own("nested/deeper.txt"), old=True))
    lost_and_found = media_root / "lost+found"
    lost_and_found.mkdir()
    os.utime(lost_and_found, (AN_HOUR_AGO, AN_HOUR_AGO))

    status, fixed = reconcile("--fix", "--grace-period", "0")

    assert status == 0
    assert sorted(fixed.splitlines()) == [
        "0 rows, 3 stored files: rows and stored files match.",
        "Left alone, not in the app's layout: empty folder lost+found/",
        "Left alone, not in the app's layout: orphaned file .gitkeep",
        "Left alone, not in the app's layout: orphaned file 0123456789abcdef/nested/deeper.txt",
        "Left alone, not in the app's layout: orphaned file backups/db.sql.gz",
    ]
    assert all(path.exists() for path in [*foreign, lost_and_found])


def test_reconcile_says_when_it_cannot_reach_the_storage(use_storage):
    use_storage(s3_dsn(closed_endpoint()))

    assert reconcile() == (1, "Could not list the storage: EndpointConnectionError\n")


def test_reconcile_help_tells_what_each_option_does(capsys):
    command = ManagementUtility(["manage.py"]).fetch_command("reconcile_media")

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "reconcile_media", "--help"])

    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # however wide the terminal
    assert "Only names in the app's layout (a folder of 16 hex digits, then the name)" in shown
    assert (
        "--fix remove orphaned files and empty folders, abort incomplete multipart uploads "
        "--grace-period SECONDS "
    ) in shown
    assert (
        "--grace-period SECONDS leave orphans younger than this alone: they may be uploads "
        "in progress (default 3600; 0 when the app is stopped)"
    ) in shown


def test_reconcile_keeps_every_orphan_within_the_grace_period(media_root):
    orphans = [put(media_root, own("a.txt", "1" * 16)), put(media_root, own("b.txt", "2" * 16))]

    status, fixed = reconcile("--fix")

    assert status == 1
    assert fixed.count("within the grace period of 3600 s") == 2
    assert fixed.endswith("0 rows, 2 stored files: 2 problem(s) left unfixed.\n")
    assert all(orphan.exists() for orphan in orphans)


def test_reconcile_drops_the_deletion_record_of_a_name_stored_again(media_root):
    stored_again = UploadedFileFactory()
    PendingDeletion.objects.create(name=stored_again.file.name, field=FIELD)
    put(media_root, own("deleted.txt"))
    PendingDeletion.objects.create(name=own("deleted.txt"), field=FIELD)

    assert reconcile() == (
        1,
        f"Deleted row's file not yet removed: {own('deleted.txt')}\n"
        "1 rows, 2 stored files: 1 problem(s) left unfixed.\n",
    )
    assert list(PendingDeletion.objects.values_list("name", flat=True)) == [own("deleted.txt")]
    assert (media_root / stored_again.file.name).exists()


def test_reconcile_reports_a_deletion_of_a_field_that_no_longer_exists(media_root):
    PendingDeletion.objects.create(name=own("gone.txt"), field="invoices.Invoice.scan")

    assert reconcile("--fix") == (
        1,
        f"Deleted row's file not yet removed: {own('gone.txt')}, of invoices.Invoice.scan, a "
        "field that no longer exists (remove the file by hand, then the record)\n"
        "0 rows, 0 stored files: 1 problem(s) left unfixed.\n",
    )


def test_reconcile_removes_orphans_in_a_bucket_and_says_it_leaves_the_rest_of_it(s3):
    bucket, _ = s3
    kept = UploadedFileFactory()
    bucket.put_object(Key=own("orphan.txt"), Body=b"no row")
    bucket.put_object(Key="backups/db-2026-12-01.sql.gz", Body=b"another app's")

    assert reconcile("--fix", "--grace-period", "0") == (
        0,
        f"Listed the whole bucket {bucket.name}, as its DSN names no folder: the files there "
        "that are not in the app's layout are left alone.\n"
        f"Removed orphaned file {own('orphan.txt')}\n"
        "Left alone, not in the app's layout: orphaned file backups/db-2026-12-01.sql.gz\n"
        "1 rows, 3 stored files: rows and stored files match.\n",
    )
    assert sorted(item.key for item in bucket.objects.all()) == sorted(
        [kept.file.name, "backups/db-2026-12-01.sql.gz"]
    )


@pytest.mark.parametrize("folder", ["site", "site/"])
def test_reconcile_in_a_bucket_folder_leaves_the_rest_of_the_bucket_alone(
    moto_server, use_storage, folder
):
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn.replace(".com/?", f".com/{folder}?"))
    kept = UploadedFileFactory()
    bucket.put_object(Key=f"site/{own('orphan.txt')}", Body=b"no row")
    bucket.put_object(Key=f"site-old/{own('other.txt')}", Body=b"another app's")

    assert reconcile("--fix", "--grace-period", "0") == (
        0,
        f"Removed orphaned file {own('orphan.txt')}\n"
        "1 rows, 2 stored files: rows and stored files match.\n",
    )
    assert sorted(item.key for item in bucket.objects.all()) == sorted(
        [f"site/{kept.file.name}", f"site-old/{own('other.txt')}"]
    )


def test_reconcile_aborts_old_incomplete_multipart_uploads_of_the_app_only(s3, moto_server):
    # What `kill -9` during a large upload leaves: parts that S3 keeps (and bills), listed
    # nowhere but by ListMultipartUploads.
    bucket, _ = s3
    client = boto3.client("s3", **on_server(moto_server))
    for key in [own("killed.bin"), "backups/in-progress.tar"]:
        upload = client.create_multipart_upload(Bucket=bucket.name, Key=key)
        client.upload_part(
            Bucket=bucket.name, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
        )
    bucket.put_object(Key="static/app.css", Body=b"another app's")

    status, listed = reconcile()
    assert status == 1
    # moto dates every multipart upload 2010-11-10: the grace period cannot be shown here.
    assert f"Incomplete multipart upload: {own('killed.bin')}, dated 2010-11-10 " in listed

    status, fixed = reconcile("--fix", "--grace-period", "0")
    assert status == 0
    assert fixed.splitlines()[1:] == [
        "Left alone, not in the app's layout: orphaned file static/app.css",
        f"Removed incomplete multipart upload {own('killed.bin')}",
        "Left alone, not in the app's layout: incomplete multipart upload backups/in-progress.tar",
        "0 rows, 1 stored files: rows and stored files match.",
    ]
    uploads = client.list_multipart_uploads(Bucket=bucket.name)["Uploads"]
    assert [upload["Key"] for upload in uploads] == ["backups/in-progress.tar"]
    assert [item.key for item in bucket.objects.all()] == ["static/app.css"]


def test_reconcile_with_credentials_that_may_only_list_says_what_it_could_not_do(
    moto_server, s3, use_storage
):
    bucket, dsn = s3
    lost = UploadedFileFactory()
    bucket.Object(lost.file.name).delete()
    left_over = [own(f"{n}.txt", str(n) * 16) for n in range(1, 5)]
    for key in left_over:
        bucket.put_object(Key=key, Body=b"left over")
    for name in left_over[:2]:
        PendingDeletion.objects.create(name=name, field=FIELD)
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
        f"Could not remove deleted row's file {left_over[0]}: AccessDenied",
        f"Could not remove deleted row's file {left_over[1]}: AccessDenied",
        f"Could not remove orphaned file {left_over[2]}: AccessDenied",
        f"Could not remove orphaned file {left_over[3]}: AccessDenied",
        "Could not list interrupted uploads: AccessDenied",
        f"Could not check {lost.file.name}: ClientError (403)",
        f"Missing file: UploadedFile {lost.pk} points at {lost.file.name}, which is not in the "
        "storage (restore it from a backup, or delete the row)",
        "1 rows, 4 stored files: 6 problem(s) left unfixed.",
    ]
    assert sorted(item.key for item in bucket.objects.all()) == sorted(left_over)
    assert PendingDeletion.objects.count() == 2


def test_reconcile_keeps_a_live_files_preview_and_removes_an_orphans(admin_client, media_root):
    kept = upload(admin_client, "kept.png", image_bytes())
    gone = upload(admin_client, "gone.png", image_bytes())
    with connection.cursor() as cursor:  # the row gone, its files left, as after a crash
        cursor.execute("DELETE FROM uploader_uploadedfile WHERE id = %s", [gone.pk])
    left = [gone.file.name, derived_name(gone.file.name, PREVIEW)]
    stray = put(media_root, derived_name(kept.file.name, "other.webp"), old=True)
    for name in left:
        os.utime(media_root / name, (AN_HOUR_AGO, AN_HOUR_AGO))

    status, fixed = reconcile("--fix")

    assert status == 0
    assert sorted(fixed.splitlines()) == sorted(
        [
            "1 rows, 5 stored files: rows and stored files match.",
            *(f"Removed orphaned file {name}" for name in left),
            f"Removed orphaned file {derived_name(kept.file.name, 'other.webp')}",
        ]
    )
    assert not stray.exists()
    assert (media_root / derived_name(kept.file.name, PREVIEW)).is_file()
    assert not (media_root / gone.file.name).parent.exists()
    assert reconcile() == (0, "1 rows, 2 stored files: rows and stored files match.\n")
