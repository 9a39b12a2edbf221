"""The failover tests' panels on their own: two receiver nodes, each on its own SQLite
journal, panels dialling the first with the second as backup. SIGKILL the first under load:
the panels move to the second, and every event ACKed is in the journal of the node that
ACKed it, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.daemon import Daemon, write_config
from tests.panels import Panels, accounts

pytestmark = pytest.mark.integration

PANELS = 12
WAIT_S = 30.0


def node(directory: Path, name: str, panel_accounts: list[str]) -> Daemon:
    directory.mkdir()
    config = write_config(
        directory,
        accounts=[f'account = "{account}"' for account in panel_accounts],
        log_level="info",
    )
    config.write_text(config.read_text().replace('id = "rx-test"', f'id = "{name}"'))
    return Daemon(config)


def journaled(config: Path) -> Counter[tuple[str, str]]:
    """(account, sequence) of every panel message in the journal, with its count."""
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "journal", "query", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return Counter((row["account"], row["sequence"]) for row in rows if row.get("sequence"))


def verify(config: Path) -> None:
    command = [sys.executable, "-m", "alarmrx", "journal", "verify", "--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_panels_fail_over_to_their_backup_address(tmp_path: Path) -> None:
    panel_accounts = accounts(PANELS)
    names = [a.account for a in panel_accounts]
    first, second = node(tmp_path / "a", "rx-a", names), node(tmp_path / "b", "rx-b", names)
    with first, second, Panels((first.port, second.port), panel_accounts) as panels:
        panels.wait_acked(PANELS * 3, WAIT_S)
        first.kill()
        killed_at = time.monotonic()
        panels.wait_acked(PANELS * 3, WAIT_S, since=killed_at)
        panels.wait_until(lambda: all(moved(panels, n) for n in names), WAIT_S)
        panels.stop()
        second.terminate()
    events = panels.events
    assert any(e.attempts > 1 for e in events)  # some got no ACK from the dead node
    for daemon, port in ((first, first.port), (second, second.port)):
        verify(daemon.config)
        stored = journaled(daemon.config)
        acked = [e.key for e in events if e.acked_by == port]
        assert acked
        assert [key for key in acked if stored[key] != 1] == []


def moved(panels: Panels, account: str) -> bool:
    """The panel of ``account`` has had an event ACKed by the backup."""
    ports = panels.ports
    return any(e.account == account and e.acked_by == ports[1] for e in panels.events)
