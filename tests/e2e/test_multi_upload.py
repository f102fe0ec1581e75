"""Many files at once in a real browser (file_lifecycle/static/file_lifecycle/uploads.js):
picked or dropped, each with its progress bar, straight to the bucket on S3 or through the app
to a folder; without JavaScript, the plain form; files over the limit, a storage that goes
down, an upload abandoned halfway, and completions that were not issued."""

import re
import secrets
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.e2e.app import (
    PASSWORD,
    fresh_database,
    log_in,
    manage,
    reconciled,
    running_app,
    save_screenshot,
)
from tests.helpers import bucket_on, crc32, image_environ

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADD = "/admin/uploader/uploadedfile/add/"
CHANGELIST = "/admin/uploader/uploadedfile/"
# The project's default UPLOAD_MAX_SIZE, which the sites run with.
LIMIT = 100 * 10**6


def new_files(folder, *sizes):
    """Files of these sizes with names of their own (random bytes: nothing compresses them)."""
    paths = []
    for size in sizes:
        path = folder / f"file-{secrets.token_hex(4)}.bin"
        path.write_bytes(secrets.token_bytes(size))
        paths.append(path)
    return paths


def large_file(folder, size):
    """A file of size bytes that takes no room on disk (sparse): zeros, as the browser reads it."""
    path = folder / f"large-{secrets.token_hex(4)}.bin"
    with path.open("wb") as file:
        file.truncate(size)
    return path


def is_direct(site):
    return site.url.startswith("https:")  # the production site keeps its files in a bucket


def bodies_sent(page):
    """The URLs of the requests with a body that the page sends from now on."""
    sent = []
    page.on("request", lambda request: request.method in ("POST", "PUT") and sent.append(request))
    return sent


def throttle_uploads(page, bytes_per_second):
    """Send request bodies no faster than this (-1: at full speed again), as a slow line would
    (Chromium's DevTools)."""
    # One DevTools session per page: conditions set by one session outlive another's -1.
    session = getattr(page, "devtools", None) or page.context.new_cdp_session(page)
    page.devtools = session
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def saved_in_parts(page, tmp_path, moto_server):
    """A file of two parts saved on the add page, logged in: (its bytes, the requests that
    sent its parts to the bucket, in order)."""
    (path,) = new_files(tmp_path, 40 * 1024 * 1024)  # two parts of the app's 32 MiB at most
    log_in(page)
    page.goto(ADD)
    sent = bodies_sent(page)
    page.get_by_label("File:").set_input_files(path)
    page.get_by_role("button", name="Save", exact=True).click()
    listed(page, path)
    parts = sorted(
        (request for request in sent if request.url.startswith(moto_server)),
        key=lambda request: int(re.search(r"partNumber=(\d+)", request.url)[1]),
    )
    return path.read_bytes(), parts


def listed(page, *paths, timeout=10_000):
    """The list, once every file is sent, shows each (waiting up to timeout ms for it)."""
    expect(page).to_have_url(re.compile(rf"{CHANGELIST}$"), timeout=timeout)
    for path in paths:
        expect(page.locator("#result_list tbody tr", has_text=path.name)).to_have_count(1)


def test_many_files_picked_are_each_saved_with_a_progress_bar(page, site, tmp_path, moto_server):
    paths = new_files(tmp_path, 300_000, 1_000, 2_000_000)
    log_in(page)
    page.goto(ADD)
    sent = bodies_sent(page)

    page.get_by_label("File:").set_input_files(paths)
    expect(page.locator(".upload-item progress")).to_have_count(3)
    page.get_by_role("button", name="Save", exact=True).click()

    listed(page, *paths)
    expect(page.locator(".messagelist li")).to_have_count(3)
    to_bucket = [request for request in sent if request.url.startswith(moto_server)]
    through_app = [request for request in sent if request.url.endswith(ADD)]
    if is_direct(site):
        assert (len(to_bucket), len(through_app)) == (3, 0)
    else:
        assert (len(to_bucket), len(through_app)) == (0, 3)


