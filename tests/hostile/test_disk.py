"""Disk trouble under the running daemon: the journal's filesystem fills up (a small tmpfs).

While it is full alarmrx ACKs nothing (the panel retries), ``/healthz`` answers 503,
``alarmrx_journal_healthy`` is 0 and a ``commit_failed`` line is logged. When space returns it
ACKs again without a restart, and everything ACKed before is still in the journal.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.daemon import Daemon, frame, read_reply, write_config
from tests.hostile.support import http_get, log_events, metric
from tests.tmpfs import tmpfs

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.journal.verify import verify_chain

pytestmark = pytest.mark.integration

TEXT = "A" * 2000  # a long zone text: each frame takes a few KiB of the small disk


def _alarm(n: int) -> bytes:
    return frame("1234", f"#1234|Nri1/BA{n % 999 + 1:03d}^{TEXT}^", sequence=n % 9999 + 1)


def _fill(sock: socket.socket, acked: list[bytes]) -> bytes:
    """Send alarms until one is not ACKed; return that one (the panel will retry it)."""
    for n in range(1, 5000):
        data = _alarm(n)
        sock.sendall(data)
        reply = read_reply(sock)
        if b'"ACK"' not in reply:
            assert reply == b"", f"a full disk must leave the panel unanswered, got {reply!r}"
            return data
        acked.append(data)
    pytest.fail("the journal's disk never filled up")


def test_full_disk_stops_acks_and_recovers_without_restart(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "3m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 2_400_000)  # what an operator can delete later
        config = write_config(
            tmp_path,
            accounts=['account = "1234"'],
            journal_path=disk / "journal.db",
            log_level="info",
        )
        with Daemon(config) as daemon:
            acked: list[bytes] = []
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=1) as sock:
                unanswered = _fill(sock, acked)
                for _retry in range(3):  # the panel retries: still nothing is ACKed
                    sock.sendall(unanswered)
                    assert read_reply(sock) == b""
                    if _reported_unhealthy(daemon):
                        break
                else:
                    pytest.fail("/healthz and alarmrx_journal_healthy never both said unhealthy")
                failed = [e for e in log_events(daemon) if e.get("event") == "commit_failed"]
                assert failed, "no commit_failed line in the log"
                assert failed[0]["level"] == "error"

                filler.unlink()  # space returns; nothing restarts alarmrx
                sock.settimeout(5)
                sock.sendall(unanswered)
                assert b'"ACK"' in read_reply(sock)
                acked.append(unanswered)
                after = _alarm(9000)
                sock.sendall(after)
                assert b'"ACK"' in read_reply(sock)
                acked.append(after)

            assert http_get(daemon.metrics_port, "/healthz")[0] == 200
            assert metric(daemon, "alarmrx_journal_healthy") == 1.0
            assert daemon.terminate() == 0

        stored = [r.raw for r in query(disk / "journal.db") if r.kind is RecordKind.MESSAGE]
        assert len(acked) > 10, "the disk filled before the test got going"
        assert [a for a in acked if a not in stored] == []
        assert stored.count(unanswered) == 1  # the retries were recorded once
        assert verify_chain(disk / "journal.db").ok


def _reported_unhealthy(daemon: Daemon) -> bool:
    """Right after a failed commit. A small commit (a consumer saving its cursor) may still
    fit into the journal's log file and report healthy in between: then the panel's retry
    fails again and the next look tells."""
    status, body = http_get(daemon.metrics_port, "/healthz")
    healthy = metric(daemon, "alarmrx_journal_healthy")
    return status == 503 and "journal cannot commit" in body and healthy == 0.0
