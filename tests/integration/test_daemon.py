"""The daemon end to end: real sockets on 127.0.0.1, the daemon as a subprocess, a real
SQLite journal. What a panel sees (replies) and what the centre keeps (the journal)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, read_reply, write_config

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.journal.verify import verify_chain
from alarmrx.protocols import REPLY_DECODERS, AccountPolicy, parse_frame, parse_key

pytestmark = pytest.mark.integration

KEY = "0123456789ABCDEF0123456789ABCDEF"
ACCOUNTS = ['account = "1234"', f'account = "5678"\nkey = "{KEY}"']


def messages(path: Path, account: str | None = None) -> list:
    return [r for r in query(path, account=account) if r.kind is RecordKind.MESSAGE]


def reply_token(reply: bytes, key: str | None = None) -> str:
    policy = AccountPolicy(key=parse_key(key) if key else None, window=None)
    parsed = parse_frame(
        reply, accounts=lambda _h, _a: policy, now=datetime.now(UTC), decoders=REPLY_DECODERS
    )
    return ("*" if parsed.header.encrypted else "") + parsed.header.token


@pytest.fixture
def daemon(tmp_path: Path):
    with Daemon(write_config(tmp_path, accounts=ACCOUNTS)) as running:
        yield running


def test_tcp_frame_is_acked_and_journaled(daemon: Daemon) -> None:
    """An alarm over TCP gets an ACK echoing its addressing, and is in the journal."""
    sent = frame("1234", "#1234|Nri1/BA01", sequence=42)
    [reply] = exchange_tcp(daemon.port, [sent])
    assert reply.startswith(b"\n") and b'"ACK"0042L0#1234[]' in reply
    [record] = messages(daemon.directory / "journal.db", "1234")
    assert record.raw == sent
    assert record.transport == "tcp"
    assert record.body["events"][0]["code"] == "BA"
    assert record.body["events"][0]["zone"] == 1
    assert record.reply == "ACK"


def test_persistent_connection_carries_many_frames_in_one_read(daemon: Daemon) -> None:
    """Several frames in one write are each answered, in order, on the same connection."""
    batch = b"".join(frame("1234", f"#1234|NBA{n:02d}", sequence=n) for n in range(1, 6))
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(batch)
        replies = b""
        while replies.count(b"\r") < 5:
            replies += sock.recv(4096)
    for n in range(1, 6):
        assert f'"ACK"{n:04d}'.encode() in replies
    assert len(messages(daemon.directory / "journal.db")) == 5


def test_udp_reply_goes_to_the_source(daemon: Daemon) -> None:
    """A datagram is answered to its source address and port, and journaled as udp."""
    reply = exchange_udp(daemon.port, frame("1234", "#1234|NFA07", sequence=7))
    assert b'"ACK"0007L0#1234[]' in reply
    [record] = messages(daemon.directory / "journal.db")
    assert record.transport == "udp"


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_encrypted_frame_gets_encrypted_ack(daemon: Daemon, transport: str) -> None:
    """AES frames get *ACK, whose block decrypts with the account key."""
    sent = frame("5678", "#5678|Nri1/BA02", sequence=3, key=KEY)
    if transport == "tcp":
        [reply] = exchange_tcp(daemon.port, [sent])
    else:
        reply = exchange_udp(daemon.port, sent)
    assert reply_token(reply, KEY) == "*ACK"
    [record] = messages(daemon.directory / "journal.db", "5678")
    assert record.body["encrypted"] is True
    assert record.body["events"][0]["zone"] == 2


def test_retransmission_is_acked_again_and_recorded_once(daemon: Daemon) -> None:
    """DC-09 Annex C: 9995, 9996, 9995 again, 9997 — all ACKed, each recorded once."""
    now = datetime.now(UTC)
    frames = [frame("1234", f"#1234|NBA{n}", sequence=n, now=now) for n in (9995, 9996)]
    replies = exchange_tcp(
        daemon.port, [*frames, frames[0], frame("1234", "#1234|NBA1", sequence=9997)]
    )
    assert all(b'"ACK"' in r for r in replies)
    records = messages(daemon.directory / "journal.db")
    assert [r.body["sequence"] for r in records] == ["9995", "9996", "9997"]
    assert records[0].repeats == 1


def test_link_tests_are_answered_not_journaled(daemon: Daemon) -> None:
    """NULL frames are ACKed (encrypted too) and leave no record."""
    replies = exchange_tcp(
        daemon.port,
        [frame("1234", "", token="NULL", sequence=0), frame("5678", "", token="NULL", key=KEY)],
    )
    assert reply_token(replies[0]) == "ACK"
    assert reply_token(replies[1], KEY) == "*ACK"
    assert messages(daemon.directory / "journal.db") == []


def _corrupt_crc(data: bytes) -> bytes:
    return data[:1] + (b"0000" if data[1:5] != b"0000" else b"1111") + data[5:]


def test_bad_frames_get_the_right_reply_and_never_an_ack(daemon: Daemon) -> None:
    """Each kind of bad frame gets its reply (or none), never an ACK; the line stays usable."""
    stale = datetime.now(UTC) - timedelta(minutes=5)
    good = frame("1234", "#1234|NBA09", sequence=9)
    cases = {
        "crc": (_corrupt_crc(good), b""),
        "length": (good[:5] + b"0999" + good[9:], b""),
        "garbage": (b"\nthis is not a frame at all\r", b""),
        "stale": (frame("5678", "#5678|NBA1", key=KEY, now=stale), b'"NAK"0000R0L0A0[]_'),
        "wrong key": (frame("5678", "#5678|NBA1", key="F" * 32), b'"DUH"'),
        "plaintext on key account": (frame("5678", "#5678|NBA1"), b'"DUH"'),
        "unknown account": (frame("9999", "#9999|NBA1"), b'"DUH"'),
    }
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        for name, (data, expected) in cases.items():
            sock.settimeout(5 if expected else 0.7)
            sock.sendall(data)
            reply = read_reply(sock)
            assert b'"ACK"' not in reply and b'"*ACK"' not in reply, name
            if expected:
                assert expected in reply, name
            else:
                assert reply == b"", name
        sock.settimeout(5)
        sock.sendall(good)
        assert b'"ACK"0009' in read_reply(sock)
    assert len(messages(daemon.directory / "journal.db")) == 1


def test_bad_input_does_not_disturb_another_connection(daemon: Daemon) -> None:
    """A connection spewing garbage does not delay a well-behaved panel's ACKs."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as noisy:
        noisy.sendall(b"\x00\xff" * 20_000 + b"\n" + b"A" * 10_000)
        start = time.monotonic()
        replies = exchange_tcp(
            daemon.port, [frame("1234", "#1234|NBA1", sequence=n) for n in range(1, 4)]
        )
        assert all(b'"ACK"' in r for r in replies)
        assert time.monotonic() - start < 3


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    """SIGTERM: STOPPING=1, exit 0, the chain verifies, and the stop logs no warning or
    error (the writer going away last is the orderly stop, not a lost writer)."""
    daemon = Daemon(write_config(tmp_path, accounts=ACCOUNTS)).start()
    exchange_tcp(daemon.port, [frame("1234", "#1234|NBA1")])
    assert daemon.terminate() == 0
    assert any("STOPPING=1" in n for n in daemon.notifications) or "daemon_stopped" in daemon.log()
    assert daemon.stop_complaints() == []  # from daemon_stopping on: the whole stop
    assert verify_chain(tmp_path / "journal.db").ok


