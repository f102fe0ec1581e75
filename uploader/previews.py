"""A small preview of each uploaded image, made once (Pillow) when its row is saved, and kept
beside its file in the storage (file_lifecycle.fields.derived_name), served from there.

Images are hostile until decoded: one that is too large to decode within bounded memory, is
not the image its name says, is truncated or is a decompression bomb gets no preview, and its
upload goes on without one.
"""

import io
import logging
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

# The derived file's name (file_lifecycle.fields.derived_name): WebP keeps transparency, and
# every browser shows it inline, from a folder or a bucket.
PREVIEW = "preview.webp"
# The longest side of a preview, in pixels: the list shows it smaller, the change form whole.
PREVIEW_SIZE = (320, 320)
# What a preview is made from, by the name's type: the formats Pillow opens and browsers show.
TYPES = {"image/gif": "GIF", "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Pillow holds a decoded pixel in up to 4 bytes (RGB too), and resizing an image with alpha
# first makes a premultiplied copy of it: a limit on those bytes keeps a preview within 64 MB
# (12 million pixels, a phone's photo, without alpha; 6 million with; JPEGs decode at a
# reduced scale first).
MAX_DECODED_BYTES = 48 * 10**6
# Larger files are not read for a preview: from a bucket, each byte is a download.
MAX_FILE_SIZE = 50 * 10**6
# Everything Pillow raises for a file it cannot make an image of.
UNUSABLE = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    UnidentifiedImageError,
    OSError,  # truncated data, a broken stream
    SyntaxError,  # Pillow's plugins raise it for malformed headers
    ValueError,
    EOFError,
)


class TooLarge(ValueError):
    """An image that would take more than MAX_DECODED_BYTES to make a preview of."""


def can_preview(content_type, size):
    return content_type in TYPES and size is not None and size <= MAX_FILE_SIZE


def make_preview(file, name):
    """A WebP preview of the image in file (an open binary file, stored as name) as bytes, or
    None if it cannot be made within MAX_DECODED_BYTES. Its format need not be the one its
    name says: browsers show any of them."""
    try:
        # Pillow warns of images over Image.MAX_IMAGE_PIXELS (89 million pixels) as it opens
        # them: such an image gets no preview, as any over MAX_DECODED_BYTES.
        with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
            image = Image.open(file, formats=list(TYPES.values()))
        with image:
            # JPEG decodes at 1/2 to 1/8 scale when that still covers the preview.
            image.draft("RGB", PREVIEW_SIZE)
            if decoded_bytes(image) > MAX_DECODED_BYTES:
                raise TooLarge(f"{image.width} x {image.height} pixels, {image.mode}")
            image.thumbnail(PREVIEW_SIZE)
            # Turned by the EXIF orientation a phone's camera writes, once small.
            preview = ImageOps.exif_transpose(image)
            if preview.mode not in {"RGB", "RGBA"}:
                preview = preview.convert("RGBA")
            data = io.BytesIO()
            preview.save(data, "WEBP", quality=80)
    except UNUSABLE as error:
        shown = f"{error}" if isinstance(error, TooLarge) else type(error).__name__
        logger.info("No preview for %s: %s", name, shown)
        return None
    return data.getvalue()


def decoded_bytes(image):
    """The memory a preview of image takes at most (see MAX_DECODED_BYTES)."""
    return image.width * image.height * (8 if "A" in image.mode else 4)
