"""Commands on a data directory they cannot use: one sentence on stderr and exit status 1, no traceback.

A full disk was checked by hand on a 3 MB tmpfs ("No space left on device", "database or disk is full");
these tests make the same two failures without mounting anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _clean_env

COMMANDS = (
    ["accounts", "list"],
    ["accounts", "add-key", "AIzaStorage000000000000000000000000"],
    ["serve", "--port", "0"],
)


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolgate", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_database_that_cannot_be_opened(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "poolgate.db").mkdir()  # what SQLite meets when the file cannot be opened
    result = run(tmp_path, *args)
    assert result.returncode == 1
    assert result.stderr.strip() == "The database cannot be used: unable to open database file.", result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_data_directory_that_cannot_be_made(tmp_path: Path, args: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run(blocker / "data", *args)
    assert result.returncode == 1
    assert result.stderr.strip() == f"The data directory cannot be written: Not a directory: {blocker / 'data'}.", (
        result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
