"""What an editor does in a real browser: log in, upload a file, download it again."""

import os
import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.app import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def upload(page, path):
    """Pick the file in the add form, save, and return its row of the changelist."""
    page.goto("/admin/uploader/uploadedfile/add/")
    page.get_by_label("File:").set_input_files(path)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text=path.name)
    expect(row).to_have_count(1)
    return row


def test_admin_is_styled(page):
    # Content-hashed names, except in DEBUG.
    with page.expect_response(re.compile(r"/static/admin/css/base(\.\w+)?\.css$")) as css:
        page.goto("/admin/login/")

    assert css.value.status == 200
    # Only the admin's stylesheet lays its header out as a flex box.
    assert page.locator("#header").evaluate("header => getComputedStyle(header).display") == (
        "flex"
    )


def test_an_uploaded_image_comes_back_byte_for_byte(page, tmp_path):
    path = tmp_path / f"photo-{secrets.token_hex(4)}.png"
    path.write_bytes(os.urandom(100_000))
    log_in(page)

    row = upload(page, path)
    with page.expect_response(lambda response: "photo-" in response.url) as download:
        row.get_by_role("link", name="Download").click()

    assert download.value.status == 200
    assert download.value.body() == path.read_bytes()
    expect(page).to_have_url(re.compile(rf"/{path.name}$"))


def test_an_uploaded_web_page_is_downloaded_not_shown(page, tmp_path):
    path = tmp_path / f"page-{secrets.token_hex(4)}.html"
    path.write_bytes(b"<script>document.title = 'ran';</script>" + os.urandom(1000))
    log_in(page)

    row = upload(page, path)
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()

    assert download.value.suggested_filename == path.name
    assert Path(download.value.path()).read_bytes() == path.read_bytes()
    expect(page).to_have_url(re.compile(r"/admin/uploader/uploadedfile/$"))
    assert page.title() != "ran"
