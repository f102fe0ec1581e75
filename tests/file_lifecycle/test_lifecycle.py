"""The lifecycle outside the admin (Django's own FieldFile.save(), and views of a forker's own
that wrap their transactions in file_operations()), and the files derived from a stored file
(the uploader's previews), which follow it."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse

from file_lifecycle.fields import derived_name
from file_lifecycle.lifecycle import file_operations
from file_lifecycle.models import PendingDeletion
from tests.helpers import image_bytes, upload
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile
from uploader.previews import PREVIEW


def stored_files(root):
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def test_saving_a_new_file_through_the_field_replaces_the_stored_one(media_root, transactional_db):
    uploaded = UploadedFileFactory()

    uploaded.file.save("new.txt", ContentFile(b"new"))  # Django's documented FieldFile API

    uploaded.refresh_from_db()
    assert uploaded.file.name.endswith("/new.txt")
    assert stored_files(media_root) == [uploaded.file.name]


def test_a_failure_in_nested_file_operations_removes_what_the_inner_ones_stored(
    media_root, transactional_db
):
    def view():
        with file_operations(), transaction.atomic():
            with file_operations():  # e.g. a helper of the view's, which succeeds
                UploadedFileFactory()
            raise RuntimeError("the view fails after it")

    with pytest.raises(RuntimeError):
        view()

    assert not UploadedFile.objects.exists()
    assert stored_files(media_root) == []


def test_a_files_preview_is_replaced_and_deleted_with_it(
    admin_client, media_root, transactional_db
):
    uploaded = upload(admin_client, "first.png", image_bytes())
    first = [uploaded.file.name, derived_name(uploaded.file.name, PREVIEW)]
    assert stored_files(media_root) == sorted(first)

    change_url = reverse("admin:uploader_uploadedfile_change", args=[uploaded.pk])
    admin_client.post(change_url, {"file": SimpleUploadedFile("second.png", image_bytes())})

    uploaded.refresh_from_db()
    second = [uploaded.file.name, derived_name(uploaded.file.name, PREVIEW)]
    assert stored_files(media_root) == sorted(second)
    assert (uploaded.original_name, uploaded.has_preview) == ("second.png", True)

    admin_client.post(change_url, {"file": SimpleUploadedFile("third.txt", b"no image")})

    uploaded.refresh_from_db()
    assert stored_files(media_root) == [uploaded.file.name]
    assert not uploaded.has_preview

    uploaded.delete()

    assert list(media_root.iterdir()) == []  # no folder left either
    assert not PendingDeletion.objects.exists()
