from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import resolve, reverse

from tests.helpers import closed_endpoint, s3_dsn, upload
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db


def test_upload_through_the_admin_lands_in_media_root(admin_client, media_root):
    uploaded = upload(admin_client, "report.txt", b"quarterly numbers\n")

    assert (media_root / uploaded.file.name).read_bytes() == b"quarterly numbers\n"
    assert uploaded.file.name.endswith("/report.txt")
    assert uploaded.file.url == f"/media/{uploaded.file.name}"


def test_same_name_uploads_keep_both_files(admin_client, media_root):
    first = upload(admin_client, "report.txt", b"first")
    second = upload(admin_client, "report.txt", b"second")

    assert first.file.name != second.file.name
    assert (media_root / first.file.name).read_bytes() == b"first"
    assert (media_root / second.file.name).read_bytes() == b"second"


def test_upload_is_served_in_debug(client, debug):
    uploaded = UploadedFileFactory()

    response = client.get(uploaded.file.url)
    body = b"".join(response.streaming_content)
    response.close()

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"].startswith("inline")
    assert body == b"Hello, world!\n"


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "feed.xml", "script.js", "noext"])
def test_files_a_browser_could_run_are_served_as_downloads_in_debug(client, debug, name):
    uploaded = UploadedFileFactory(file__filename=name, file__data=b"<script>alert(1)</script>")

    response = client.get(uploaded.file.url)
    response.close()

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_is_not_served_by_django_without_debug(client):
    uploaded = UploadedFileFactory()

    assert client.get(uploaded.file.url).status_code == 404


def test_changelist_shows_name_and_link(admin_client):
    uploaded = UploadedFileFactory(file__filename="minutes.txt")

    response = admin_client.get(reverse("admin:uploader_uploadedfile_changelist"))

    assert response.status_code == 200
    assert ">minutes.txt<" in response.text
    assert f'<a href="{uploaded.file.url}">Open</a>' in response.text


def test_add_form_requires_a_file(admin_client):
    response = admin_client.post(reverse("admin:uploader_uploadedfile_add"), {})

    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not UploadedFile.objects.exists()


def test_saving_without_a_new_file_keeps_the_stored_one(admin_client, media_root, transactional_db):
    uploaded = upload(admin_client, "report.txt", b"numbers")

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]), {}
    )

    assert response.status_code == 302
    assert UploadedFile.objects.get().file.name == uploaded.file.name
    assert [p.relative_to(media_root) for p in media_root.rglob("*") if p.is_file()] == [
        Path(uploaded.file.name)
    ]


def test_the_admin_views_take_djangos_arguments_by_position_or_by_name(rf, admin_user):
    # As code that reuses them calls them (a custom URL, an admin subclass): Django's
    # documented object_id and extra_context, either way.
    uploaded = UploadedFileFactory()
    model_admin = admin.site.get_model_admin(UploadedFile)
    request = rf.get("/")
    request.user = admin_user

    pages = {
        "By position": model_admin.changelist_view(request, {"title": "By position"}),
        "By name": model_admin.changelist_view(request, extra_context={"title": "By name"}),
        "Delete by position": model_admin.delete_view(
            request, str(uploaded.pk), {"title": "Delete by position"}
        ),
    }

    for title, page in pages.items():
        assert f"<h1>{title}</h1>" in page.render().text


@pytest.mark.parametrize(("view", "args"), [("add", []), ("change", [1])])
def test_the_upload_forms_take_a_body_as_large_as_a_file_and_its_form(settings, view, args):
    # The ASGI front refuses larger bodies unread; any other URL takes a form's size only.
    match = resolve(reverse(f"admin:uploader_uploadedfile_{view}", args=args))

    assert match.func.request_body_limit == (
        settings.UPLOAD_MAX_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )


def test_other_admin_pages_take_no_larger_body():
    match = resolve(reverse("admin:uploader_uploadedfile_changelist"))

    assert not hasattr(match.func, "request_body_limit")


def test_saving_the_form_without_a_new_file_does_not_check_the_stored_one_again(
    admin_client, settings, use_storage
):
    uploaded = UploadedFileFactory(file__data=b"x" * 2000)
    settings.UPLOAD_MAX_SIZE = 1000  # lowered since
    use_storage(s3_dsn(closed_endpoint()))  # any call to the storage would now fail

    response = admin_client.post(
        reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]), {}
    )

    assert response.status_code == 302
    assert UploadedFile.objects.get().file.name == uploaded.file.name
