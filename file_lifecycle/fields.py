"""ManagedFileField: a FileField whose files follow the lifecycle (file_lifecycle/lifecycle.py),
and whose form field checks a new file's size and name."""

import posixpath
import re
import secrets
from typing import ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save
from django.template.defaultfilters import filesizeformat

from file_lifecycle import lifecycle

# The names own_folder gives, and its folders: reconcile_media removes only files (and empty
# folders) of this shape that no row points at, and leaves anything else in the storage alone.
OWN_FOLDER = re.compile(r"[0-9a-f]{16}")
LAYOUT = re.compile(rf"{OWN_FOLDER.pattern}/[^/]+")


def own_folder(instance, filename):
    """Give each upload a folder of its own, so same-named files never meet, even at once."""
    return f"{secrets.token_hex(8)}/{filename}"


class ManagedFieldFile(FieldFile):
    # The name of the file this one replaced in its row, until that change is saved.
    replaced = None

    def save(self, name, content, save=True):
        """Store a new file through the lifecycle: Django's FileField.pre_save calls this for
        a file not stored yet, before the row is written."""
        instance, field = self.instance, self.field
        rows = type(instance)._default_manager.filter(pk=instance.pk)
        old = None if instance.pk is None else rows.values_list(field.attname, flat=True).first()
        name = field.generate_filename(instance, name)
        self.name = lifecycle.store(self.storage, name, content, field.max_length)
        stored = type(self)(instance, field, self.name)
        stored.replaced = old if old != self.name else None
        setattr(instance, field.attname, stored)
        if save:
            instance.save()


class ManagedFileField(models.FileField):
    """A FileField (a folder of its own per file, names up to 255 characters) whose files are
    stored before their row is written and deleted once its deletion (or replacement) commits,
    listed as PendingDeletion meanwhile."""

    attr_class = ManagedFieldFile

    def __init__(self, *args, upload_to=own_folder, max_length=255, **kwargs):
        super().__init__(*args, upload_to=upload_to, max_length=max_length, **kwargs)

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        if not cls._meta.abstract:
            post_save.connect(self.delete_replaced, sender=cls)
            post_delete.connect(self.delete_with_row, sender=cls)

    def delete_replaced(self, instance, **kwargs):
        file = getattr(instance, self.attname)
        if getattr(file, "replaced", None):  # another field's FieldFile may be assigned
            lifecycle.delete_after_commit(self, file.replaced)
            file.replaced = None

    def delete_with_row(self, instance, **kwargs):
        if file := getattr(instance, self.attname):
            lifecycle.delete_after_commit(self, file.name)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": UploadField, "storage": self.storage, **kwargs})


class UploadField(forms.FileField):
    """Refuses a new file larger than UPLOAD_MAX_SIZE, or whose name the storage's cleaning
    would empty. A form saved without a new file keeps the stored one, unchecked."""

    default_error_messages: ClassVar = {
        "too_large": "This file is %(size)s; files can be %(limit)s at most.",
        "unusable_name": "This file's name has no letters or digits that can be kept "
        "(%(name)s): rename the file, e.g. to report.pdf, and upload it again.",
    }

    def __init__(self, *, storage, **kwargs):
        super().__init__(**kwargs)
        self.storage = storage

    def to_python(self, data):
        """Django's checks, then ours: called for a new file only (FileField.clean)."""
        upload = super().to_python(data)
        if upload is None:
            return None
        limit = settings.UPLOAD_MAX_SIZE
        if upload.size > limit:
            size, most = filesizeformat(upload.size), filesizeformat(limit)
            if size == most:  # "10.0 MB; at most 10.0 MB" would not say what is wrong
                size, most = f"{upload.size:,}\xa0bytes", f"{limit:,}\xa0bytes"
            raise self.refusal("too_large", size=size, limit=most)
        try:
            self.storage.get_valid_name(posixpath.basename(upload.name))
        except SuspiciousFileOperation:
            raise self.refusal("unusable_name", name=upload.name) from None
        return upload

    def refusal(self, code, **params):
        return forms.ValidationError(self.error_messages[code], code=code, params=params)
