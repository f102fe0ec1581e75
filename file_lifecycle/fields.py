"""ManagedFileField: a FileField whose files follow the lifecycle (file_lifecycle/lifecycle.py),
and whose form field checks a new file's size and name; format_size, the one way sizes are
written for people."""

import functools
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

from file_lifecycle import lifecycle

# Files made from a stored file (its preview, say) are kept in a folder inside its own folder,
# where no uploaded file's name can reach (names hold no "/"), and share its life.
DERIVED_FOLDER = "derived"
# The names own_folder gives, their derived files, and their folders: reconcile_media removes
# only files (and empty folders) of this shape that no row needs, and leaves anything else in
# the storage alone.
OWN_FOLDER = re.compile(r"[0-9a-f]{16}")
LAYOUT = re.compile(rf"{OWN_FOLDER.pattern}/(?:{DERIVED_FOLDER}/)?[^/]+")
# Decimal units, as UPLOAD_MAX_SIZE is read ("100MB" is 100,000,000 bytes): Django's
# filesizeformat divides by 1024 but writes "MB", so it shows that limit as "95.4 MB".
SIZE_UNITS = [(10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")]


def own_folder(instance, filename):
    """Give each upload a folder of its own, so same-named files never meet, even at once."""
    return f"{secrets.token_hex(8)}/{filename}"


def format_size(size):
    """A size in bytes as people read it, in decimal units: 1.5\xa0MB, 100\xa0MB, 999\xa0bytes."""
    for factor, unit in SIZE_UNITS:
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f"\xa0{unit}"
    return f"{size}\xa0byte" if size == 1 else f"{size}\xa0bytes"


def derived_name(name, derived):
    """Where a file made from the stored file name (e.g. its preview, derived="preview.webp")
    is kept: in a folder of name's own folder."""
    return posixpath.join(posixpath.dirname(name), DERIVED_FOLDER, derived)


class ManagedFieldFile(FieldFile):
    # The names of the file this one replaced in its row, and of the files derived from it,
    # until that change is saved.
    replaced = None

    def save(self, name, content, save=True):
        """Store a new file through the lifecycle: Django's FileField.pre_save calls this for
        a file not stored yet, before the row is written."""
        instance, field = self.instance, self.field
        rows = type(instance)._default_manager.filter(pk=instance.pk)
        flags = list(field.derived.values())
        old = None if instance.pk is None else rows.values(field.attname, *flags).first()
        name = field.generate_filename(instance, name)
        self.name = lifecycle.store(self.storage, name, content, field.max_length)
        stored = type(self)(instance, field, self.name)
        if old and old[field.attname] != self.name:
            replaced = old[field.attname]
            stored.replaced = [replaced, *field.derived_names(replaced, old.get)]
        setattr(instance, field.attname, stored)
        if save:
            instance.save()


class ManagedFileField(models.FileField):
    """A FileField (a folder of its own per file, names up to 255 characters) whose files are
    stored before their row is written and deleted once its deletion (or replacement) commits,
    listed as PendingDeletion meanwhile.

    derived names the files its model may make from each stored file (derived_name), each with
    the model's boolean field that says the row's file has one, e.g. {"preview.webp":
    "has_preview"}: they are deleted with it, and reconcile_media keeps them while it has a row.
    """

    attr_class = ManagedFieldFile

    def __init__(self, *args, upload_to=own_folder, max_length=255, derived=None, **kwargs):
        super().__init__(*args, upload_to=upload_to, max_length=max_length, **kwargs)
        self.derived = derived or {}

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.derived:
            kwargs["derived"] = self.derived
        return name, path, args, kwargs

    def derived_names(self, name, has=lambda flag: True):
        """The names of the files derived from the stored file name: those the row's flags
        say exist (has(flag)), or else every one it may have."""
        return [derived_name(name, each) for each, flag in self.derived.items() if has(flag)]

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        if not cls._meta.abstract:
            post_save.connect(self.delete_replaced, sender=cls)
            post_delete.connect(self.delete_with_row, sender=cls)

    def delete_replaced(self, instance, **kwargs):
        file = getattr(instance, self.attname)
        if getattr(file, "replaced", None):  # another field's FieldFile may be assigned
            lifecycle.delete_after_commit(self, *file.replaced)
            file.replaced = None

    def delete_with_row(self, instance, **kwargs):
        if file := getattr(instance, self.attname):
            has = functools.partial(getattr, instance)
            lifecycle.delete_after_commit(self, file.name, *self.derived_names(file.name, has))

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
        # The limit, before a file is chosen: the form shows it under the field.
        if not kwargs.get("help_text"):
            kwargs["help_text"] = f"Files up to {format_size(settings.UPLOAD_MAX_SIZE)}."
        super().__init__(**kwargs)
        self.storage = storage

    def to_python(self, data):
        """Django's checks, then ours: called for a new file only (FileField.clean)."""
        upload = super().to_python(data)
        if upload is None:
            return None
        limit = settings.UPLOAD_MAX_SIZE
        if upload.size > limit:
            size, most = format_size(upload.size), format_size(limit)
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