@pytest.mark.parametrize("site", ["production"], indirect=True)  # only a bucket takes parts
def test_a_large_file_goes_in_parts_each_with_its_checksum(page, site, tmp_path, moto_server):
    content, parts = saved_in_parts(page, tmp_path, moto_server)

    size = 32 * 1024 * 1024
    assert [part.header_value("x-amz-checksum-crc32") for part in parts] == [
        crc32(content[:size]),
        crc32(content[size:]),
    ]


@pytest.fixture
def app_told_to_send_no_checksums(image_dir, tmp_path, moto_server):
    """The app (DEBUG, plain HTTP) with a bucket, and botocore's switch for S3-compatible
    services that take no checksums."""
    with fresh_database() as database:
        environ = image_environ(
            DOMAIN="localhost",
            DEFAULT_DATABASE_DSN=database,
            DEFAULT_STORAGE_DSN=bucket_on(moto_server)[1],
            DJANGO_DEBUG="True",
            AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
        )
        with running_app(image_dir, environ, tmp_path / "server.log") as port:
            yield f"http://localhost:{port}"


def test_parts_go_without_checksums_where_the_service_takes_none(
    chromium, app_told_to_send_no_checksums, tmp_path, moto_server
):
    context = chromium.new_context(base_url=app_told_to_send_no_checksums)

    _, parts = saved_in_parts(context.new_page(), tmp_path, moto_server)

    assert len(parts) == 2
    assert [part.header_value("x-amz-checksum-crc32") for part in parts] == [None, None]
    context.close()


def test_files_dropped_on_the_field_are_saved(page, site, tmp_path):
    log_in(page)
    page.goto(ADD)
    names = [f"dropped-{secrets.token_hex(4)}.txt" for _ in range(2)]
    dropped = page.evaluate_handle(
        """names => {
            const files = new DataTransfer();
            names.forEach(name => files.items.add(new File([name.repeat(1000)], name)));
            return files;
        }""",
        names,
    )

    page.locator(".upload-drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.locator(".upload-item")).to_have_count(2)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(re.compile(rf"{CHANGELIST}$"))
    for name in names:
        expect(page.locator("#result_list tbody tr", has_text=name)).to_have_count(1)


def test_progress_shows_bytes_and_rate_while_sending(page, site, tmp_path):
    """And takes docs/uploader-upload.png, the README's picture of it, from the bucket site."""
    paths = new_files(tmp_path, 1_500_000, 900_000, 600_000)
    log_in(page)
    page.goto(ADD)
    throttle_uploads(page, 400_000)

    page.get_by_label("File:").set_input_files(paths)
    page.get_by_role("button", name="Save", exact=True).click()

    status = page.locator(".upload-status").first
    expect(status).to_have_text(
        re.compile(r"^[\d.]+\s(bytes|kB|MB) of 1\.5\sMB, [\d.]+\s(bytes|kB|MB)/s$")
    )
    bar = page.locator(".upload-item progress").first
    assert 0 < float(bar.evaluate("bar => bar.value")) < 1_500_000
    if is_direct(site):
        page.set_viewport_size({"width": 1100, "height": 520})
        save_screenshot(page, "uploader-upload.png", tmp_path)
    listed(page, *paths, timeout=30_000)


def test_without_javascript_the_plain_form_uploads_one_file(chromium, site, tmp_path):
    (path,) = new_files(tmp_path, 10_000)
    with plain_page(chromium, site) as page:
        page.goto(ADD)
        expect(page.locator(".upload-hint")).to_have_count(0)
        page.get_by_label("File:").set_input_files(path)
        page.get_by_role("button", name="Save", exact=True).click()

        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        listed(page, path)


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT], ids=["just over", "twice"])
def test_without_javascript_a_file_over_the_limit_ends_in_the_form(chromium, site, tmp_path, size):
    """Just over: the form's own check; twice: the front drains the body and sends the
    browser back to the form, which says why (not a bare 413 page, nor a reset connection)."""
    path = large_file(tmp_path, size)
    with plain_page(chromium, site) as page:
        page.goto(ADD)
        page.get_by_label("File:").set_input_files(path)
        page.get_by_role("button", name="Save", exact=True).click()

        # In bytes when the sizes round alike ("100,000,001 bytes; ... 100,000,000 bytes").
        expect(
            page.get_by_text(re.compile(r"^This file is .+; files can be .+ at most\."))
        ).to_be_visible()
        expect(page.get_by_label("File:")).to_be_visible()  # the admin's form, again
        expect(page.locator("#content h1")).to_have_text("Add uploaded file")


