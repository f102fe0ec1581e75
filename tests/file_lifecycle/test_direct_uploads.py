"""Uploads from the browser straight to the bucket (file_lifecycle/direct_uploads.py), the
browser's part played over HTTP against moto's S3 server: what the server issues, and the
completions it refuses."""

import base64
import json
import math
import re
import time
from datetime import datetime

import pytest
import requests
from django.contrib.auth.models import User
from django.core import signing
from django.urls import reverse

from file_lifecycle import direct_uploads
from tests.helpers import closed_endpoint, crc32, reconcile, s3_dsn
from uploader.models import UploadedFile

pytestmark = pytest.mark.django_db

START = reverse("admin:uploader_uploadedfile_direct", kwargs={"step": "start"})
COMPLETE = reverse("admin:uploader_uploadedfile_direct", kwargs={"step": "complete"})
ABORT = reverse("admin:uploader_uploadedfile_direct", kwargs={"step": "abort"})
PART = reverse("admin:uploader_uploadedfile_direct", kwargs={"step": "part"})


def post_json(client, url, data):
    return client.post(
        url, json.dumps(data), "application/json", headers={"Accept": "application/json"}
    )


def start(client, name, size):
    response = post_json(client, START, {"name": name, "size": size})
    assert response.status_code == 200, response.content
    return response.json()


def send_part(client, issued, number, content):
    """What uploads.js does for one part: a URL signed for its checksum, then the part."""
    checksum = crc32(content) if issued["checksums"] else None
    signed = post_json(
        client, PART, {"token": issued["token"], "number": number, "checksum": checksum}
    )
    assert signed.status_code == 200, signed.content
    headers = {"x-amz-checksum-crc32": checksum} if checksum else {}
    return requests.put(signed.json()["url"], data=content, headers=headers, timeout=60)


def send_to_bucket(client, issued, content):
    """What uploads.js does with what start() issued: the presigned POST, or every part."""
    if "post" in issued:
        post = issued["post"]
        response = requests.post(
            post["url"], data=post["fields"], files={"file": content}, timeout=60
        )
        return response.status_code
    size = issued["part_size"]
    for number in range(issued["parts"]):
        part = content[number * size : (number + 1) * size]
        response = send_part(client, issued, number + 1, part)
        assert response.status_code == 200, response.text
    return 200


