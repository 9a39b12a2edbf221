"""The running daemon keeps the per-account index beside its SQLite journal: the consumers
follow the journal into it, a restarted consumers process goes on from where the index is,
and a clean stop leaves it synced; ``alarmrx journal query --account`` reads through it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.hostile.support import log_events, metric, wait_until

from alarmrx.journal.accounts import attach, index_path
from alarmrx.journal.query import query
from alarmrx.journal.schema import connect_reader

pytestmark = pytest.mark.integration

ACCOUNTS = ("1234", "5678")


def _indexed(journal: Path) -> int | None:
    if not journal.exists():
        return None
    conn = connect_reader(journal, live=True)
    try:
        return attach(conn, journal)
    finally:
        conn.close()


def _head(journal: Path) -> int:
    conn = connect_reader(journal, live=True)
    try:
        return int(conn.execute("SELECT max(journal_seq) FROM records").fetchone()[0] or 0)
    finally:
        conn.close()


def _send(port: int, first: int) -> None:
    for account in ACCOUNTS:
        frames = [
            frame(account, f"#{account}|Nri1/BA{n:03d}", sequence=n)
            for n in range(first, first + 5)
        ]
        assert all(b'"ACK"' in reply for reply in exchange_tcp(port, frames))


def _cli_seqs(config: Path, account: str) -> list[int]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alarmrx",
            "journal",
            "query",
            "--config",
            str(config),
            "--account",
            account,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line)["journal_seq"] for line in done.stdout.splitlines() if line]


def test_the_consumers_keep_the_account_index(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, accounts=[f'account = "{a}"' for a in ACCOUNTS], log_level="info"
    )
    journal = tmp_path / "journal.db"
    with Daemon(config) as daemon:
        _send(daemon.port, 1)
        wait_until(lambda: _indexed(journal) == _head(journal) >= 10, 20, "index at the head")

        [consumers] = daemon.child_pids("consumers")
        os.kill(consumers, signal.SIGKILL)
        wait_until(
            lambda: sum(e.get("event") == "account_index_opened" for e in log_events(daemon)) == 2,
            30,
            "the restarted consumers opened the index again",
        )
        reopened = [e for e in log_events(daemon) if e.get("event") == "account_index_opened"]
        assert reopened[-1]["position"] >= 10  # went on from where it was, not from zero
        assert not any(e.get("event") == "account_index_rebuilt" for e in log_events(daemon))

        _send(daemon.port, 6)
        wait_until(lambda: _indexed(journal) == _head(journal) >= 20, 20, "index at the head")
        wait_until(
            lambda: metric(daemon, "alarmrx_account_index_last_seq") == _head(journal),
            10,
            "the index's gauge at the head",
        )
        assert daemon.terminate() == 0

    with sqlite3.connect(index_path(journal)) as conn:
        assert conn.execute("SELECT journal_seq, synced FROM indexed").fetchone() == (
            _head(journal),
            1,
        )
    conn.close()
    for account in ACCOUNTS:
        expected = [r.journal_seq for r in query(journal) if r.account == account]
        assert len(expected) >= 10
        assert _cli_seqs(config, account) == expected
