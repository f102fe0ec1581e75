"""HTTP load on one URL: wrk when installed, else a small Python client (say which in results)."""

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from urllib.parse import urlsplit

CONNECTIONS = 16
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def client_name():
    return "wrk" if shutil.which("wrk") else "python (wrk not installed: apt-get install wrk)"


def measure(url, seconds, headers, pin=None):
    """req/s, p50 and p99 latency (ms) over seconds, with CONNECTIONS keep-alive connections."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, headers, pin)
    return _python(url, seconds, headers)


def _wrk(url, seconds, headers, pin):
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    if pin is not None:
        command = ["taskset", "-c", str(pin), *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors or "Socket errors" in output:
        raise RuntimeError(f"errors under load from {url}:\n{output}")
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
    }


def _latency(output, percentile):
    line = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if line is None:
        raise RuntimeError(f"no {percentile} latency in wrk's output:\n{output}")
    value, unit = line.groups()
    return float(value) * UNITS[unit]


def _python(url, seconds, headers):
    """Threads on keep-alive connections: slower than wrk, so only ratios mean anything."""
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    latencies = []
    failures = []

    def run():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                connection.request("GET", parts.path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    failures.append(response.status)
                    return
                mine.append((time.perf_counter() - started) * 1000)
        finally:
            connection.close()
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(CONNECTIONS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"HTTP {failures[0]} under load from {url}")
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests_per_second": len(latencies) / (time.monotonic() - started),
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
    }
