"""make benchmark's rows for moving data (transfer/), against baselines in the same run:

- 1 GiB in 1,000 files from a folder to an S3 server over HTTP (moto): copy_media's time
  against boto3's transfer manager sending the same files with the same concurrency, its peak
  RSS growth, and a second run's time and files sent;
- 100,000 rows PostgreSQL -> SQLite -> PostgreSQL with copy_database: the peak RSS of every
  process involved, and the rows that differ between the first and the last database (pg_dump).

Each copy runs in a process of its own, which prints its measures as JSON:

    python -m benchmarks.transfer media|boto3|database ARGUMENTS...
"""

import json
import logging
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.postgres import find_bindir, new_database

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SIZES = {
    "full": {"files": 1000, "file_kib": 1024, "rows": 100_000},
    "small": {"files": 20, "file_kib": 64, "rows": 1000},
}
# copy_media's own default, given to the baseline too.
CONCURRENCY = 10
TARGETS = [
    ("copy_media_vs_boto3", "copy_media to S3, time / boto3 transfer manager's", "<=", 1.2),
    ("copy_media_rss_mb", "copy_media to S3, peak RSS growth (MB)", "<=", 64),
    ("copy_media_rerun_share", "copy_media second run, time / first run's", "<=", 0.1),
    ("copy_media_rerun_files", "copy_media second run, files sent", "<=", 0),
    ("copy_database_rss_mb", "copy_database PG -> SQLite -> PG, peak RSS (MB)", "<=", 128),
    ("copy_database_differences", "copy_database PG -> SQLite -> PG, rows that differ", "<=", 0),
]
TRIED = {
    "copy_media_vs_boto3": "boto3's transfer manager itself (S3Transfer), one for all files, "
    "as many files at once as it has threads; what is left is listing and hashing",
    "copy_media_rss_mb": "files sent from disk by the transfer manager, never read whole",
    "copy_media_rerun_share": "one listing of each side; sizes first, then MD5 against ETags",
    "copy_media_rerun_files": "size and MD5 (the ETag, or the MD5 kept with an object sent in "
    "parts)",
    "copy_database_rss_mb": "rows read in chunks and written 2,000 at a time (transfer/rows.py)",
    "copy_database_differences": "pks kept, content types and permissions mapped by natural "
    "key, sequences reset",
}


def measure(database, size_name):
    """Both parts, each copy in a process of its own; database: a DSN on the server to use."""
    size = SIZES[size_name]
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="myapp-bench-")))
        return {
            "media": media(folder, size["files"], size["file_kib"]),
            "database": databases(stack, folder, database, size["rows"]),
        }


def media(folder, files, file_kib):
    source = folder / "media"
    for number in range(files):
        path = source / f"{number % 100:02}" / secrets.token_hex(8) / f"file-{number}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(file_kib * 1024))
    from benchmarks.app import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    port = free_port()
    moto = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    moto.start()
    try:
        endpoint = f"http://{HOST}:{port}"
        s3 = boto3.resource("s3", **on_server(endpoint))
        for bucket in ("baseline", "copy"):
            s3.create_bucket(Bucket=bucket)
        baseline = driver("boto3", source, endpoint, "baseline")
        s3.Bucket("baseline").objects.all().delete()
        source_dsn = f"{source.as_uri()}/?url=%2Fmedia%2F"
        target_dsn = (
            "s3://key:secret@copy.s3.us-east-1.amazonaws.com/"
            f"?auth=s3v4&endpoint={urllib.parse.quote(endpoint, safe='')}"
        )
        first = driver("media", source_dsn, target_dsn)
        second = driver("media", source_dsn, target_dsn)
        sent = sum(item.size for item in s3.Bucket("copy").objects.all())
        assert sent == files * file_kib * 1024, sent
    finally:
        moto.stop()
    return {
        "files": files,
        "mib": files * file_kib / 1024,
        "boto3_seconds": baseline["seconds"],
        "first": first,
        "second": second,
    }


def databases(stack, folder, database, rows):
    source = stack.enter_context(new_database(database, "bench_copy_source"))
    back = stack.enter_context(new_database(database, "bench_copy_back"))
    django("migrate", "--no-input", environ={"DEFAULT_DATABASE_DSN": source})
    fill(source, rows)
    sqlite = f"sqlite:///{folder / 'copy.sqlite3'}"
    there = driver("database", source, sqlite)
    back_again = driver("database", sqlite, back)
    return {
        "rows": rows,
        "to_sqlite": there,
        "to_postgresql": back_again,
        "differences": len(dump(source) ^ dump(back)),
    }


def fill(dsn, rows):
    """rows rows in all: users, their admin log entries (which refer to a content type), and
    the rest uploads."""
    users = 10
    statements = [
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) SELECT '!', false, 'user-' || n, '', '', '', true, "
        "true, now() FROM generate_series(1, :users) AS n",
        "INSERT INTO django_admin_log (action_time, user_id, content_type_id, object_id, "
        "object_repr, action_flag, change_message) SELECT now(), id, (SELECT id FROM "
        "django_content_type WHERE model = 'user'), id::text, 'user', 1, '[]' FROM auth_user",
        "INSERT INTO uploader_uploadedfile (file, original_name, content_type, size, "
        "uploaded_at, has_preview, uploaded_by_id) SELECT md5(n::text) || '/file-' || n || "
        "'.txt', 'file-' || n || '.txt', 'text/plain', n, now() - n * interval '1 minute', "
        "false, (SELECT min(id) FROM auth_user) FROM generate_series(1, :uploads) AS n",
    ]
    variables = ["-v", f"users={users}", "-v", f"uploads={rows - 2 * users}"]
    subprocess.run(
        [find_bindir() / "psql", "--quiet", "--dbname", dsn, "-v", "ON_ERROR_STOP=1", *variables],
        input=";\n".join(statements) + ";\n",
        text=True,
        check=True,
        capture_output=True,
    )


