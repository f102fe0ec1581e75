"""The errors of storages, as the uploader, /readyz and reconcile_media report them."""

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

# What a storage raises when it cannot keep a file: a full or read-only disk, a bucket that
# is unreachable, refuses the credentials, or rejects the upload's ACL.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, S3UploadFailedError)


def describe_error(error):
    """The error's type, and S3's error code: never its text, which may hold hosts and URLs."""
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    name = type(error).__name__  # boto3 names some after their code: NoSuchBucket
    return f"{name} ({code})" if code and code != name else name
