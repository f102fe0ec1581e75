"""Many files at once through the app (file_lifecycle/admin.py and uploads.js): each file is
one post of the add form, answered in JSON when uploads.js asks; a body over the limit comes
back to the form with its error (the ASGI front drains it, the form says why)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from file_lifecycle.admin import too_large_url
from tests.helpers import closed_endpoint, s3_dsn
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db

ADD = reverse("admin:uploader_uploadedfile_add")
JSON = {"Accept": "application/json"}


def post_file(client, name, content):
    """One file as uploads.js sends it: the add form, asking for JSON."""
    return client.post(ADD, {"file": SimpleUploadedFile(name, content)}, headers=JSON)


def test_each_file_is_a_post_answered_in_json(admin_client, media_root):
    first = post_file(admin_client, "a.txt", b"first")
    second = post_file(admin_client, "b.txt", b"second")

    assert (first.status_code, first.json()) == (200, {"added": "a.txt"})
    assert (second.status_code, second.json()) == (200, {"added": "b.txt"})
    names = sorted(uploaded.file.name for uploaded in UploadedFile.objects.all())
    assert [(media_root / name).read_bytes() for name in names] in (
        [b"first", b"second"],
        [b"second", b"first"],
    )
    # The admin's own messages, shown by the list the browser goes to once all are sent.
    listed = admin_client.get(reverse("admin:uploader_uploadedfile_changelist"))
    assert listed.text.count("was added successfully") == 2


def test_a_refused_file_says_why_in_json(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = 10

    too_large = post_file(admin_client, "big.txt", b"x" * 11)
    no_name = post_file(admin_client, "$$$", b"x")

    assert too_large.status_code == 400
    assert too_large.json() == {
        "error": "This file is 11\xa0bytes; files can be 10\xa0bytes at most."
    }
    assert no_name.status_code == 400
    assert "rename the file" in no_name.json()["error"]
    assert not UploadedFile.objects.exists()


def test_a_storage_down_is_said_in_json(admin_client, use_storage):
    use_storage(s3_dsn(closed_endpoint()))

    response = post_file(admin_client, "a.txt", b"x")

    assert response.status_code == 503
    assert response.json()["error"].startswith("The file could not be stored (")
    assert not UploadedFile.objects.exists()


def test_the_add_page_offers_many_files_and_the_change_page_one(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = 100 * 10**6
    add = admin_client.get(ADD).text
    uploaded = UploadedFileFactory()
    change = admin_client.get(reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk]))

    assert 'data-upload-limit="100000000"' in add
    assert 'data-upload-limit-text="100\xa0MB"' in add
    assert 'data-upload-many="true"' in add
    assert 'data-upload-done="/admin/uploader/uploadedfile/"' in add
    assert "data-upload-direct" not in add  # a folder: through the app
    assert "file_lifecycle/uploads." in add
    assert 'data-upload-limit="100000000"' in change.text
    assert "data-upload-many" not in change.text


def test_a_bucket_offers_direct_uploads(admin_client, s3):
    add = admin_client.get(ADD).text

    assert 'data-upload-direct="/admin/uploader/uploadedfile/direct/"' in add


def test_a_body_too_large_comes_back_to_the_form_with_its_error(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = 100 * 10**6

    response = admin_client.get(f"{ADD}?too_large={200 * 10**6}")

    assert response.status_code == 200
    assert "This file is 200\xa0MB; files can be 100\xa0MB at most. Nothing was saved." in (
        response.text
    )
    assert 'id="id_file"' in response.text


def test_a_body_over_the_page_whose_file_is_within_the_limit_says_so(admin_client, settings):
    """The form's other fields were the excess: the form's words for a file do not apply."""
    settings.UPLOAD_MAX_SIZE = 100 * 10**6

    response = admin_client.get(f"{ADD}?too_large={100 * 10**6}")

    assert (
        '<li class="error">The upload was 100\xa0MB, more than this page takes. '
        "Nothing was saved.</li>"
    ) in response.text


def test_the_form_keeps_its_query_when_sent_back():
    back = too_large_url(ADD, "_changelist_filters=q%3Da&too_large=1", 5)

    assert back == f"{ADD}?_changelist_filters=q%3Da&too_large=5"