def test_sighup_reloads_keys_without_dropping_connections(tmp_path: Path) -> None:
    """A changed key applies to the next frame on an open connection; a broken config is
    refused and the old one stays."""
    config = write_config(tmp_path, accounts=ACCOUNTS)
    new_key = "00112233445566778899AABBCCDDEEFF"
    with (
        Daemon(config) as daemon,
        socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock,
    ):
        sock.sendall(frame("5678", "#5678|NBA1", sequence=1, key=KEY))
        assert reply_token(read_reply(sock), KEY) == "*ACK"
        config.write_text(config.read_text().replace(KEY, new_key))
        daemon.hup()
        _wait_for_log(daemon, "config_reloaded")
        sock.sendall(frame("5678", "#5678|NBA2", sequence=2, key=new_key))
        assert reply_token(read_reply(sock), new_key) == "*ACK"
        config.write_text(config.read_text() + "\n[receiver]\nbogus = 1\n")
        daemon.hup()
        _wait_for_log(daemon, "reload_refused")
        sock.sendall(frame("5678", "#5678|NBA3", sequence=3, key=new_key))
        assert reply_token(read_reply(sock), new_key) == "*ACK"


def _wait_for_log(daemon: Daemon, event: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while event not in daemon.log():
        assert time.monotonic() < deadline, f"no {event} in log:\n{daemon.log()}"
        time.sleep(0.05)


def test_config_with_problems_exits_78(tmp_path: Path) -> None:
    """A broken config never starts the daemon: exit 78, every problem on its own line."""
    import subprocess
    import sys

    config = write_config(tmp_path, receiver='unknown_accounts = "maybe"')
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 78
    assert "receiver.unknown_accounts" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("receiver", "wait_s"),
    [("idle_timeout_s = 0.5", 0.5), ("linger_s = 0.3\nidle_timeout_s = 60.0", 0.3)],
    ids=["idle_timeout", "linger"],
)
def test_receiver_hangs_up_idle_and_lingering_lines(
    tmp_path: Path, receiver: str, wait_s: float
) -> None:
    """An idle line is closed after idle_timeout_s; with linger_s the receiver hangs up that
    long after its reply (panels that read the ACK only when the receiver closes)."""
    config = write_config(tmp_path, accounts=ACCOUNTS, receiver=receiver)
    with Daemon(config) as daemon, socket.create_connection(("127.0.0.1", daemon.port), 10) as sock:
        sock.sendall(frame("1234", "#1234|NBA1"))
        assert b'"ACK"' in read_reply(sock)
        started = time.monotonic()
        assert sock.recv(1) == b""  # the receiver closed the line
        assert wait_s * 0.8 <= time.monotonic() - started <= wait_s + 5
