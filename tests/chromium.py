"""Headless Chromium as the browser tests (tests/e2e) and make benchmark (benchmarks/) launch it:
no Django here, which the benchmark's process does not load."""

import shutil
from pathlib import Path

NO_CHROMIUM = "no Chromium: apt-get install chromium"

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


def launch_chromium(playwright):
    """Debian's Chromium if installed, else Playwright's own (GitHub's runners), else None:
    `playwright install` cannot download on every machine, and would fetch another build."""
    executable = shutil.which("chromium")
    if not executable and not Path(playwright.chromium.executable_path).exists():
        return None
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
