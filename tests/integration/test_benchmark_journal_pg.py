"""``benchmarks/journal_pg.py``, briefly, against the test PostgreSQL: every row it promises
is printed (no timing assertions)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.postgres import PASSWORD, Database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_prints_every_row(postgres: Database, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.journal_pg",
            "--dsn",
            f"{postgres.dsn} password={PASSWORD}",
            "--seconds",
            "0.3",
            "--batches",
            "1,5",
            "--dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"(\d) writer\(s\), batch +(\d+): +\d+ records/s", done.stdout)
    assert {("1", "1"), ("1", "5"), ("2", "1"), ("2", "5")} <= set(rows)
    journals = re.findall(r"^(PostgreSQL, \d node|SQLite, 1 node).* appends/s", done.stdout, re.M)
    assert journals == ["PostgreSQL, 1 node", "PostgreSQL, 2 node", "SQLite, 1 node"]
