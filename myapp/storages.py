"""Storage classes that django-storage-url builds from DEFAULT_STORAGE_DSN, by its scheme."""

from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage

from myapp.environment import parse_storage_dsn


class FileSystemStorage(DjangoFileSystemStorage):
    """A file:// DSN's folder, located exactly where the settings' MEDIA_ROOT says.

    django-storage-url keeps percent-escapes in the path (a space stays "%20"), which
    would put files in a folder other than MEDIA_ROOT.
    """

    def __init__(self, dsn):
        location, base_url = parse_storage_dsn(str(dsn))
        super().__init__(location=location, base_url=base_url)
