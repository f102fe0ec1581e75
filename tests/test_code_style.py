import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


def test_code_is_linted():
    result = subprocess.run(
        [RUFF, "check", "--no-cache", "."], cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, f"run make format:\n{result.stdout}"


def test_code_is_formatted():
    result = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "."], cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, f"run make format:\n{result.stdout}"
