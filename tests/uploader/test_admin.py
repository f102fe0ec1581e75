import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db


def test_upload_through_the_admin_lands_in_media_root(admin_client, media_root):
    upload = SimpleUploadedFile("report.txt", b"quarterly numbers\n")

    response = admin_client.post(reverse("admin:uploader_uploadedfile_add"), {"file": upload})

    assert response.status_code == 302
    uploaded = UploadedFile.objects.get()
    assert (media_root / uploaded.file.name).read_bytes() == b"quarterly numbers\n"
    assert uploaded.file.url == f"/media/{uploaded.file.name}"


def test_upload_is_served_in_debug(admin_client, debug):
    uploaded = UploadedFileFactory()

    response = admin_client.get(uploaded.file.url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"Hello, world!\n"


def test_media_is_not_served_by_django_without_debug(client):
    uploaded = UploadedFileFactory()

    assert client.get(uploaded.file.url).status_code == 404


def test_changelist_shows_name_and_link(admin_client):
    uploaded = UploadedFileFactory()

    response = admin_client.get(reverse("admin:uploader_uploadedfile_changelist"))

    assert response.status_code == 200
    assert uploaded.file.name in response.text
    assert f'<a href="{uploaded.file.url}">Download</a>' in response.text


def test_add_form_requires_a_file(admin_client):
    response = admin_client.post(reverse("admin:uploader_uploadedfile_add"), {})

    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not UploadedFile.objects.exists()
