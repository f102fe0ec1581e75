"""Uploads that must not hurt: too large, badly named, or meeting a failing service."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse

from tests.helpers import closed_endpoint, refuse_inserts, s3_dsn, storage_errors, upload
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:uploader_uploadedfile_add")


def stored_files(root):
    return sorted(path for path in root.rglob("*") if path.is_file())


def form_error_codes(response):
    """The codes of the file field's errors on the admin's form, part of its interface."""
    return [error.code for error in response.context["adminform"].form.errors.as_data()["file"]]


def test_too_large_files_get_a_form_error_and_are_not_stored(admin_client, settings, media_root):
    settings.UPLOAD_MAX_SIZE = 1000

    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile("big.bin", b"x" * 1500)})

    assert response.status_code == 200
    assert "This file is 1.5\xa0kB; files can be 1\xa0kB at most." in response.text
    assert form_error_codes(response) == ["too_large"]
    assert not UploadedFile.objects.exists()
    assert stored_files(media_root) == []


def test_a_size_error_shows_bytes_when_the_rounded_sizes_look_equal(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = 10 * 10**6

    response = admin_client.post(
        ADD_URL, {"file": SimpleUploadedFile("big.bin", b"x" * (10 * 10**6 + 1))}
    )

    assert "This file is 10,000,001\xa0bytes; files can be 10,000,000\xa0bytes at most." in (
        response.text
    )
    assert not UploadedFile.objects.exists()


def test_files_up_to_the_limit_are_taken(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = 1000

    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile("ok.bin", b"x" * 1000)})

    assert response.status_code == 302
    assert UploadedFile.objects.get().file.size == 1000


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/hosts", "hosts"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("bad\x00name.txt", "badname.txt"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("résumé 2024.pdf", "résumé_2024.pdf"),
        ("<script>alert(1)</script>.html", "script.html"),
    ],
)
def test_stored_names_are_safe(admin_client, media_root, name, shown):
    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile(name, b"content")})

    assert response.status_code == 302
    uploaded = UploadedFile.objects.get()
    assert uploaded.stored_name == shown
    (stored,) = stored_files(media_root)
    assert stored.resolve().is_relative_to(media_root.resolve())
    assert stored.read_bytes() == b"content"


def test_long_names_are_cut_to_fit_keeping_the_extension(admin_client, media_root):
    admin_client.post(ADD_URL, {"file": SimpleUploadedFile("a" * 400 + ".pdf", b"%PDF")})

    uploaded = UploadedFile.objects.get()
    assert len(uploaded.file.name) <= 255
    assert uploaded.stored_name.startswith("aaaa")
    assert uploaded.stored_name.endswith(".pdf")
    assert (media_root / uploaded.file.name).read_bytes() == b"%PDF"


@pytest.mark.parametrize("name", ["$$$", "\uff0e\uff0e\uff0e", "$$$.\uff0e"])
def test_names_that_cleaning_would_empty_get_a_form_error(admin_client, media_root, name):
    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile(name, b"content")})

    assert response.status_code == 200
    assert (
        f"This file&#x27;s name has no letters or digits that can be kept ({name}): rename the "
        "file, e.g. to report.pdf, and upload it again."
    ) in response.text
    assert form_error_codes(response) == ["unusable_name"]
    assert not UploadedFile.objects.exists()
    assert not media_root.exists()


def test_names_too_long_for_local_disks_are_cut_to_255_bytes(admin_client, media_root):
    # 204 characters, but 404 bytes in UTF-8: more than a local disk takes in a name.
    name = "\u00e9" * 200 + ".pdf"

    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile(name, b"%PDF")})

    assert response["Location"] == reverse("admin:uploader_uploadedfile_changelist")
    uploaded = UploadedFile.objects.get()
    assert uploaded.stored_name.startswith("\u00e9\u00e9\u00e9")
    assert uploaded.stored_name.endswith(".pdf")
    assert len(uploaded.stored_name.encode()) <= 255
    assert (media_root / uploaded.file.name).read_bytes() == b"%PDF"


CJK = "\u6587"  # 3 bytes in UTF-8: names of few characters and many bytes
EXTENSION_123 = "." + CJK * 40 + "xx"  # 123 bytes: half the room a name has, kept
EXTENSION_124 = "." + CJK * 41  # 124 bytes: more than half, a part of the name


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        # 247 bytes at most: room for the 8 characters Django adds to a name that is taken.
        (CJK * 81 + ".pdf", CJK * 81 + ".pdf"),
        (CJK * 82 + ".pdf", CJK * 81 + ".pdf"),
        (CJK * 50 + EXTENSION_123, CJK * 41 + EXTENSION_123),
        (CJK * 50 + EXTENSION_124, CJK * 50 + "." + CJK * 32),
    ],
)
def test_names_are_cut_to_247_bytes_keeping_an_extension_of_reasonable_length(
    admin_client, media_root, name, stored
):
    uploaded = upload(admin_client, name, b"%PDF")

    assert uploaded.stored_name == stored
    assert (media_root / uploaded.file.name).read_bytes() == b"%PDF"


def test_a_folder_that_cannot_take_files_saves_nothing_and_says_so(admin_client, media_root):
    # What a volume that is not mounted can leave: a file where the media folder should be.
    media_root.write_text("not a folder")

    response = admin_client.post(
        ADD_URL, {"file": SimpleUploadedFile("report.txt", b"1")}, follow=True
    )

    assert (
        "The file could not be stored (NotADirectoryError), and nothing was saved. "
        "The storage&#x27;s folder is not a folder: check that its volume is mounted."
    ) in response.text
    assert not UploadedFile.objects.exists()
    assert media_root.read_text() == "not a folder"


@pytest.fixture
def storage_down(use_storage):
    """An S3 DSN whose endpoint refuses connections, as a stopped storage service does."""
    use_storage(s3_dsn(closed_endpoint()))


def test_storage_down_saves_nothing_and_says_so(admin_client, storage_down, caplog):
    response = admin_client.post(
        ADD_URL, {"file": SimpleUploadedFile("report.txt", b"numbers")}, follow=True
    )

    assert response.redirect_chain == [(ADD_URL, 302)]
    assert (
        "The file could not be stored (EndpointConnectionError), and nothing was saved. "
        "The storage service may be down: try again in a moment."
    ) in response.text
    assert not UploadedFile.objects.exists()
    # Whatever the storage may have kept is removed, or logged as left there.
    errors = storage_errors(caplog)
    name = errors[0].split()[3]
    assert name.endswith("/report.txt")
    assert errors == [
        f"Could not {action} {name} in the storage: EndpointConnectionError"
        for action in ("store", "remove")
    ] + [f"{name} may be left in the storage: reconcile_media --fix removes it"]
    # The app keeps serving.
    assert admin_client.get(reverse("admin:index")).status_code == 200


@pytest.fixture
def failing_inserts():
    """Make the database refuse new rows, as a write failing after the upload would."""
    with connection.cursor() as cursor:
        refuse_inserts(cursor, "disk full")


def test_a_row_that_cannot_be_written_leaves_no_stored_file(
    admin_client, media_root, failing_inserts
):
    with pytest.raises(Exception, match="disk full"):
        admin_client.post(ADD_URL, {"file": SimpleUploadedFile("report.txt", b"numbers")})

    assert list(media_root.iterdir()) == []  # no file, nor the folder made for it


@pytest.fixture
def failing_commits(transactional_db):
    """Make the database refuse new rows only at COMMIT, after the row and its file were written."""
    with connection.cursor() as cursor:
        undo = refuse_inserts(cursor, "the disk filled up at commit", at_commit=True)
    yield
    with connection.cursor() as cursor:
        cursor.execute(undo)


def test_a_commit_that_fails_after_the_row_was_written_leaves_no_stored_file(
    admin_client, media_root, failing_commits
):
    with pytest.raises(Exception, match="the disk filled up at commit"):
        admin_client.post(ADD_URL, {"file": SimpleUploadedFile("report.txt", b"numbers")})

    assert not UploadedFile.objects.exists()
    assert list(media_root.iterdir()) == []


def test_deleting_removes_the_file_only_once_committed(
    media_root, django_capture_on_commit_callbacks
):
    uploaded = UploadedFileFactory()
    stored = media_root / uploaded.file.name

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        uploaded.delete()
    assert stored.exists()

    callbacks[0]()
    assert not stored.exists()


def test_deleting_then_rolling_back_keeps_the_file(media_root, transactional_db):
    uploaded = UploadedFileFactory()
    pk, stored = uploaded.pk, media_root / uploaded.file.name

    def delete_then_fail():
        with transaction.atomic():
            uploaded.delete()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        delete_then_fail()

    assert stored.exists()
    assert UploadedFile.objects.filter(pk=pk).exists()


def test_bulk_delete_in_the_admin_removes_every_file(admin_client, media_root, transactional_db):
    uploads = UploadedFileFactory.create_batch(3)

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_changelist"),
        {"action": "delete_selected", "_selected_action": [u.pk for u in uploads], "post": "yes"},
    )

    assert response.status_code == 302
    assert not UploadedFile.objects.exists()
    assert list(media_root.iterdir()) == []  # no file, nor the folders made for them


def test_replacing_the_file_removes_the_old_one(admin_client, media_root, transactional_db):
    uploaded = UploadedFileFactory()
    old = media_root / uploaded.file.name

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]),
        {"file": SimpleUploadedFile("new.txt", b"new")},
    )

    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert not old.parent.exists()
    assert (media_root / uploaded.file.name).read_bytes() == b"new"
