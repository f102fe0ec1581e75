import contextlib
import functools
import hashlib
import io
import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import BASE_DIR, bucket_on, closed_endpoint, on_server, s3_dsn

md5 = functools.partial(hashlib.md5, usedforsecurity=False)

# Nested folders, a preview beside its file, unicode names, an empty file, and one large
# enough to go in parts (boto3 sends 8 MiB parts from 8 MiB on).
FILES = {
    "0123456789abcdef/report.pdf": b"%PDF-1.7 report",
    "0123456789abcdef/previews/report.png": b"\x89PNG preview",
    "fedcba9876543210/Ünïcödé ✓ 文件.txt": "Grüße\n".encode(),
    "empty/nothing.txt": b"",
    "large/video.mp4": os.urandom(9 * 2**20),
}


def folder_dsn(folder):
    return f"{Path(folder).as_uri()}/?url=%2Fmedia%2F"


def write_files(folder, files=FILES):
    for key, content in files.items():
        path = Path(folder, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def folder_checksums(folder):
    """Each file's key and MD5, with the names of any folder left empty."""
    found = {}
    for path in Path(folder).rglob("*"):
        key = path.relative_to(folder).as_posix()
        if path.is_file():
            found[key] = md5(path.read_bytes()).hexdigest()
        elif not any(path.iterdir()):
            found[key] = "empty folder"
    return found


def bucket_checksums(bucket):
    return {item.key: md5(item.get()["Body"].read()).hexdigest() for item in bucket.objects.all()}


def checksums(files=FILES):
    return {key: md5(content).hexdigest() for key, content in files.items()}


def copy(*args):
    """Run copy_media; what it printed."""
    output = io.StringIO()
    call_command("copy_media", *args, stdout=output)
    return output.getvalue()


def refusal(*args):
    """Run copy_media, which must fail; its one line and what it printed before."""
    output = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("copy_media", *args, stdout=output, stderr=output)
    assert "\n" not in str(refused.value)
    return str(refused.value), output.getvalue()


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "source"
    write_files(folder)
    return folder


@pytest.fixture
def second_bucket(moto_server):
    return bucket_on(moto_server)


def test_folder_to_bucket_to_folder_gives_identical_files(source, s3, second_bucket, tmp_path):
    bucket, dsn = s3
    back = tmp_path / "back"

    output = copy(folder_dsn(source), "default")
    copy(dsn, second_bucket[1])
    copy(second_bucket[1], folder_dsn(back))

    assert f"{len(FILES)} to copy" in output
    assert bucket_checksums(bucket) == checksums()
    assert bucket_checksums(second_bucket[0]) == checksums()
    assert folder_checksums(back) == checksums()
    # Readable by a web server, as the storage leaves an upload (FILE_UPLOAD_PERMISSIONS).
    assert {path.stat().st_mode & 0o777 for path in back.rglob("*.*")} == {0o644}
    assert folder_checksums(source) == checksums()  # the source as it was


def test_files_in_a_bucket_are_served_as_the_storage_serves_them(source, s3):
    bucket, dsn = s3

    copy(folder_dsn(source), dsn)

    report = bucket.Object("0123456789abcdef/report.pdf")
    assert report.content_type == "application/pdf"
    text = bucket.Object("fedcba9876543210/Ünïcödé ✓ 文件.txt")
    assert text.content_disposition.startswith("attachment;")


@pytest.mark.parametrize("target_kind", ["folder", "bucket"])
def test_a_second_run_copies_nothing(source, s3, tmp_path, target_kind):
    bucket, dsn = s3
    target = folder_dsn(tmp_path / "target") if target_kind == "folder" else dsn
    copy(folder_dsn(source), target)
    if target_kind == "bucket":
        assert "-" in bucket.Object("large/video.mp4").e_tag  # sent in parts: not its MD5
    before = folder_checksums(tmp_path / "target") if target_kind == "folder" else None

    output = copy(folder_dsn(source), target)

    assert f"{len(FILES)} already identical at the target, 0 to copy" in output
    assert "Copied 0 of 0" in output
    if before is not None:
        assert folder_checksums(tmp_path / "target") == before


def test_files_the_app_sent_in_parts_are_recognised_without_a_checksum_of_ours(s3, tmp_path):
    """The uploader's storage sends 5 MiB parts and keeps no MD5: the ETag is computed."""
    content = os.urandom(12 * 2**20)
    name = default_storage.save("0123456789abcdef/upload.bin", ContentFile(content))
    copy("default", folder_dsn(tmp_path / "target"))

    output = copy("default", folder_dsn(tmp_path / "target"))

    assert "1 already identical" in output
    assert folder_checksums(tmp_path / "target") == {name: md5(content).hexdigest()}


def test_a_changed_file_is_copied_again(source, tmp_path):
    target = tmp_path / "target"
    copy(folder_dsn(source), folder_dsn(target))
    # Same size, other content: only a checksum tells them apart.
    Path(source, "0123456789abcdef/report.pdf").write_bytes(b"%PDF-1.7 REPORT")

    output = copy(folder_dsn(source), folder_dsn(target))

    assert "1 to copy" in output
    assert "copied 0123456789abcdef/report.pdf" in output
    assert folder_checksums(target) == folder_checksums(source)


def test_a_folder_needs_no_url_to_be_copied(source, tmp_path):
    """url= says where the app serves a folder; copying to or from one does not need it."""
    target = tmp_path / "target"

    copy(f"{source.as_uri()}/", f"{target.as_uri()}/")

    assert folder_checksums(target) == checksums()


def test_dry_run_lists_and_writes_nothing(source, s3):
    bucket, dsn = s3
    bucket.put_object(Key="old/gone.txt", Body=b"old")

    output = copy(folder_dsn(source), dsn, "--dry-run", "--delete")

    assert "would copy large/video.mp4 (new, 9437184 bytes)" in output
    assert "would delete old/gone.txt" in output
    assert bucket_checksums(bucket) == {"old/gone.txt": md5(b"old").hexdigest()}


@pytest.mark.parametrize("target_kind", ["folder", "bucket"])
def test_delete_removes_only_with_the_flag_after_saying_how_many(source, s3, tmp_path, target_kind):
    bucket, dsn = s3
    files = {**FILES, "old/stale/gone.txt": b"stale", "old/other.txt": b"other"}
    if target_kind == "folder":
        write_files(tmp_path / "target", files)
        target = folder_dsn(tmp_path / "target")

        def listed():
            return folder_checksums(tmp_path / "target")
    else:
        for key, content in files.items():
            bucket.put_object(Key=key, Body=content)
        target = dsn

        def listed():
            return bucket_checksums(bucket)

    copy(folder_dsn(source), target)
    assert listed() == checksums(files)

    output = copy(folder_dsn(source), target, "--delete")

    assert "Deleting 2 file(s) missing from the source" in output
    assert output.index("Deleting 2") < output.index("deleted old/")
    assert listed() == checksums()  # no folder left empty either
    assert folder_checksums(source) == checksums()


def test_verify_rereads_the_target(source, s3):
    output = copy(folder_dsn(source), s3[1], "--verify")

    assert f"Verified {len(FILES)} of {len(FILES)} file(s)" in output


def test_each_failure_is_named_after_the_rest_are_copied(source, tmp_path):
    target = tmp_path / "target"
    # A file where the source has a folder: that folder's two files cannot be written there.
    target.mkdir()
    (target / "0123456789abcdef").write_bytes(b"in the way")

    message, output = refusal(folder_dsn(source), folder_dsn(target), "--delete")

    assert message.startswith("2 file(s) failed (listed above)")
    assert "Failed: 0123456789abcdef/report.pdf: " in output
    assert "Failed: 0123456789abcdef/previews/report.png: " in output
    assert set(folder_checksums(target)) == {
        "fedcba9876543210/Ünïcödé ✓ 文件.txt",
        "empty/nothing.txt",
        "large/video.mp4",
    }  # and the file in the way, missing from the source, deleted: a second run finishes
    copy(folder_dsn(source), folder_dsn(target))
    assert folder_checksums(target) == checksums()


def test_bad_dsns_are_refused_in_one_line_without_their_secret(source, moto_server):
    message, _ = refusal("s3:/key:s3cret@bucket", "default")
    assert message == (
        "SOURCE_DSN='s3:/key:***@bucket' is not a URL: use e.g. "
        "s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4"
    )
    message, _ = refusal(folder_dsn(source), "ftp://user:s3cret@host/")
    assert message.startswith("TARGET_DSN='ftp://user:***@host/' has no supported scheme")
    message, _ = refusal(folder_dsn(source), "file://data/media/")
    assert message.startswith("TARGET_DSN='file://data/media/' needs an absolute path")
    message, _ = refusal(folder_dsn(source), folder_dsn(source))
    assert "are the same storage" in message


def test_an_unreachable_or_missing_bucket_is_said_in_one_line_with_nothing_written(
    source, moto_server, tmp_path
):
    message, output = refusal(folder_dsn(source), s3_dsn(closed_endpoint(), credentials="k:s3cret"))

    assert message.startswith("TARGET_DSN='s3://k:***@media.s3.us-east-1.amazonaws.com/")
    assert "cannot be listed (EndpointConnectionError): check that it exists" in message
    assert "s3cret" not in message + output

    message, _ = refusal(folder_dsn(source), s3_dsn(moto_server, bucket="no-such-bucket"))
    assert "cannot be listed (NoSuchBucket)" in message

    message, _ = refusal(s3_dsn(moto_server, bucket="no-such-bucket"), folder_dsn(tmp_path / "t"))
    assert message.startswith("SOURCE_DSN=")
    assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_a_copy_killed_halfway_then_run_again_copies_everything_once(tmp_path, moto_server):
    source = tmp_path / "source"
    files = {f"{n // 20:04}/file-{n}.bin": os.urandom(256 * 1024) for n in range(400)}
    write_files(source, files)
    bucket, dsn = bucket_on(moto_server)
    command = [sys.executable, "manage.py", "copy_media", folder_dsn(source), dsn, "--jobs=2"]
    process = subprocess.Popen(
        command, cwd=BASE_DIR, stdout=subprocess.DEVNULL, start_new_session=True
    )
    client = boto3.client("s3", **on_server(moto_server))
    deadline = time.monotonic() + 60
    while client.list_objects_v2(Bucket=bucket.name).get("KeyCount", 0) < 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert len(bucket_checksums(bucket)) < len(files)

    output = copy(folder_dsn(source), dsn)

    assert "already identical at the target" in output
    assert bucket_checksums(bucket) == checksums(files)


@pytest.mark.slow
def test_a_download_killed_halfway_leaves_no_partial_file(tmp_path, moto_server):
    bucket, dsn = bucket_on(moto_server)
    files = {f"{n:03}.bin": os.urandom(2**20) for n in range(100)}
    for key, content in files.items():
        bucket.put_object(Key=key, Body=content)
    target = tmp_path / "target"
    command = [sys.executable, "manage.py", "copy_media", dsn, folder_dsn(target), "--jobs=2"]
    process = subprocess.Popen(
        command, cwd=BASE_DIR, stdout=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while len(list(target.rglob("*.bin"))) < 10:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL

    copy(dsn, folder_dsn(target))

    assert folder_checksums(target) == checksums(files)


@pytest.mark.slow
def test_a_terminal_gets_a_progress_bar_with_bytes_files_and_rate(source, tmp_path):
    leader, follower = pty.openpty()
    command = ["manage.py", "copy_media", folder_dsn(source), folder_dsn(tmp_path / "target")]
    with subprocess.Popen(
        [sys.executable, *command], cwd=BASE_DIR, stdout=follower, stderr=follower
    ) as process:
        os.close(follower)
        shown = b""
        with contextlib.suppress(OSError):  # the terminal closes with the command
            while piece := os.read(leader, 65536):
                shown += piece
    os.close(leader)

    assert process.returncode == 0
    assert f"copied {len(FILES)}/{len(FILES)} files".encode() in shown
    assert b"9.4 MB" in shown  # bytes, as a terminal shows them
    assert b"/s" in shown  # the rate
    assert b"\x1b[" in shown  # drawn, not printed line by line
    assert b"copied large/video.mp4" not in shown


def test_a_missing_source_folder_is_said_in_one_line(tmp_path):
    message, _ = refusal(folder_dsn(tmp_path / "typo"), folder_dsn(tmp_path / "target"))

    assert message == (
        f"SOURCE_DSN='{folder_dsn(tmp_path / 'typo')}' names the folder {tmp_path / 'typo'}, "
        "which does not exist: correct the path"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_to_a_bucket_notices_a_file_changed_since_the_last(source, s3, tmp_path):
    bucket, dsn = s3
    copy(folder_dsn(source), dsn)
    (cache,) = (tmp_path / "cache" / "copy_media").iterdir()
    assert len(json.loads(cache.read_text())) == len(FILES)
    # Same size, other content, and a later modification time (as any write gives it).
    Path(source, "0123456789abcdef/report.pdf").write_bytes(b"%PDF-1.7 REPORT")

    output = copy(folder_dsn(source), dsn, "--verify")

    assert "1 to copy" in output
    assert "copied 0123456789abcdef/report.pdf" in output
    assert bucket_checksums(bucket) == folder_checksums(source)
    assert list(source.rglob(".*")) == []  # the cache is not in the source


def test_a_damaged_hash_cache_only_costs_time(source, s3, tmp_path):
    _, dsn = s3
    copy(folder_dsn(source), dsn)
    (cache,) = (tmp_path / "cache" / "copy_media").iterdir()
    cache.write_text("{not json")

    output = copy(folder_dsn(source), dsn)

    assert f"{len(FILES)} already identical at the target, 0 to copy" in output
    assert len(json.loads(cache.read_text())) == len(FILES)