def dump(dsn):
    """The rows of a database as pg_dump gives them (not migrate's record of its own runs)."""
    output = subprocess.run(
        [
            find_bindir() / "pg_dump",
            "--data-only",
            "--exclude-table-data=django_migrations",
            "--dbname",
            dsn,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Not its comments, nor the random key of its \restrict line (PostgreSQL 17.6, 16.10...).
    return {line for line in output.splitlines() if line and not line.startswith(("--", "\\"))}


def driver(role, *args):
    """Run this module as role in a process of its own; its JSON."""
    output = django_python("-m", "benchmarks.transfer", role, *map(str, args))
    return json.loads(output.splitlines()[-1])


def django(*command, environ=None):
    return django_python("-m", "django", *command, environ=environ)


def django_python(*command, environ=None):
    result = subprocess.run(
        [sys.executable, *command],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", os.defpath),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "myapp.settings",
            **(environ or {}),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"{' '.join(command[:3])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def on_server(endpoint):
    return {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "key",
        "aws_secret_access_key": "secret",  # any will do for moto
        "config": Config(s3={"addressing_style": "path"}),
    }


# What each process measures


def peak_kb():
    """This process's peak RSS (kB), from the last reset_peak()."""
    from benchmarks.app import memory

    return memory(os.getpid(), "VmHWM")


def reset_peak():
    """Start counting the peak RSS from now (Linux 4.0+); the RSS now, in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_kb()


def copy_media_role(source, target):
    import io

    import django
    from django.core.management import call_command

    django.setup()
    import transfer.management.commands.copy_media  # noqa: F401 (loaded before measuring)

    before = reset_peak()
    output = io.StringIO()
    started = time.monotonic()
    call_command("copy_media", source, target, stdout=output)
    seconds = time.monotonic() - started
    copied = int(re.search(r"([0-9]+) to copy", output.getvalue())[1])
    return {"seconds": seconds, "rss_growth_mb": (peak_kb() - before) / 1024, "files": copied}


def boto3_role(folder, endpoint, bucket):
    client = boto3.client("s3", **on_server(endpoint))
    started = time.monotonic()
    config = TransferConfig(max_concurrency=CONCURRENCY)
    with create_transfer_manager(client, config) as manager:
        futures = [
            manager.upload(str(path), bucket, path.relative_to(folder).as_posix())
            for path in Path(folder).rglob("*")
            if path.is_file()
        ]
        for future in futures:
            future.result()
    return {"seconds": time.monotonic() - started}


def copy_database_role(source, target):
    import io

    import django
    from django.core.management import call_command

    django.setup()
    started = time.monotonic()
    call_command("copy_database", source, target, stdout=io.StringIO())
    # The peak of this process and of the largest it started (the one that copies the rows).
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": time.monotonic() - started, "rss_mb": max(peak_kb(), children) / 1024}


# The results, for benchmarks/app.py


def ratios(results):
    media, database = results["media"], results["database"]
    first, second = media["first"], media["second"]
    rss = [database[part]["rss_mb"] for part in ("to_sqlite", "to_postgresql")]
    return {
        "copy_media_vs_boto3": first["seconds"] / media["boto3_seconds"],
        "copy_media_rss_mb": max(first["rss_growth_mb"], second["rss_growth_mb"]),
        "copy_media_rerun_share": second["seconds"] / first["seconds"],
        "copy_media_rerun_files": second["files"],
        "copy_database_rss_mb": max(rss),
        "copy_database_differences": database["differences"],
    }


def report(results):
    media, database = results["media"], results["database"]
    print(
        f"\ncopy of {media['files']:,} files, {media['mib']:,.0f} MiB, folder -> S3"
        "   seconds   peak RSS growth (MB)   files sent"
    )
    print(f"  boto3 transfer manager{'':<24}{media['boto3_seconds']:>8.2f}")
    for run in ("first", "second"):
        measured = media[run]
        print(
            f"  copy_media, {run} run{'':<{27 - len(run)}}{measured['seconds']:>8.2f}"
            f"{measured['rss_growth_mb']:>23.1f}{measured['files']:>13,}"
        )
    print(f"\ncopy_database of {database['rows']:,} rows   seconds   peak RSS (MB)")
    for part, label in (("to_sqlite", "PostgreSQL -> SQLite"), ("to_postgresql", "and back")):
        measured = database[part]
        print(f"  {label:<24}{measured['seconds']:>11.2f}{measured['rss_mb']:>16.1f}")
    print(f"  rows that differ (pg_dump): {database['differences']}")


def main():
    """This section alone: python -m benchmarks.transfer [--small]."""
    from benchmarks.app import fresh_database

    size = "small" if "--small" in sys.argv else "full"
    with fresh_database() as database:
        results = measure(database, size)
    report(results)
    for key, what, direction, bound in TARGETS:
        value = ratios(results)[key]
        met = value >= bound if direction == ">=" else value <= bound
        print(f"{what:<56}{value:>10.3g}  {direction} {bound:<5}{'met' if met else 'MISSED'}")


ROLES = {"media": copy_media_role, "boto3": boto3_role, "database": copy_database_role}

if __name__ == "__main__":
    if sys.argv[1:2] and sys.argv[1] in ROLES:
        print(json.dumps(ROLES[sys.argv[1]](*sys.argv[2:])))
    else:
        main()
