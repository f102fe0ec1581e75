"""System checks of the uploader's configuration, run by `manage.py check --deploy`."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.files, deploy=True)
def check_media_storage(app_configs, **kwargs):
    """Warn when production keeps uploads on the container's own disk."""
    if settings.DEBUG or urlsplit(settings.DEFAULT_STORAGE_DSN).scheme != "file":
        return []
    return [
        Warning(
            "DEFAULT_STORAGE_DSN keeps uploaded files on this container's disk: they are lost "
            "when it is redeployed, and other instances of the app do not see them.",
            hint="Set DEFAULT_STORAGE_DSN to a bucket, "
            "e.g. s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4",
            id="uploader.W001",
        )
    ]
