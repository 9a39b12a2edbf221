"""TCP replies in frame order, whatever order their answers come in (a NULL or a rejected
frame is answered at once, a message only after its commit), pipelined or half-closed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_udp, frame, read_replies, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def daemon(tmp_path: Path):
    with Daemon(write_config(tmp_path, accounts=['account = "1234"'], log_level="info")) as running:
        yield running


def _replies(sock: socket.socket, count: int) -> list[bytes]:
    return [r + b"\r" for r in read_replies(sock, count).split(b"\r") if r]


def test_replies_keep_the_order_of_the_frames(daemon: Daemon) -> None:
    """Message, NULL, unknown account, message in one write: ACK, ACK, DUH, ACK in order."""
    batch = (
        frame("1234", "#1234|NBA01", sequence=1)
        + frame("1234", "", token="NULL", sequence=2)
        + frame("9999", "#9999|NBA01", sequence=3)
        + frame("1234", "#1234|NBA02", sequence=4)
    )
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(batch)
        replies = _replies(sock, 4)
    expected = [b'"ACK"0001', b'"ACK"0002', b'"DUH"0003', b'"ACK"0004']
    assert [r[r.index(b'"') : r.index(b'"') + 9] for r in replies] == expected


def test_hundreds_of_pipelined_frames_are_all_answered_in_order(daemon: Daemon) -> None:
    """More frames in one write than a connection may have waiting, or takes in one turn."""
    count = 300
    batch = b"".join(frame("1234", f"#1234|NBA{n % 100:02d}", sequence=n) for n in range(count))
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(batch)
        replies = _replies(sock, count)
    assert [r[r.index(b'"ACK"') + 5 : r.index(b'"ACK"') + 9] for r in replies] == [
        f"{n:04d}".encode() for n in range(count)
    ]


def test_a_half_closed_connection_still_gets_its_reply(daemon: Daemon) -> None:
    """A panel that shuts its sending side after the frame still reads the ACK, then EOF."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(frame("1234", "#1234|NBA01", sequence=7))
        sock.shutdown(socket.SHUT_WR)
        replies = _replies(sock, 1)
        assert sock.recv(100) == b""  # the receiver closed after answering
    assert len(replies) == 1 and b'"ACK"0007' in replies[0]


def test_a_frame_too_long_is_naked_in_its_turn_with_nak_on_corrupt(tmp_path: Path) -> None:
    """An oversized frame is a corrupt frame: with ``nak_on_corrupt`` it gets a NAK, over TCP
    between the replies of the frames around it, over UDP as the datagram's reply."""
    config = write_config(tmp_path, accounts=['account = "1234"'], receiver="nak_on_corrupt = true")
    oversized = b"\n" + b"x" * 5000 + b"\r"
    batch = frame("1234", "#1234|NBA01", sequence=1) + oversized
    batch += frame("1234", "#1234|NBA02", sequence=2)
    with (
        Daemon(config) as running,
        socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock,
    ):
        sock.sendall(batch)
        replies = _replies(sock, 3)
        datagram_reply = exchange_udp(running.port, oversized)
    kinds = [r[r.index(b'"') : r.index(b'"') + 5] for r in replies]
    assert kinds == [b'"ACK"', b'"NAK"', b'"ACK"']
    assert b'"NAK"' in datagram_reply  # the same over UDP