def test_a_file_over_the_limit_is_refused_before_it_is_sent(page, site, tmp_path):
    (small,) = new_files(tmp_path, 1_000)
    large = large_file(tmp_path, 2 * LIMIT)
    log_in(page)
    page.goto(ADD)
    sent = bodies_sent(page)

    page.get_by_label("File:").set_input_files([small, large])
    refused = page.locator(".upload-item", has_text=large.name)
    expect(refused.locator(".errorlist")).to_have_text(
        "This file is too large: files can be 100\xa0MB at most."
    )
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".upload-summary")).to_contain_text("1 of 2 file(s) uploaded")
    expect(page.locator(".upload-item", has_text=small.name)).to_contain_text("saved")
    assert all(len(request.post_data_buffer or b"") < LIMIT for request in sent)
    page.goto(CHANGELIST)
    expect(page.locator("#result_list tbody tr", has_text=small.name)).to_have_count(1)
    expect(page.locator("#result_list tbody tr", has_text=large.name)).to_have_count(0)


def test_an_upload_abandoned_halfway_is_removed_by_reconcile_media(
    chromium, site, tmp_path, image_dir
):
    # In parts on a bucket: moto's server leaves an open temporary file behind a POST cut short.
    large = large_file(tmp_path, 40 * 1024 * 1024)
    context = chromium.new_context(
        base_url=site.url, extra_http_headers=site.headers, ignore_https_errors=True
    )
    page = context.new_page()
    log_in(page)
    page.goto(ADD)
    throttle_uploads(page, 4_000_000)
    page.get_by_label("File:").set_input_files(large)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".upload-status")).to_contain_text("of 41.9")

    context.close()  # the editor closes the tab mid-upload

    output = reconciled(image_dir, site.environ)
    if is_direct(site):
        assert re.search(r"Removed incomplete multipart upload [0-9a-f]{16}/large-", output)
    else:  # the app received part of the body, and dropped it
        assert output.endswith("rows and stored files match.\n")


