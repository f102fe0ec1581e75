"""The uploader as an editor meets it in a real browser, against a folder (debug) and a bucket
on an S3 server (production): the limit before choosing a file, what each file is in the list
and on its change form, previews, search and filters, and links that do what they say."""

import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.e2e.app import log_in, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def picture(path, size, colours):
    """A small picture worth previewing: bands of colour, and a sun."""
    image = Image.new("RGB", size, colours[0])
    draw = ImageDraw.Draw(image)
    width, height = size
    for index, colour in enumerate(colours[1:], start=1):
        draw.rectangle([0, height * index // len(colours), width, height], fill=colour)
    draw.ellipse([width * 0.6, height * 0.1, width * 0.8, height * 0.1 + width * 0.2], "#fd5")
    image.save(path)
    return path


def add(page, path):
    page.goto("/admin/uploader/uploadedfile/add/")
    page.get_by_label("File:").set_input_files(path)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")


def row_of(page, name):
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=name))
    expect(row).to_have_count(1)
    return row


def loaded(image):
    expect(image).to_be_visible()
    return image.evaluate("image => image.complete && image.naturalWidth > 0")


def test_an_editor_finds_each_file_and_what_it_is(page, site, tmp_path):
    # A site of its own (module-scoped), empty: names need no random part.
    photo = picture(tmp_path / "Harbour at dusk.png", (1200, 800), ["#7ab", "#246"])
    notes = tmp_path / "minutes.txt"
    notes.write_text("Minutes of the meeting\n" * 100)
    log_in(page)

    page.goto("/admin/uploader/uploadedfile/add/")
    expect(page.get_by_text("Files up to 100\xa0MB.")).to_be_visible()  # before choosing
    add(page, photo)
    stored = "Harbour_at_dusk.png"
    expect(page.locator(".messagelist")).to_contain_text(f"“{photo.name}” is stored as “{stored}”")
    add(page, notes)
    for name, colours in [("field", ["#9c6", "#474"]), ("sea", ["#acf", "#36a"])]:
        add(page, picture(tmp_path / f"{name}.jpg", (900, 600), colours))

    page.goto("/admin/uploader/uploadedfile/")
    photo_row, notes_row = row_of(page, photo.name), row_of(page, notes.name)
    assert loaded(photo_row.locator("img.uploader-thumbnail"))
    expect(photo_row.locator(".field-content_type")).to_have_text("image/png")
    expect(photo_row.locator(".field-uploaded_by")).to_have_text("admin")
    expect(photo_row.locator(".field-size_shown")).to_have_text(re.compile(r"^[0-9.]+\s(kB)$"))
    expect(photo_row.get_by_role("link", name="Open")).to_be_visible()
    expect(notes_row.locator(".field-size_shown")).to_have_text("2.3\xa0kB")
    # Text is shown from the app's folder (sent with nosniff), downloaded from a bucket.
    action = "Download" if site.url.startswith("https:") else "Open"
    expect(notes_row.get_by_role("link", name=action)).to_be_visible()
    if not site.url.startswith("https:"):  # the README's picture, from either site
        page.set_viewport_size({"width": 1440, "height": 640})
        save_screenshot(page, "uploader-list.png", tmp_path)

    page.locator("#searchbar").fill("at DUSK")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.goto("/admin/uploader/uploadedfile/")
    page.get_by_role("link", name="Images").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Text").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    page.goto("/admin/uploader/uploadedfile/")
    page.get_by_role("link", name=photo.name).click()
    form = page.locator("#content-main")
    expect(form).to_contain_text(photo.name)
    expect(form).to_contain_text(f"{stored} (the name had to change to be stored)")
    expect(form).to_contain_text("image/png")
    assert loaded(form.locator("img.uploader-preview"))
    assert not re.search(r"[0-9a-f]{16}", form.inner_text())  # never the internal folder
    with page.expect_response(lambda response: stored in response.url) as opened:
        form.get_by_role("link", name="Open").click()
    assert opened.value.status == 200
    assert "attachment" not in opened.value.headers.get("content-disposition", "")
    expect(page).to_have_url(re.compile(rf"/{stored}$"))  # shown, not downloaded
