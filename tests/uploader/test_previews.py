"""Previews of uploaded images: made once as the row is saved, stored beside the file, and
none for a hostile image, whose upload still goes through, within bounded memory."""

import io
import json
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from file_lifecycle.fields import derived_name
from tests.helpers import BASE_DIR, huge_png, image_bytes, upload
from uploader import previews
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:uploader_uploadedfile_add")
# The memory a preview may take, however hostile the image.
MEMORY_BOUND_MB = 64

# Each hostile image: what it is, by its name and bytes.
HOSTILE = {
    # Over twice Pillow's MAX_IMAGE_PIXELS: refused as Pillow opens it.
    "bomb.png": lambda: huge_png(30_000, 30_000),
    "20000x20000.png": lambda: huge_png(20_000, 20_000),
    # Over Pillow's MAX_IMAGE_PIXELS (a warning only, in Pillow) and over ours.
    "10000x10000.png": lambda: huge_png(10_000, 10_000),
    # Under Pillow's limits, over ours (previews.MAX_DECODED_BYTES).
    "4000x4000-with-alpha.png": lambda: image_bytes((4000, 4000), "PNG", "RGBA"),
    "truncated.png": lambda: image_bytes((2000, 1500))[:5000],
    "truncated.jpg": lambda: image_bytes((2000, 1500), "JPEG")[:2000],
    "not-an-image.png": lambda: b"%PDF-1.7 a PDF, named as a PNG\n" * 100,
    "a-jpeg-named.png": lambda: image_bytes((100, 100), "JPEG"),
}


def preview_of(uploaded):
    """The stored preview, opened as an image."""
    name = derived_name(uploaded.file.name, previews.PREVIEW)
    with uploaded.file.storage.open(name) as stored:
        image = Image.open(io.BytesIO(stored.read()))
        image.load()
    return image


def test_an_uploaded_image_gets_a_small_preview_beside_it(admin_client, media_root):
    uploaded = upload(admin_client, "photo.jpg", image_bytes((1600, 1200), "JPEG"))

    assert uploaded.has_preview
    preview = preview_of(uploaded)
    assert (preview.format, preview.size) == ("WEBP", (320, 240))
    assert uploaded.preview_url == f"/media/{uploaded.file.name.split('/')[0]}/derived/preview.webp"
    assert (media_root / uploaded.file.name).parent.joinpath("derived", "preview.webp").is_file()


@pytest.mark.parametrize(
    ("name", "image_format", "mode"),
    [("anim.gif", "GIF", "P"), ("clear.png", "PNG", "RGBA"), ("p.webp", "WEBP", "RGB")],
)
def test_each_format_a_browser_shows_gets_a_preview(admin_client, name, image_format, mode):
    uploaded = upload(admin_client, name, image_bytes((64, 48), image_format, mode))

    assert uploaded.has_preview
    assert preview_of(uploaded).size == (64, 48)  # never enlarged


def test_a_photo_turned_by_its_camera_is_previewed_upright(admin_client):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    uploaded = upload(admin_client, "turned.jpg", image_bytes((640, 320), "JPEG", exif=exif))

    assert preview_of(uploaded).size == (160, 320)


@pytest.mark.parametrize("name", ["notes.txt", "report.pdf", "drawing.svg", "huge.png"])
def test_no_preview_for_what_is_not_a_shown_image_or_too_large_to_read(
    admin_client, media_root, settings, name
):
    settings.UPLOAD_MAX_SIZE = previews.MAX_FILE_SIZE + 2
    content = image_bytes() if name != "huge.png" else b"x" * (previews.MAX_FILE_SIZE + 1)

    uploaded = upload(admin_client, name, content)

    assert not uploaded.has_preview
    assert [p.name for p in media_root.rglob("*") if p.is_file()] == [name]


def test_an_image_of_the_largest_size_read_gets_its_preview(admin_client, settings):
    settings.UPLOAD_MAX_SIZE = previews.MAX_FILE_SIZE
    png = image_bytes()  # then zeros after its end, which an image reader never reaches

    uploaded = upload(admin_client, "padded.png", png + bytes(previews.MAX_FILE_SIZE - len(png)))

    assert uploaded.has_preview


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_images_are_uploaded_without_a_preview(admin_client, media_root, name):
    content = HOSTILE[name]()

    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile(name, content)}, follow=True)

    assert "was added successfully" in response.text
    uploaded = UploadedFile.objects.get()
    assert (uploaded.has_preview, uploaded.size) == (name == "a-jpeg-named.png", len(content))
    assert (media_root / uploaded.file.name).read_bytes() == content


MEASURE = """
import json, sys
from uploader import previews


def peak_mb():
    # The process's own peak (getrusage's ru_maxrss keeps the peak of the process it was
    # forked from: here, pytest's).
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


previews.Image.init()  # every plugin loaded: imports are not the preview's memory
before = peak_mb()
with open(sys.argv[1], "rb") as file:
    made = previews.make_preview(file, sys.argv[1]) is not None
print(json.dumps({"made": made, "growth_mb": peak_mb() - before}))
"""


PREVIEWED = ["largest-previewed.png", "largest-previewed-with-alpha.png", "phone-photo.jpg"]


@pytest.mark.parametrize("name", [*HOSTILE, *PREVIEWED])
def test_a_preview_takes_bounded_memory_whatever_the_image(tmp_path, name):
    images = {
        "largest-previewed.png": lambda: image_bytes((4000, 3000), "PNG"),
        "largest-previewed-with-alpha.png": lambda: image_bytes((3000, 2000), "PNG", "RGBA"),
        "phone-photo.jpg": lambda: image_bytes((8000, 6000), "JPEG"),  # decoded at 1/8
        **HOSTILE,
    }
    path = tmp_path / name
    path.write_bytes(images[name]())

    # A process of its own, whose peak memory is the preview's; its time-out bounds the time.
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, path],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    measured = json.loads(result.stdout)
    assert measured["made"] == (name in {*PREVIEWED, "a-jpeg-named.png"})
    assert measured["growth_mb"] <= MEMORY_BOUND_MB, measured
