"""A reload never strands a connection (issue 12 §6): SIGHUP removes an account while its
frames are committing, over TCP (pipelined) and UDP; every frame still gets its answer."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from tests.daemon import Daemon, frame, read_replies, write_config

pytestmark = pytest.mark.integration

KEY = "0123456789ABCDEF0123456789ABCDEF"
GONE = f'account = "5678"\nkey = "{KEY}"'
ACCOUNTS = ['account = "1234"', GONE]
BATCH = 20  # frames written at once on a connection
MAX_ROUNDS = 200  # each sender's bound, whatever happens
CONNECTIONS = 3


class Load:
    """Senders of encrypted frames for the account the reload removes, until told to stop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.replies: list[bytes] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def tcp(self, index: int) -> None:
        sequence = index * 3000
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            for _ in range(MAX_ROUNDS):
                batch = [_frame(sequence + n % 2999 + 1) for n in range(BATCH)]
                sequence = (sequence + BATCH) % 9000
                sock.sendall(b"".join(batch))
                got = read_replies(sock, BATCH)
                replies = [r + b"\r" for r in got.split(b"\r") if r]
                self._record(BATCH, replies)
                if len(replies) < BATCH:
                    self.errors.append(f"tcp {index}: {len(replies)} of {BATCH} replies")
                    return
                if self.stop.is_set():
                    # the same line still serves a configured account after the reload
                    sock.sendall(frame("1234", "#1234|NBA2", sequence=9999))
                    self._record(1, [read_replies(sock, 1)])
                    return

    def udp(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            for round_ in range(MAX_ROUNDS):
                for n in range(BATCH):
                    sequence = round_ * BATCH % 9000 + n + 1
                    sock.sendto(_frame(sequence), ("127.0.0.1", self.port))
                got = []
                try:
                    got = [sock.recv(4096) for _ in range(BATCH)]
                except TimeoutError:
                    self.errors.append(f"udp: {len(got)} of {BATCH} replies")
                    return
                finally:
                    self._record(BATCH, got)
                if self.stop.is_set():
                    return

    def _record(self, sent: int, replies: list[bytes]) -> None:
        with self._lock:
            self.sent += sent
            self.replies += replies


def test_reload_removing_an_account_under_load_strands_no_frame(tmp_path: Path) -> None:
    """Frames of an account removed by SIGHUP while they commit are answered (*ACK before,
    DUH after) on TCP and UDP alike, and the lines keep working."""
    config = write_config(tmp_path, accounts=ACCOUNTS)
    with Daemon(config) as daemon:
        load = Load(daemon.port)
        senders = [threading.Thread(target=load.tcp, args=(i,)) for i in range(CONNECTIONS)]
        senders.append(threading.Thread(target=load.udp))
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 10
        while load.sent < 200 and time.monotonic() < deadline:
            time.sleep(0.01)  # under load: hundreds of frames through, more in flight
        config.write_text(config.read_text().replace(f"\n[[accounts]]\n{GONE}\n", ""))
        daemon.hup()
        while "config_reloaded" not in daemon.log() and time.monotonic() < deadline + 10:
            time.sleep(0.02)
        assert "config_reloaded" in daemon.log()
        time.sleep(0.3)  # a few more rounds against the new table
        load.stop.set()
        for sender in senders:
            sender.join(60)
        assert not any(sender.is_alive() for sender in senders)
        assert load.errors == []
        assert len(load.replies) == load.sent
        tokens = [_token(reply) for reply in load.replies]
        assert set(tokens) <= {"*ACK", "DUH", "ACK"}
        assert "*ACK" in tokens and "DUH" in tokens
        assert tokens.count("ACK") == CONNECTIONS  # the plain frame after the reload
        assert '"reply_failed"' not in daemon.log()


def _frame(sequence: int) -> bytes:
    return frame("5678", "#5678|NBA1", sequence=sequence, key=KEY)


def _token(reply: bytes) -> str:
    start = reply.index(b'"') + 1
    return reply[start : reply.index(b'"', start)].decode()
