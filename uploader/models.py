import logging
import mimetypes
import posixpath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models
from django.utils import timezone

from file_lifecycle import lifecycle
from file_lifecycle.fields import ManagedFileField, derived_name
from file_lifecycle.lifecycle import StorageUnavailable
from myapp.configuration.storages import STORAGE_ERRORS, S3Storage, content_headers, describe_error
from uploader import previews

logger = logging.getLogger(__name__)

UNKNOWN_TYPE = "application/octet-stream"


class UploadedFile(models.Model):
    """A file uploaded through the admin, kept wherever DEFAULT_STORAGE_DSN points; its whole
    life beside its row: file_lifecycle/lifecycle.py.

    A row for a new file describes it itself when saved: its size (from the storage), its type
    (from its stored name, as the storage serves it, never the browser's word) and, for an
    image, a preview stored beside it. So a file posted through the form and one already in
    the storage, saved as UploadedFile(file=stored_name, original_name=chosen_name), get the
    same.
    """

    file = ManagedFileField(derived={previews.PREVIEW: "has_preview"})
    # The name the file was chosen under, before the storage cleaned it (spaces, characters).
    original_name = models.CharField("name", max_length=255, editable=False)
    size = models.PositiveBigIntegerField(null=True, editable=False, help_text="in bytes")
    content_type = models.CharField("type", max_length=255, editable=False)
    # Null for rows older than these columns until `manage.py describe_uploads` fills them.
    uploaded_at = models.DateTimeField("uploaded", null=True, default=timezone.now, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="uploader",
    )
    has_preview = models.BooleanField(default=False, editable=False)

    stored_file = None  # the file name the database holds for this row (from_db, save)

    class Meta:
        indexes = (
            # The admin's list, newest first (and its date hierarchy's first and last dates).
            models.Index(fields=["-uploaded_at", "-id"], name="uploader_newest_first"),
            models.Index(fields=["size"], name="uploader_by_size"),
            # The list's type filter: "image/" and other prefixes (LIKE, in any collation).
            models.Index(
                fields=["content_type"],
                name="uploader_by_type",
                opclasses=["varchar_pattern_ops"],
            ),
        )

    def __str__(self):
        return self.original_name or self.stored_name

    def save(self, *args, **kwargs):
        if self.file and self.file.name != self.stored_file:
            # Within file_operations, a preview (as the file) is removed again if the row fails.
            with lifecycle.file_operations():
                self.describe_new_file()
                super().save(*args, **kwargs)
        else:
            super().save(*args, **kwargs)
        self.stored_file = self.file.name

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance.stored_file = instance.__dict__.get("file")
        return instance

    @property
    def stored_name(self):
        """The file's name in the storage, without its folder."""
        return posixpath.basename(self.file.name)

    @property
    def renamed(self):
        """Whether the storage had to change the name the file was chosen under."""
        return bool(self.original_name) and self.original_name != self.stored_name

    @property
    def opens_in_browser(self):
        """Whether a browser shows the file rather than downloads it, as the storage serves it
        (myapp/configuration/storages.py: text is a download from a bucket)."""
        served_by_bucket = isinstance(self.file.storage, S3Storage)
        headers = content_headers(self.file.name, nosniff=not served_by_bucket)
        return "Content-Disposition" not in headers

    @property
    def preview_url(self):
        """The preview's address, from the row alone: no call to the storage."""
        if not self.has_preview:
            return None
        return self.file.storage.url(derived_name(self.file.name, previews.PREVIEW))

    def describe_new_file(self):
        """Store a file posted through the form (to learn its final name), and fill what the
        row says of a new file: what the caller left unset, all of it for a replaced one."""
        replacing = self.stored_file is not None
        chosen = self.file.name
        # A posted file knows its size; one already stored is asked (a bucket: one request).
        size = self.file.size if replacing or self.size is None else self.size
        # FileField.pre_save stores a posted file, as saving the row would, under a folder of
        # its own (so under another name); a file already in the storage is left as it is.
        self._meta.get_field("file").pre_save(self, self._state.adding)
        posted = self.file.name != chosen
        if posted:
            # Control characters would not be shown, and the database refuses NUL.
            self.original_name = "".join(c for c in chosen if c.isprintable())[:255]
        elif replacing or not self.original_name:
            self.original_name = posixpath.basename(self.file.name)
        self.size = size
        if posted or replacing or not self.content_type:
            self.content_type = content_type_of(self.file.name)
        self.has_preview = self.store_preview()

    def store_preview(self):
        """Make the new file's preview, if it is an image, from the stored file, and store it
        beside the file; whatever fails, the upload goes on without one."""
        if not previews.can_preview(self.content_type, self.size):
            return False
        storage, name = self.file.storage, self.file.name
        try:
            with storage.open(name) as stored:
                preview = previews.make_preview(stored, name)
            if preview is None:
                return False
            lifecycle.store(
                storage,
                derived_name(name, previews.PREVIEW),
                ContentFile(preview),
                self._meta.get_field("file").max_length,
            )
        except (*STORAGE_ERRORS, StorageUnavailable) as error:
            # Logged by the lifecycle when storing; reading is logged here.
            logger.warning("No preview for %s: %s", name, describe_error(error))
            return False
        return True


def content_type_of(name):
    """The type a stored file is served as (a bucket stores it with the file), from its name:
    mimetypes's guess, or application/octet-stream for a compressed or unknown file."""
    content_type, encoding = mimetypes.guess_type(name)
    return UNKNOWN_TYPE if encoding or not content_type else content_type
