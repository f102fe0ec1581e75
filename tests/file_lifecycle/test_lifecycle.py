"""The lifecycle outside the admin: Django's own FieldFile.save(), and views of a forker's own
that wrap their transactions in file_operations()."""

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from file_lifecycle.lifecycle import file_operations
from tests.uploader.factories import UploadedFileFactory
from uploader.models import UploadedFile


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
