"""What a row says of its file, filled in by the model as it saves a new one: through the form,
or for a file already in the storage (a direct upload to the bucket), the same."""

import urllib.request

import pytest
from django.contrib import admin
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from file_lifecycle.fields import derived_name
from tests.helpers import closed_endpoint, image_bytes, reconcile, s3_dsn, upload
from uploader import previews
from uploader.admin import renamed_message
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db


def stored_directly(name, content):
    """A file already in the storage, in the app's layout, as a direct upload leaves it."""
    return default_storage.save(f"0123456789abcdef/{name}", ContentFile(content))


def test_a_form_upload_is_described_by_the_server_never_by_the_browser(admin_client, admin_user):
    before = timezone.now()
    file = SimpleUploadedFile("photo.png", image_bytes(), content_type="text/html")

    admin_client.post(reverse("admin:uploader_uploadedfile_add"), {"file": file})

    uploaded = UploadedFile.objects.get()
    assert uploaded.original_name == "photo.png"
    assert uploaded.size == len(image_bytes())
    assert uploaded.content_type == "image/png"
    assert uploaded.uploaded_by == admin_user
    assert before <= uploaded.uploaded_at <= timezone.now()
    assert uploaded.has_preview


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_a_file_already_stored_gets_the_same_description(request, where):
    if where == "bucket":
        request.getfixturevalue("s3")
    name = stored_directly("photo.png", image_bytes())

    uploaded = UploadedFile(file=name, original_name="My photo.png")
    uploaded.save()

    uploaded.refresh_from_db()
    assert (uploaded.original_name, uploaded.size, uploaded.content_type) == (
        "My photo.png",
        len(image_bytes()),
        "image/png",
    )
    assert uploaded.has_preview
    with (
        urllib.request.urlopen(uploaded.preview_url)
        if where == "bucket"
        else open(default_storage.path(derived_name(name, previews.PREVIEW)), "rb") as preview
    ):
        assert preview.read(12)[8:] == b"WEBP"
    assert reconcile() == (0, "1 rows, 2 stored files: rows and stored files match.\n")


def test_a_size_the_caller_confirmed_is_kept():
    name = stored_directly("notes.txt", b"notes")

    uploaded = UploadedFile.objects.create(file=name, original_name="notes.txt", size=5)

    assert (uploaded.size, uploaded.content_type) == (5, "text/plain")


def test_saving_a_row_again_asks_the_storage_nothing(use_storage):
    uploaded = UploadedFile.objects.create(file=stored_directly("a.png", image_bytes()))
    use_storage(s3_dsn(closed_endpoint()))  # any call to the storage would now fail

    uploaded.original_name = "renamed.png"
    uploaded.save()
    UploadedFile.objects.get().save()


@pytest.mark.parametrize(
    ("name", "in_folder", "in_bucket"),
    [
        ("photo.jpg", "Open", "Open"),
        ("paper.pdf", "Open", "Open"),
        ("song.mp3", "Open", "Open"),
        ("notes.txt", "Open", "Download"),  # a bucket cannot send nosniff: text is a download
        ("page.html", "Download", "Download"),
        ("drawing.svg", "Download", "Download"),
        ("archive.tar.gz", "Download", "Download"),
        ("no-extension", "Download", "Download"),
    ],
)
def test_the_link_says_what_the_browser_will_do(request, name, in_folder, in_bucket):
    uploaded = UploadedFile(file=f"0123456789abcdef/{name}")
    assert ("Open" if uploaded.opens_in_browser else "Download") == in_folder

    request.getfixturevalue("s3")
    uploaded = UploadedFile(file=f"0123456789abcdef/{name}")
    assert ("Open" if uploaded.opens_in_browser else "Download") == in_bucket


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_open_and_download_behave_as_the_link_says(request, admin_client, debug, where):
    # What the browser receives: shown inline, or as an attachment (tests/e2e clicks them).
    if where == "bucket":
        request.getfixturevalue("s3")
    files = [("notes.txt", b"notes"), ("photo.png", image_bytes()), ("page.html", b"<p>")]
    for uploaded in [upload(admin_client, name, content) for name, content in files]:
        if where == "bucket":
            response = urllib.request.urlopen(uploaded.file.url)
        else:
            response = admin_client.get(uploaded.file.url)
        disposition = response.headers.get("Content-Disposition", "inline")
        response.close()
        expected = "Open" if uploaded.opens_in_browser else "Download"
        assert disposition.startswith("attachment") == (expected == "Download"), uploaded


