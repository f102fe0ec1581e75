"""Serve a large static file through Uvicorn, as the Dockerfile's CMD does, and compare the
project's streaming WhiteNoise middleware with WhiteNoise's own (the baseline), measured in
the same run: download speed and the server's peak memory.

    make benchmark            (or: .venv/bin/python -m benchmarks.static_files --help)
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VARIANTS = {
    "baseline: whitenoise.middleware.WhiteNoiseMiddleware": "benchmarks.stock_whitenoise_settings",
    "project: myapp.middleware.AsyncWhiteNoiseMiddleware": "myapp.settings",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=64, help="size of the file served")
    parser.add_argument("--requests", type=int, default=8, help="downloads per variant")
    parser.add_argument("--concurrency", type=int, default=4, help="downloads at once")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder))
        big = project / "staticfiles" / "big.bin"
        big.parent.mkdir()
        with big.open("wb") as file:
            for _ in range(args.size_mb):
                file.write(os.urandom(1024 * 1024))
        results = {name: measure(project, module, args) for name, module in VARIANTS.items()}

    baseline, project_result = results.values()
    print(f"{args.requests} downloads of {args.size_mb} MB, {args.concurrency} at once, Uvicorn")
    for name, result in results.items():
        print(
            f"  {name}\n    {result['seconds']:.2f} s, {result['mb_per_s']:.0f} MB/s, "
            f"peak memory {result['peak_mb']:.0f} MB, "
            f"Django's synchronous-iterator warning: {'yes' if result['warned'] else 'no'}"
        )
    print(
        f"project / baseline: time x{project_result['seconds'] / baseline['seconds']:.2f}, "
        f"peak memory x{project_result['peak_mb'] / baseline['peak_mb']:.2f}"
    )


def copy_project(folder):
    project = folder / "app"
    shutil.copytree(
        BASE_DIR,
        project,
        ignore=shutil.ignore_patterns(".git", ".venv", "data", "staticfiles", "tests"),
    )
    return project


def measure(project, settings_module, args):
    port = free_port()
    environ = {
        "PATH": f"{Path(sys.executable).parent}:{os.defpath}",
        "DJANGO_SETTINGS_MODULE": settings_module,
        "SECRET_KEY": "benchmark-only-" + "x" * 50,
        "DOMAIN": "127.0.0.1",
        # The server checks its database at start: the copy has no data/ folder for SQLite.
        "DEFAULT_DATABASE_DSN": "sqlite://:memory:",
    }
    with tempfile.TemporaryFile() as log:
        return run_and_measure(project, port, environ, log, args)


def run_and_measure(project, port, environ, log, args):
    server = subprocess.Popen(
        ["uvicorn", "myapp.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/static/big.bin"
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        started = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            sizes = list(pool.map(lambda _: download(url), range(args.requests)))
        seconds = time.monotonic() - started
        peak_kb = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:")
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sizes == [args.size_mb * 1024 * 1024] * args.requests, "incomplete download"
    log.seek(0)
    return {
        "seconds": seconds,
        "mb_per_s": args.size_mb * args.requests / seconds,
        "peak_mb": peak_kb / 1024,
        "warned": b"must consume synchronous iterators" in log.read(),
    }


def download(url):
    size = 0
    with urllib.request.urlopen(url, timeout=120) as response:
        while chunk := response.read(1024 * 1024):
            size += len(chunk)
    return size


def wait_until_up(url, server, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the server stopped before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"no answer from {url} within {timeout} s")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
