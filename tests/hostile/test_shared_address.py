"""Panels behind one address (a mobile carrier's NAT, a cloud relay) during an alarm storm:
with the shipped limits every frame is answered; the limit that holds is per connection, and
the per-address limits work when asked for (docs/operations.md, "Limits")."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.daemon import Daemon, frame, read_replies, write_config
from tests.hostile.support import connect_from, metric, raise_open_files, wait_until

pytestmark = pytest.mark.integration

PANELS = 250  # connections from one address
FRAMES_EACH = 4  # 1 000 frames at once: five times the old per-address burst of 200
IDLE_FROM_ONE = 2_100  # above the old per-address bound of 2 000 connections
SOURCE = "127.0.5.1"


def _daemon(tmp_path: Path, receiver: str = "") -> Daemon:
    config = write_config(
        tmp_path,
        accounts=['account = "1234"'],
        receiver=receiver,
        log_level="info",
        shipped_limits=True,
    )
    return Daemon(config)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    raise_open_files(IDLE_FROM_ONE + 500)
    with _daemon(tmp_path) as running:
        yield running


def _storm(port: int) -> list[bytes]:
    """Every panel connects from ``SOURCE`` first, then all send their frames at once; the
    replies each panel read."""
    panels = [connect_from(SOURCE, port, timeout=20) for _ in range(PANELS)]
    try:
        batches = [
            b"".join(
                frame("1234", f"#1234|Nri1/BA{n % 99 + 1:02d}", sequence=p * FRAMES_EACH + n + 1)
                for n in range(FRAMES_EACH)
            )
            for p in range(PANELS)
        ]
        for sock, batch in zip(panels, batches, strict=True):
            sock.sendall(batch)
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(lambda s: read_replies(s, FRAMES_EACH), panels))
    finally:
        for sock in panels:
            sock.close()


def test_an_alarm_storm_behind_one_address_is_answered_in_full(daemon: Daemon) -> None:
    replies = _storm(daemon.port)
    acks = sum(r.count(b'"ACK"') for r in replies)
    assert acks == PANELS * FRAMES_EACH
    assert metric(daemon, "alarmrx_limits_hit_total", limit="peer_rate") == 0
    assert metric(daemon, "alarmrx_limits_hit_total", limit="connection_rate") == 0


def test_many_connections_from_one_address_are_admitted(daemon: Daemon) -> None:
    sockets: list[socket.socket] = []
    try:
        sockets += [connect_from(SOURCE, daemon.port) for _ in range(IDLE_FROM_ONE)]
        wait_until(
            lambda: metric(daemon, "alarmrx_connections") == IDLE_FROM_ONE,
            30,
            "every connection admitted",
        )
    finally:
        for sock in sockets:
            sock.close()
    assert metric(daemon, "alarmrx_limits_hit_total", limit="connections_per_ip") == 0


def test_one_connection_flooding_is_held_to_its_own_rate(daemon: Daemon) -> None:
    """The shipped per-connection limit is live: 400 frames at once on one connection get
    the burst (200) answered and the rest refused, while another connection from the same
    address is served."""
    flood = b"".join(frame("1234", "#1234|Nri1/BA01", sequence=n % 9999 + 1) for n in range(400))
    with connect_from(SOURCE, daemon.port) as flooder:
        flooder.sendall(flood)
        wait_until(
            lambda: metric(daemon, "alarmrx_limits_hit_total", limit="connection_rate") > 0,
            20,
            "the flood limited",
        )
        with connect_from(SOURCE, daemon.port) as panel:
            panel.sendall(frame("1234", "#1234|Nri1/FA01", sequence=1))
            assert b'"ACK"' in read_replies(panel, 1)
    assert metric(daemon, "alarmrx_limits_hit_total", limit="peer_rate") == 0


def test_per_address_limits_hold_when_configured(tmp_path: Path) -> None:
    receiver = "peer_rate = 50.0\npeer_burst = 200\nmax_connections_per_ip = 100"
    with _daemon(tmp_path, receiver) as daemon:
        sockets = [connect_from(SOURCE, daemon.port) for _ in range(101)]
        try:
            wait_until(
                lambda: metric(daemon, "alarmrx_limits_hit_total", limit="connections_per_ip") == 1,
                20,
                "the 101st connection refused",
            )
            batch = b"".join(frame("1234", "#1234|Nri1/BA01", sequence=n + 1) for n in range(3))
            for sock in sockets:
                with contextlib.suppress(OSError):  # the refused one was hung up on
                    sock.sendall(batch)
            wait_until(
                lambda: metric(daemon, "alarmrx_limits_hit_total", limit="peer_rate") > 0,
                20,
                "frames past the address's burst refused",
            )
        finally:
            for sock in sockets:
                sock.close()