def test_a_file_sent_to_the_bucket_becomes_a_row_once_complete(admin_client, s3):
    bucket, _ = s3
    issued = start(admin_client, "report 2026.pdf", 11)
    name = signing.loads(issued["token"], salt=direct_uploads.SALT)["name"]

    assert send_to_bucket(admin_client, issued, b"%PDF-1.7 ok") == 204
    assert not UploadedFile.objects.exists()  # nothing before completion
    response = post_json(admin_client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 200, response.content
    uploaded = UploadedFile.objects.get()
    assert uploaded.file.name == name
    assert name.endswith("/report_2026.pdf")
    stored = bucket.Object(name).get()
    assert stored["Body"].read() == b"%PDF-1.7 ok"
    # Served as the storage serves a file it stored itself.
    assert stored["ContentType"] == "application/pdf"
    assert reconcile() == (0, "1 rows, 1 stored files: rows and stored files match.\n")


def test_a_large_file_goes_in_parts_sent_at_once(admin_client, s3, monkeypatch):
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    bucket, _ = s3
    content = b"x" * (12 * 1024 * 1024)
    issued = start(admin_client, "video.mp4", len(content))

    assert issued["parts"] == math.ceil(len(content) / issued["part_size"]) == 3
    send_to_bucket(admin_client, issued, content)
    response = post_json(admin_client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 200, response.content
    uploaded = UploadedFile.objects.get()
    stored = bucket.meta.client.head_object(
        Bucket=bucket.name, Key=uploaded.file.name, ChecksumMode="ENABLED"
    )
    assert stored["ContentLength"] == len(content)
    # Completed with each part's checksum: S3's checksum of the checksums, as for boto3's
    # uploads (S3 adds "-3", the number of parts; moto does not).
    size = issued["part_size"]
    parts = [content[start : start + size] for start in range(0, len(content), size)]
    each = b"".join(base64.b64decode(crc32(part)) for part in parts)
    assert stored["ChecksumCRC32"].removesuffix("-3") == crc32(each)


def test_a_part_is_signed_only_as_issued(admin_client, client, s3, monkeypatch):
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    issued = start(admin_client, "parts.bin", 6 * 1024 * 1024)
    whole = start(admin_client, "whole.txt", 5)
    other = User.objects.create_superuser("other", "other@example.com", "password")
    client.force_login(other)

    def sign(token, number, checksum="AAAAAA==", user=admin_client):
        data = {"token": token, "number": number, "checksum": checksum}
        response = post_json(user, PART, data)
        return response.status_code, response.json().get("error")

    not_issued = (400, "This part was not issued: upload the file again.")
    assert sign(issued["token"], 0) == not_issued
    assert sign(issued["token"], 3) == not_issued  # 2 parts
    assert sign(whole["token"], 1) == not_issued  # sent whole, by a presigned POST
    assert sign(issued["token"], 1, "not a crc") == (
        400,
        "This part's checksum is not a CRC-32: reload the page.",
    )
    assert sign(issued["token"], True) == (
        400,
        "The request is not one this page sends: reload the page.",
    )
    assert sign(issued["token"], 1, user=client)[0] == 403
    assert sign(issued["token"], 2) == (200, None)


def test_a_service_told_to_take_no_checksums_gets_none(admin_client, s3, monkeypatch):
    """botocore's switch for S3-compatible services without checksums, which boto3's own
    uploads follow, turns them off for the browser's parts too."""
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    bucket, _ = s3
    content = b"x" * (6 * 1024 * 1024)
    issued = start(admin_client, "parts.bin", len(content))
    data = {"token": issued["token"], "number": 1, "checksum": None}
    url = post_json(admin_client, PART, data).json()["url"]

    assert issued["checksums"] is False
    assert re.search(r"X-Amz-SignedHeaders=([^&]+)", url)[1] == "host"
    send_to_bucket(admin_client, issued, content)
    assert post_json(admin_client, COMPLETE, {"token": issued["token"]}).status_code == 200
    stored = bucket.meta.client.head_object(
        Bucket=bucket.name, Key=UploadedFile.objects.get().file.name, ChecksumMode="ENABLED"
    )
    assert stored["ContentLength"] == len(content)
    assert "ChecksumCRC32" not in stored


def test_a_parts_url_is_signed_for_its_checksum(admin_client, s3, monkeypatch):
    """S3 then takes the part only with that checksum, and only if its bytes match it (moto's
    server checks neither: this is what the app controls)."""
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    issued = start(admin_client, "parts.bin", 6 * 1024 * 1024)
    checksum = crc32(b"x" * 5 * 1024 * 1024)
    data = {"token": issued["token"], "number": 1, "checksum": checksum}
    url = post_json(admin_client, PART, data).json()["url"]

    assert "x-amz-checksum-crc32" in re.search(r"X-Amz-SignedHeaders=([^&]+)", url)[1]
    # As long as the upload may take, not botocore's default hour.
    assert re.search(r"X-Amz-Expires=([0-9]+)", url)[1] == str(direct_uploads.VALID_FOR)


def test_a_tampered_token_is_refused(admin_client, s3):
    issued = start(admin_client, "notes.txt", 5)
    send_to_bucket(admin_client, issued, b"12345")
    payload = signing.loads(issued["token"], salt=direct_uploads.SALT)
    # The key of another file, or a larger size, re-signed with a key the server does not use.
    for changed in ({"name": "0123456789abcdef/other.txt"}, {"size": 10**9}):
        forged = signing.dumps(
            {**payload, **changed}, key="not-the-secret-key", salt=direct_uploads.SALT
        )
        response = post_json(admin_client, COMPLETE, {"token": forged})

        assert response.status_code == 400
        assert response.json() == {
            "error": "This upload was not started here: upload the file again."
        }
    edited = issued["token"][:-3] + ("AAA" if not issued["token"].endswith("AAA") else "BBB")
    assert post_json(admin_client, COMPLETE, {"token": edited}).status_code == 400
    assert not UploadedFile.objects.exists()


def test_another_users_upload_is_refused(admin_client, client, s3, admin_user):
    issued = start(admin_client, "notes.txt", 5)
    send_to_bucket(admin_client, issued, b"12345")
    other = User.objects.create_superuser("other", "other@example.com", "password")
    client.force_login(other)

    response = post_json(client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 403
    assert response.json() == {
        "error": "This upload was started by another user or for another list."
    }
    assert not UploadedFile.objects.exists()


@pytest.mark.parametrize("content", [b"123", b"more than five"])
def test_a_file_of_another_size_than_issued_is_removed(admin_client, s3, content):
    """S3 itself refuses a POST over the issued size (content-length-range); moto does not,
    and a multipart upload's parts have no such bound: the completion checks the size."""
    bucket, _ = s3
    issued = start(admin_client, "notes.txt", 5)
    send_to_bucket(admin_client, issued, content)

    response = post_json(admin_client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 400
    assert response.json()["error"] == (
        f"The bucket received {len(content)} bytes of this file, not 5: upload it again."
    )
    assert not UploadedFile.objects.exists()
    assert list(bucket.objects.all()) == []


def test_the_forms_checks_apply_before_anything_is_issued(admin_client, s3, settings):
    too_large = post_json(
        admin_client, START, {"name": "big.iso", "size": settings.UPLOAD_MAX_SIZE + 1}
    )
    no_name = post_json(admin_client, START, {"name": "$$$", "size": 5})
    not_a_size = post_json(admin_client, START, {"name": "a.txt", "size": "5"})

    assert too_large.status_code == 400
    assert too_large.json()["error"].startswith("This file is ")
    assert "at most" in too_large.json()["error"]
    assert no_name.status_code == 400
    assert "rename the file" in no_name.json()["error"]
    assert not_a_size.status_code == 400


def test_only_signed_in_editors_may_start(client, s3):
    response = post_json(client, START, {"name": "a.txt", "size": 5})

    assert response.status_code == 302  # to the login page
    assert "/login/" in response["Location"]


def test_a_folder_has_no_direct_uploads(admin_client):
    response = post_json(admin_client, START, {"name": "a.txt", "size": 5})

    assert response.status_code == 404


def test_an_abandoned_upload_is_found_and_removed_by_reconcile_media(admin_client, s3, monkeypatch):
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    whole = start(admin_client, "whole.txt", 5)
    send_to_bucket(admin_client, whole, b"12345")  # sent, never completed
    parts = start(admin_client, "parts.bin", 6 * 1024 * 1024)
    send_part(admin_client, parts, 1, b"x" * 5 * 1024 * 1024)  # 1 part of 2

    status, output = reconcile("--fix", "--grace-period", "0")

    assert status == 0
    assert re.search(r"^Removed orphaned file [0-9a-f]{16}/whole.txt$", output, re.M)
    assert re.search(r"^Removed incomplete multipart upload [0-9a-f]{16}/parts.bin$", output, re.M)
    assert reconcile() == (0, "0 rows, 0 stored files: rows and stored files match.\n")


def test_an_upload_given_up_is_aborted(admin_client, s3, monkeypatch):
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    bucket, _ = s3
    issued = start(admin_client, "parts.bin", 6 * 1024 * 1024)

    response = post_json(admin_client, ABORT, {"token": issued["token"]})

    assert response.status_code == 200
    assert list(bucket.multipart_uploads.all()) == []


@pytest.mark.parametrize("sent", ["whole", "in parts"])
def test_a_file_sent_to_the_bucket_is_stored_as_the_storage_stores_its_own(
    admin_client, s3, use_storage, monkeypatch, sent
):
    """In the DSN's folder, with its ACL, and a page a browser could run is a download, as for a
    file the app stored itself (myapp/configuration/storages.py)."""
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    bucket, dsn = s3
    use_storage(dsn.replace(".com/?", ".com/files/?") + "&acl=public-read")
    content = b"<script>alert(1)</script>" * (1 if sent == "whole" else 250_000)
    issued = start(admin_client, "page.html", len(content))
    assert ("post" in issued) == (sent == "whole")

    send_to_bucket(admin_client, issued, content)
    response = post_json(admin_client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 200, response.content
    stored = bucket.Object(f"files/{UploadedFile.objects.get().file.name}")
    assert stored.get()["Body"].read() == content
    assert stored.content_type == "application/octet-stream"
    assert stored.content_disposition == 'attachment; filename="page.html"'
    grantees = [grant["Grantee"].get("URI") for grant in stored.Acl().grants]
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in grantees


def test_a_post_is_signed_for_the_issued_size_and_headers_only(admin_client, s3):
    """S3 refuses a POST over the size, or with other headers than those signed, or too late
    (moto checks none of them: what is checked here is what the app asks of S3)."""
    issued = start(admin_client, "notes.txt", 5)
    fields = issued["post"]["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))

    assert ["content-length-range", 0, 5] in policy["conditions"]
    assert {"Content-Type": "application/octet-stream"} in policy["conditions"]
    assert fields["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert {"Content-Disposition": fields["Content-Disposition"]} in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"]).timestamp()
    assert abs(expires - time.time() - direct_uploads.VALID_FOR) < 60


def test_a_file_of_exactly_a_part_is_sent_whole(admin_client, s3, monkeypatch):
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)

    assert "post" in start(admin_client, "exact.bin", 5 * 1024 * 1024)
    assert start(admin_client, "over.bin", 5 * 1024 * 1024 + 1)["parts"] == 2


def test_an_upload_started_too_long_ago_is_refused(admin_client, s3, monkeypatch):
    issued = start(admin_client, "notes.txt", 5)
    send_to_bucket(admin_client, issued, b"12345")
    monkeypatch.setattr(direct_uploads, "VALID_FOR", 0)
    time.sleep(1)  # signing counts whole seconds

    response = post_json(admin_client, COMPLETE, {"token": issued["token"]})

    assert response.status_code == 400
    assert response.json() == {"error": "This upload took too long: upload the file again."}
    assert not UploadedFile.objects.exists()


def test_a_whole_file_given_up_is_removed(admin_client, s3):
    bucket, _ = s3
    issued = start(admin_client, "whole.txt", 5)
    send_to_bucket(admin_client, issued, b"12345")

    response = post_json(admin_client, ABORT, {"token": issued["token"]})

    assert response.status_code == 200
    assert list(bucket.objects.all()) == []


@pytest.mark.parametrize(
    ("step", "status", "action"),
    [
        ("start", 503, "start an upload of"),
        ("complete", 503, "complete the upload of"),
        ("abort", 200, "abort the upload of"),  # the page has failed already
    ],
)
def test_a_bucket_that_stops_answering_is_said_and_logged(
    admin_client, s3, use_storage, monkeypatch, caplog, step, status, action
):
    """The page says why in a user's words, the log says what failed for which file, and
    nothing is saved."""
    monkeypatch.setattr(direct_uploads, "PART_SIZE", 5 * 1024 * 1024)
    size = 6 * 1024 * 1024
    issued = start(admin_client, "parts.bin", size)
    use_storage(s3_dsn(closed_endpoint(), bucket=s3[0].name))  # its server gone

    if step == "start":
        response = post_json(admin_client, START, {"name": "parts.bin", "size": size})
    else:
        url = {"complete": COMPLETE, "abort": ABORT}[step]
        response = post_json(admin_client, url, {"token": issued["token"]})

    assert response.status_code == status
    if status == 503:
        assert response.json()["error"].startswith(
            "The file could not be stored (EndpointConnectionError), and nothing was saved. "
        )
    logged = [r.getMessage() for r in caplog.records if r.name == "file_lifecycle.lifecycle"]
    assert len(logged) == 1
    assert re.fullmatch(
        rf"Could not {action} [0-9a-f]{{16}}/parts\.bin in the storage: EndpointConnectionError",
        logged[0],
    )
    assert not UploadedFile.objects.exists()