def test_a_preview_the_storage_cannot_take_leaves_the_upload_without_one(
    admin_client, media_root, caplog
):
    # A file where the preview's folder would go: the storage refuses to write there.
    name = stored_directly("photo.png", image_bytes())
    (media_root / name).parent.joinpath("derived").write_bytes(b"in the way")

    uploaded = UploadedFile.objects.create(file=name)

    assert not uploaded.has_preview
    logged = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert ("WARNING", f"No preview for {name}: StorageUnavailable") in logged


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_older_rows_get_their_size_time_and_preview_from_describe_uploads(request, capsys, where):
    if where == "bucket":
        request.getfixturevalue("s3")
    image = UploadedFile.objects.create(file=stored_directly("photo.png", image_bytes()))
    text = UploadedFile.objects.create(file=stored_directly("notes.txt", b"notes"))
    lost = UploadedFile.objects.create(file=stored_directly("lost.txt", b"lost"))
    default_storage.delete(lost.file.name)
    default_storage.delete(derived_name(image.file.name, previews.PREVIEW))
    # As migration 0004 leaves the rows older than it.
    UploadedFile.objects.update(size=None, uploaded_at=None, has_preview=False)

    with pytest.raises(CommandError) as failed:
        call_command("describe_uploads")

    assert str(failed.value) == "Described 2 file(s); 1 left as they were (listed above)."
    assert capsys.readouterr().out == (
        f"{lost.file.name} (UploadedFile {lost.pk}): missing from the storage "
        "(reconcile_media lists it too)\n"
    )
    image.refresh_from_db()
    text.refresh_from_db()
    lost.refresh_from_db()
    assert (image.size, image.has_preview, text.size) == (len(image_bytes()), True, 5)
    assert text.uploaded_at == default_storage.get_modified_time(text.file.name)
    assert (lost.size, lost.uploaded_at) == (None, None)
    # Run again, it retries only what is left.
    UploadedFile.objects.filter(pk=lost.pk).delete()
    call_command("describe_uploads")
    assert capsys.readouterr().out == "Described 0 file(s).\n"


def test_the_admin_saves_a_file_already_stored_as_the_form_would(rf, admin_user):
    # What a direct upload's completion does: the row, by the admin's save_model, no form.
    model_admin = admin.site.get_model_admin(UploadedFile)
    request = rf.post("/")
    request.user = admin_user
    request._messages = CookieStorage(request)
    uploaded = UploadedFile(file=stored_directly("a_b.png", image_bytes()), original_name="a b.png")

    model_admin.save_model(request, uploaded, None, change=False)

    uploaded.refresh_from_db()
    assert (uploaded.uploaded_by, uploaded.has_preview) == (admin_user, True)
    assert [str(message) for message in request._messages] == [renamed_message(uploaded)]


def test_describe_uploads_lists_every_row_a_failing_storage_left(use_storage, capsys):
    rows = [UploadedFile.objects.create(file=stored_directly(n, b"x")) for n in ("a.txt", "b.txt")]
    UploadedFile.objects.update(size=None, uploaded_at=None)
    use_storage(s3_dsn(closed_endpoint()))

    with pytest.raises(CommandError) as failed:
        call_command("describe_uploads")

    assert str(failed.value) == "Described 0 file(s); 2 left as they were (listed above)."
    assert capsys.readouterr().out == "".join(
        f"{row.file.name} (UploadedFile {row.pk}): the storage failed: EndpointConnectionError\n"
        for row in rows
    )
    assert UploadedFile.objects.filter(size=None).count() == 2


def test_a_replaced_file_is_described_anew(admin_client):
    row = upload(admin_client, "notes.txt", b"notes")

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_change", args=[row.pk]),
        {"file": SimpleUploadedFile("new photo.png", image_bytes())},
    )

    assert response.status_code == 302, response.content
    row.refresh_from_db()
    assert (row.original_name, row.size, row.content_type, row.has_preview) == (
        "new photo.png",
        len(image_bytes()),
        "image/png",
        True,
    )


def test_a_row_saved_again_keeps_its_file_and_preview_as_they_are(media_root):
    row = UploadedFile.objects.create(file=stored_directly("photo.png", image_bytes()))
    preview = derived_name(row.file.name, previews.PREVIEW)

    row.save()

    row.refresh_from_db()
    assert row.has_preview
    stored = sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*.*"))
    assert stored == sorted([row.file.name, preview])


def test_a_file_already_stored_without_a_chosen_name_is_named_as_stored():
    row = UploadedFile.objects.create(file=stored_directly("report.pdf", b"%PDF-1.7"))

    assert (row.original_name, row.size, row.content_type) == ("report.pdf", 8, "application/pdf")


def test_the_type_a_caller_gives_for_a_new_file_is_never_taken():
    """As a view that passed on the browser's Content-Type would: the name decides."""
    posted = SimpleUploadedFile("photo.png", image_bytes(), content_type="text/html")

    row = UploadedFile.objects.create(file=posted, content_type="text/html")

    assert row.content_type == "image/png"


def test_a_long_chosen_name_is_kept_to_its_column():
    """A form's upload has its name cut to 255 characters by Django; a file from code may not."""
    name = "a" * 300 + ".txt"

    row = UploadedFile.objects.create(file=ContentFile(b"x", name=name))

    assert row.original_name == name[:255]
    assert row.renamed


def test_saving_some_fields_saves_those_only():
    row = UploadedFile.objects.create(file=stored_directly("notes.txt", b"notes"))
    row.original_name, row.size = "renamed.txt", 1

    row.save(update_fields=["original_name"])

    row.refresh_from_db()
    assert (row.original_name, row.size) == ("renamed.txt", 5)