@pytest.mark.parametrize("site", ["production"], indirect=True)  # only a bucket takes them
def test_the_completion_takes_only_what_was_issued_to_this_user(chromium, page, site, image_dir):
    log_in(page)
    page.goto(ADD)
    issued = call(page, "start/", {"name": "notes.txt", "size": 10})
    token = issued[1]["token"]
    payload, signature = token.rsplit(":", 1)
    tampered = f"{payload[:-2]}{'AB' if payload[-2:] != 'AB' else 'CD'}:{signature}"

    assert call(page, "complete/", {"token": tampered}) == [
        400,
        {"error": "This upload was not started here: upload the file again."},
    ]
    # Fewer bytes than issued sent to the bucket: the completion checks the object's size.
    page.evaluate(
        """async post => {
            const data = new FormData();
            Object.entries(post.fields).forEach(([name, value]) => data.append(name, value));
            data.append("file", new Blob(["12345"]));
            await fetch(post.url, {method: "POST", body: data});
        }""",
        issued[1]["post"],
    )
    other = f"other-{secrets.token_hex(4)}"
    result = manage(
        image_dir,
        {**site.environ, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        *["createsuperuser", "--no-input", "--username", other, "--email", "o@example.com"],
    )
    assert result.returncode == 0, result.stderr
    with plain_page(chromium, site, javascript=True) as other_page:
        log_in(other_page, other)
        other_page.goto(ADD)
        assert call(other_page, "complete/", {"token": token}) == [
            403,
            {"error": "This upload was started by another user or for another list."},
        ]
    assert call(page, "complete/", {"token": token}) == [
        400,
        {"error": "The bucket received 5 bytes of this file, not 10: upload it again."},
    ]
    page.goto(CHANGELIST)
    expect(page.locator("#result_list tbody tr", has_text="notes.txt")).to_have_count(0)


def call(page, step, data):
    """POST to the add page's bucket upload URLs as uploads.js does; [status, JSON answer]."""
    return page.evaluate(
        """async ([step, data]) => {
            const input = document.querySelector("[data-upload-direct]");
            const answer = await fetch(input.dataset.uploadDirect + step, {
                method: "POST",
                headers: {
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value,
                },
                body: JSON.stringify(data),
            });
            return [answer.status, await answer.json()];
        }""",
        [step, data],
    )


@contextmanager
def plain_page(chromium, site, javascript=False):
    """A tab of a context of its own, logged in; without JavaScript unless asked."""
    context = chromium.new_context(
        base_url=site.url,
        extra_http_headers=site.headers,
        ignore_https_errors=True,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    if not javascript:
        log_in(page)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def storage_behind_a_relay(image_dir, tmp_path, answer_losing_proxy):
    """The app (DEBUG, plain HTTP) with its bucket behind a relay the test can close, as an
    S3 service that goes down: the browser and the app reach the bucket through it."""
    _, dsn = bucket_on(answer_losing_proxy.endpoint)
    with fresh_database() as database:
        environ = image_environ(
            DOMAIN="localhost",
            DEFAULT_DATABASE_DSN=database,
            DEFAULT_STORAGE_DSN=dsn,
            DJANGO_DEBUG="True",
        )
        with running_app(image_dir, environ, tmp_path / "server.log") as port:
            yield f"http://localhost:{port}", answer_losing_proxy


def test_storage_down_mid_upload_fails_those_files_only(chromium, storage_behind_a_relay, tmp_path):
    url, relay = storage_behind_a_relay
    first, third = new_files(tmp_path, 1_000, 1_000)
    # In parts (moto's server leaves an open temporary file behind a POST cut short).
    second = large_file(tmp_path, 40 * 1024 * 1024)
    context = chromium.new_context(base_url=url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    log_in(page)
    page.goto(ADD)
    throttle_uploads(page, 1_000_000)

    page.get_by_label("File:").set_input_files([first, second, third])
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".upload-item", has_text=first.name)).to_contain_text("saved")
    relay.close()  # the storage goes down while the second file is on its way
    throttle_uploads(page, -1)

    # After the app's retries against a storage that refuses connections.
    expect(page.locator(".upload-summary")).to_contain_text(
        "1 of 3 file(s) uploaded", timeout=30_000
    )
    for path in (second, third):
        expect(
            page.locator(".upload-item", has_text=path.name).locator(".errorlist")
        ).to_contain_text("The file could not be stored")
    page.goto(CHANGELIST)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr", has_text=first.name)).to_have_count(1)
    context.close()


@pytest.fixture
def app_on_a_folder(image_dir, tmp_path):
    """The app (DEBUG, plain HTTP) with its media in a folder of the test's: (URL, folder)."""
    media = tmp_path / "media"
    with fresh_database() as database:
        environ = image_environ(
            DOMAIN="localhost",
            DEFAULT_DATABASE_DSN=database,
            DEFAULT_STORAGE_DSN=f"{media.as_uri()}/?url=%2Fmedia%2F",
            DJANGO_DEBUG="True",
        )
        with running_app(image_dir, environ, tmp_path / "server.log") as port:
            yield f"http://localhost:{port}", media


def test_a_folder_gone_mid_upload_fails_those_files_only(chromium, app_on_a_folder, tmp_path):
    url, media = app_on_a_folder
    first, second, third = new_files(tmp_path, 1_000, 2_000_000, 1_000)
    context = chromium.new_context(base_url=url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    log_in(page)
    page.goto(ADD)
    throttle_uploads(page, 500_000)

    page.get_by_label("File:").set_input_files([first, second, third])
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".upload-item", has_text=first.name)).to_contain_text("saved")
    # The disk goes while the second file is on its way: where the folder was, a file (a
    # test run as root may write anywhere, so a folder it may not write cannot stand in).
    media.rename(tmp_path / "media-unmounted")
    media.write_bytes(b"")
    throttle_uploads(page, -1)

    expect(page.locator(".upload-summary")).to_contain_text("1 of 3 file(s) uploaded")
    for path in (second, third):
        expect(
            page.locator(".upload-item", has_text=path.name).locator(".errorlist")
        ).to_contain_text("The file could not be stored")
    page.goto(CHANGELIST)
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr", has_text=first.name)).to_have_count(1)
    context.close()
