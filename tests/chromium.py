"""Headless Chromium as the browser tests (tests/e2e) and make benchmark (benchmarks/) launch it:
no Django here, which the benchmark's process does not load."""

# What it takes for Debian's Chromium to run headless as root in a container, and to keep
# it from calling home (updates, sync, QUIC probes) while it tests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
