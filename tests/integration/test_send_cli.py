"""``alarmrx send`` against the daemon: each send of an account takes the next sequence, so
the same event sent twice in a second is two events, not a retransmission (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.daemon import Daemon, write_config

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind

pytestmark = pytest.mark.integration


def send(
    port: int, state: Path, *extra: str, data: str = "Nri1/BA01"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    argv = [sys.executable, "-m", "alarmrx", "send", "--to", f"127.0.0.1:{port}"]
    argv += ["--account", "1234", "--sia", data, *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, check=False)


def test_two_quick_sends_are_two_events(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Daemon(write_config(tmp_path, accounts=['account = "1234"'])) as daemon:
        first, second = send(daemon.port, state), send(daemon.port, state)
        given = send(daemon.port, state, "--sequence", "9999")
        wrapped = send(daemon.port, state, data="Nri1/BA02")  # 0001 again: another event
        refused = send(daemon.port, state, "--sequence", "10000")
    replies = [json.loads(r.stdout) for r in (first, second, given, wrapped)]
    assert [r["reply"] for r in replies] == ["ACK"] * 4
    records = [r for r in query(tmp_path / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert [r.body["sequence"] for r in records] == ["0001", "0002", "9999", "0001"]
    assert [r.repeats for r in records] == [0, 0, 0, 0]
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "--sequence must be 0 to 9999" in refused.stderr
    kept = json.loads((state / "alarmrx" / "send-sequence.json").read_text(encoding="utf-8"))
    assert kept == {"1234": 1}
