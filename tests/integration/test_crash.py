"""Crash consistency: SIGKILL under load from several connections, restart, and check that
every frame that got an ACK is in the journal exactly once and the chain verifies.

CI runs a few rounds; ``ALARMRX_CRASH_ROUNDS=50`` runs the full battery locally.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections import Counter
from pathlib import Path

import pytest
from tests.daemon import Daemon, frame, read_reply, write_config
from tests.hostile.support import wait_until

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.journal.verify import verify_chain

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("ALARMRX_CRASH_ROUNDS", "4"))
CONNECTIONS = 6


def _panel(port: int, number: int, rnd: int, acked: list[bytes], stop: threading.Event) -> None:
    """Send frames one at a time and keep those that were ACKed, until the line dies."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            for i in range(1, 100_000):
                if stop.is_set():
                    return
                data = frame("1234", f"#1234|Nri{number}/BA{rnd}{i:05d}", sequence=i % 9999 + 1)
                sock.sendall(data)
                if b'"ACK"' not in read_reply(sock):
                    return
                acked.append(data)
    except OSError:
        return


def test_every_acked_frame_survives_sigkill(tmp_path: Path) -> None:
    config = write_config(tmp_path, accounts=['account = "1234"'])
    journal = tmp_path / "journal.db"
    acked: list[bytes] = []
    rng = random.Random(20261122)
    for rnd in range(ROUNDS):
        daemon = Daemon(config).start()
        stop = threading.Event()
        panels = [
            threading.Thread(target=_panel, args=(daemon.port, n, rnd, acked, stop))
            for n in range(CONNECTIONS)
        ]
        for panel in panels:
            panel.start()
        # the kill lands at a random point of the load: after a random number of new ACKs
        target = len(acked) + rng.randint(21, 300)
        wait_until(lambda n=target: len(acked) >= n, 30, f"{target} frames ACKed by round {rnd}")
        daemon.kill()
        stop.set()
        for panel in panels:
            panel.join(10)
    assert len(acked) > 20 * ROUNDS, "the load did not get going"
    Daemon(config).start().terminate()  # recovery after the last kill
    stored = Counter(r.raw for r in query(journal) if r.kind is RecordKind.MESSAGE)
    missing = [a for a in acked if a not in stored]
    assert missing == []
    assert [raw for raw, count in stored.items() if count > 1] == []
    assert verify_chain(journal).ok
