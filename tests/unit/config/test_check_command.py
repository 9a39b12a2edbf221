"""`alarmrx check` as a subprocess: exit 0 with a summary, or 78 with every problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
KEY = "00112233445566778899AABBCCDDEEFF"


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alarmrx", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin"},
    )


def test_valid_config_prints_a_summary_without_keys() -> None:
    result = check(REPO / "config" / "alarmrx.example.toml")
    assert result.returncode == 0, result.stderr
    assert "accounts: 2 (1 with a key)" in result.stdout
    assert "key: yes" in result.stdout
    assert "127.0.0.1:12128" in result.stdout
    assert KEY not in result.stdout
    assert KEY.lower() not in result.stdout
    assert result.stderr == ""


def test_problems_exit_78_one_line_each(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[receiver]\nidle_timeout = 1\n[[accounts]]\naccount = 1\n")
    result = check(config)
    assert result.returncode == 78
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{config}:2: receiver.idle_timeout: unknown key; did you mean 'idle_timeout_s'?",
        f"{config}:4: accounts[0].account: account must be a string: write it in quotes, "
        'e.g. "1" (a number loses leading zeros: "0123" is not 123)',
    ]


def test_no_traceback_for_missing_file_or_directory(tmp_path: Path) -> None:
    for config in (tmp_path / "absent.toml", tmp_path):
        result = check(config)
        assert result.returncode == 78
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"{config}: cannot read: ")
