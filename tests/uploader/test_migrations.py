import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("uploader", "0002_pendingdeletion"), ("file_lifecycle", "0001_initial")]
AFTER = [("uploader", "0003_pendingdeletion_moved_to_file_lifecycle")]
LATEST = [("uploader", "0004_describe_each_file")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_pending_deletions_move_to_file_lifecycle_with_their_rows():
    # Listed before the upgrade: their files must still be deleted after it.
    old = migrate(BEFORE).get_model("uploader", "PendingDeletion")
    old.objects.create(name="0123456789abcdef/report.pdf")
    try:
        new = migrate(AFTER).get_model("file_lifecycle", "PendingDeletion")
        assert list(new.objects.values_list("name", "field")) == [
            ("0123456789abcdef/report.pdf", "uploader.UploadedFile.file")
        ]

        reverted = migrate(BEFORE)  # and back, as `migrate uploader 0002` would
        old = reverted.get_model("uploader", "PendingDeletion")
        assert list(old.objects.values_list("name", flat=True)) == ["0123456789abcdef/report.pdf"]
        assert not reverted.get_model("file_lifecycle", "PendingDeletion").objects.exists()
    finally:
        migrate(LATEST)


@pytest.mark.django_db(transaction=True)
def test_existing_rows_get_their_name_and_type_from_the_stored_name():
    # Their size and upload time need the storage: describe_uploads fills them.
    old = migrate(AFTER).get_model("uploader", "UploadedFile")
    names = ["0123456789abcdef/report.pdf", "fedcba9876543210/notes", "00000000000000aa/a.tar.gz"]
    for name in names:
        old.objects.create(file=name)
    try:
        new = migrate(LATEST).get_model("uploader", "UploadedFile")
        rows = new.objects.order_by("pk").values_list(
            "original_name", "content_type", "size", "uploaded_at", "uploaded_by", "has_preview"
        )
        assert list(rows) == [
            ("report.pdf", "application/pdf", None, None, None, False),
            ("notes", "application/octet-stream", None, None, None, False),
            ("a.tar.gz", "application/octet-stream", None, None, None, False),
        ]
    finally:
        migrate(LATEST)
        new.objects.all().delete()
