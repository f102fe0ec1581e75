"""make benchmark, small: every part runs and gives numbers (never judged by speed here)."""

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright

from benchmarks import load
from benchmarks.app import PART_SIZE, TARGETS, browser_upload, nginx_binary, ratios, report
from file_lifecycle import direct_uploads
from tests.chromium import launch_chromium
from tests.helpers import BASE_DIR

# Not targets: how close to them any app under Uvicorn, or any page in Chromium, can come.
STATIC_FLOORS = {"static_floor_vs_nginx", "static_gzip_floor_vs_nginx"}
FLOOR_PARTS = {*STATIC_FLOORS, "browser_floor_vs_boto3"}
# Ratios to nginx: its static file's targets, and Uvicorn's floor beside them.
NGINX_PARTS = {"static_vs_nginx", "static_gzip_vs_nginx", *STATIC_FLOORS}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """make benchmark --small, once: its results, its output and where it wrote its chart."""
    tmp_path = tmp_path_factory.mktemp("benchmark")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.app",
            "--small",
            "--json",
            tmp_path / "results.json",
            "--chart",
            tmp_path / "chart.png",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp_path / "results.json").read_text()), result.stdout, tmp_path


@pytest.mark.slow
def test_small_run_measures_every_part(small_run):
    results, stdout, tmp_path = small_run
    assert results["machine"]["cores"] >= 1
    for server in ("uvicorn", "gunicorn"):
        for path in ("login", "healthz", "static", "static_gzip"):
            measured = results["throughput"][server][path]
            assert measured["requests_per_second"] > 0
            assert 0 < measured["p50_ms"] <= measured["p99_ms"]
    # Uvicorn's floor: the same static answers from a bare app, and nothing else.
    assert set(results["throughput"]["floor"]) == {"static", "static_gzip"}
    assert results["throughput"]["floor"]["static_gzip"]["requests_per_second"] > 0
    if nginx_binary():
        assert results["throughput"]["nginx"]["static"]["requests_per_second"] > 0
        assert results["ratios"]["static_gzip_floor_vs_nginx"] > 0
        assert "Uvicorn's floor, a bare app sending the same answers / nginx" in stdout
    else:
        assert "not installed" in results["throughput"]["nginx"]
        assert "not installed" in stdout
    for where in ("local", "s3"):
        assert results["uploads"][where]["seconds"] > 0
        assert results["uploads"][where]["rss_growth_mb"] >= 0
        concurrent = results["uploads"][where]["concurrent"]
        assert (concurrent["uploads"], concurrent["mib"]) == (20, 2)
        assert concurrent["rss_before_mb"] > 0
        assert concurrent["rss_growth_mb"] >= 0
    assert results["uploads"]["dd_seconds"] > 0
    browser = results["browser_upload"]
    # Each round measured all three; the best of each counts, the worst memory and bytes.
    assert len(browser["rounds"]) == 2
    for key in ("seconds", "boto3_seconds", "floor_seconds"):
        assert browser[key] == min(each[key] for each in browser["rounds"]) > 0
    for key in ("rss_growth_mb", "app_received_mb"):
        assert browser[key] == max(each[key] for each in browser["rounds"])
    (each_round,) = [line for line in stdout.splitlines() if line.startswith("  each round")]
    figures = each_round.split(": ", 1)[1].removesuffix(" s").split(", ")
    assert [len(seconds.split(" / ")) for seconds in figures] == [3, 3]
    assert "Chromium's floor, a bare page sending the same parts / boto3" in stdout
    assert browser["rss_growth_mb"] >= 0
    # The file went straight to the bucket: the app received the pages' requests, not its bytes.
    assert 0 < browser["app_received_mb"] < browser["size_mib"] * 2**20 / 10**6 / 4
    assert len(results["changelist"]) == 2
    for measured in results["changelist"].values():
        assert measured["queries"] > 0
        assert measured["median_ms"] > 0
    media, copied = results["transfer"]["media"], results["transfer"]["database"]
    assert (media["first"]["files"], media["second"]["files"]) == (media["files"], 0)
    assert copied["differences"] == 0
    measured = {key for key, value in results["ratios"].items() if value is not None}
    expected = {key for key, *_ in TARGETS} | FLOOR_PARTS
    assert measured == (expected if nginx_binary() else expected - NGINX_PARTS)
    # Each target on a line of its own, judged (a small run is never a failure).
    for _, what, *_ in TARGETS:
        (line,) = [line for line in stdout.splitlines() if line.startswith(what)]
        assert line.endswith(("met", "(see above)")) or "MISSED (tried:" in line
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_machine_without_chromium_gets_every_other_number(small_run, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", "/nonexistent")
    with sync_playwright() as playwright:
        assert launch_chromium(playwright) is None
    results = {**small_run[0], "browser_upload": browser_upload(None, None, None, 1, 1)}
    # Row counts, as the run has them before its JSON makes them strings.
    results["changelist"] = {int(rows): each for rows, each in results["changelist"].items()}

    results["ratios"] = ratios(results)
    missed = report(results)

    stdout = capsys.readouterr().out
    said = "upload in a browser to S3: not measured (no Chromium: apt-get install chromium)"
    assert said in stdout.splitlines()
    assert "Chromium's floor" not in stdout
    for key, what, *_ in TARGETS:
        (line,) = [line for line in stdout.splitlines() if line.startswith(what)]
        if key.startswith("browser_"):
            assert line.endswith("not measured (see above)")
            assert key not in missed
        else:  # judged as in the run itself
            assert line in small_run[1].splitlines()


def test_the_bare_page_sends_the_apps_parts():
    # Chromium's floor is only a floor for parts of the size the admin's page sends.
    assert PART_SIZE == direct_uploads.PART_SIZE


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def test_the_python_load_client_stands_in_for_wrk(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        measured = load.measure(url, 0.5, {"X-Forwarded-Proto": "https"})
    finally:
        server.shutdown()
        thread.join()
        server.server_close()

    assert "wrk not installed" in load.client_name()
    assert measured["requests_per_second"] > 0
    assert 0 < measured["p50_ms"] <= measured["p99_ms"]
