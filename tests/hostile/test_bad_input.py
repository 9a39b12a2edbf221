"""Bad input against the running daemon: hypothesis-made frames, mutated frames and byte
streams over TCP and UDP. The daemon never ACKs a frame that does not verify (checked against
the parser with the same account table), never crashes, and every record it journaled
verifies.

Examples per test follow the hypothesis profile: ``dev`` 60, ``ci`` 1000
(``HYPOTHESIS_PROFILE=ci``, as ``scripts/test`` sets).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.hostile.support import http_get, log_events, total

from alarmrx.config import AccountTable, load_settings
from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.protocols import (
    AccountPolicy,
    FrameHeader,
    Framer,
    ProtocolError,
    parse_frame,
)

pytestmark = pytest.mark.integration

KEY = "0123456789ABCDEF0123456789ABCDEF"
PROBE = "0000FF"  # an account only the UDP probe uses
ACCOUNTS = ['account = "1234"', f'account = "5678"\nkey = "{KEY}"', f'account = "{PROBE}"']
MAX_FRAME = 4096
_REPLY = re.compile(rb'"(\*?)(ACK|RSP|NAK|DUH)"')
ACKS = {b"ACK", b"RSP"}
Lookup = Callable[[FrameHeader, str | None], AccountPolicy | None]
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    directory = tmp_path_factory.mktemp("bad-input")
    with Daemon(write_config(directory, accounts=ACCOUNTS, log_level="info")) as running:
        yield running


@pytest.fixture(scope="module")
def lookup(daemon: Daemon) -> Lookup:
    return lookup_for(daemon.config)


def lookup_for(config: Path) -> Lookup:
    """The daemon's account lookup, rebuilt from its config (``FrameHandler.lookup``)."""
    table = AccountTable(load_settings(config))

    def find(header: FrameHeader, account: str | None) -> AccountPolicy | None:
        entry = table.lookup(account, header.receiver, header.line) if account else None
        return table.policy(entry) if entry is not None else None

    return find


# -- what to send ----------------------------------------------------------------------

ACCOUNT_KEYS = st.sampled_from(
    [
        ("1234", None),
        ("5678", KEY),
        ("5678", None),
        ("5678", "F" * 32),
        ("1234", KEY),
        ("9999", None),
    ]
)
DATA = st.sampled_from(
    [
        "#{a}|Nri1/BA01",
        "#{a}|NFA07^kitchen^",
        "#{a}|1130 01 015",
        "#{a}|Nri2/PA1[#{a}|X]",
        "",
        "#{a}|N",
    ]
)
TOKENS = st.sampled_from(["SIA-DCS", "ADM-CID", "NULL", "BOGUS"])
SKEWS = st.sampled_from([0, 0, 0, -120, 120, -3600])


@st.composite
def panel_frames(draw: st.DrawFn) -> bytes:
    """A frame as a panel (or a misconfigured one) would send it, built now."""
    account, key = draw(ACCOUNT_KEYS)
    skew = timedelta(seconds=draw(SKEWS))
    return frame(
        account,
        draw(DATA).format(a=account),
        token=draw(TOKENS),
        key=key,
        sequence=draw(st.integers(0, 9999)),
        now=datetime.now(UTC) + skew,
        line=draw(st.sampled_from(["0", None, "1"])),
    )


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A panel frame with bytes replaced, inserted, deleted or cut off."""
    data = bytearray(draw(panel_frames()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        byte = draw(st.integers(0, 255))
        if op == "replace" and data:
            data[at] = byte
        elif op == "insert":
            data.insert(at, byte)
        elif op == "delete" and data:
            del data[at]
        else:
            del data[at:]
    return bytes(data)


garbage = st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"\n" + b + b"\r")
candidates = panel_frames() | mutated() | garbage
streams = st.lists(candidates, min_size=1, max_size=8).map(b"".join)


# -- what the daemon must do ----------------------------------------------------------


def verifying(stream: bytes, lookup: Lookup, now: datetime, *, first_only: bool = False) -> int:
    """How many frames of ``stream`` the parser accepts, framed as the TCP adapter frames
    (``first_only``: as the UDP adapter frames a datagram)."""
    framer = Framer(max_frame_bytes=MAX_FRAME)
    framer.feed(stream)
    accepted = 0
    while True:
        try:
            candidate = framer.next_frame(final=first_only)  # a datagram is all there is
        except ProtocolError:  # a frame too long: the framer raises nothing else
            if first_only:
                return 0
            continue
        if candidate is None:
            return accepted
        accepted += _verifies(candidate, lookup, now)
        if first_only:
            return accepted


def _verifies(candidate: bytes, lookup: Lookup, now: datetime) -> bool:
    try:
        parse_frame(candidate, accounts=lookup, now=now)
    except ProtocolError:
        return False
    return True


def acks(replies: bytes) -> int:
    return sum(1 for match in _REPLY.finditer(replies) if match[2] in ACKS)


def send_stream(port: int, stream: bytes) -> bytes:
    """Send, half-close, and read every reply until the daemon closes its side."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(stream)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            received += chunk
    return received


@HOSTILE
@given(stream=streams)
def test_tcp_streams_ack_exactly_what_verifies(
    daemon: Daemon, lookup: Lookup, stream: bytes
) -> None:
    replies = send_stream(daemon.port, stream)
    assert acks(replies) == verifying(stream, lookup, datetime.now(UTC)), replies


@HOSTILE
@given(candidate=candidates)
def test_udp_datagrams_ack_only_what_verifies(
    daemon: Daemon, lookup: Lookup, candidate: bytes
) -> None:
    replies = _udp_with_probe(daemon.port, candidate)
    if acks(replies):
        assert verifying(candidate, lookup, datetime.now(UTC), first_only=True), replies


def _udp_with_probe(port: int, candidate: bytes) -> bytes:
    """Replies to ``candidate``, then the probe's ACK. The probe is journaled too, after the
    candidate (or the candidate's reject sample), so its ACK comes after every reply to the
    candidate."""
    replies = []
    probe_reply = f"#{PROBE}[".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(candidate, ("127.0.0.1", port))
        sock.sendto(frame(PROBE, f"#{PROBE}|NBA1"), ("127.0.0.1", port))
        while not replies or probe_reply not in replies[-1]:
            replies.append(sock.recv(65536))
    return b"".join(replies[:-1])


def test_daemon_survived_all_of_it(daemon: Daemon) -> None:
    """Runs last: alive, no internal error, still ACKing, and every journaled frame verifies."""
    assert daemon.process is not None and daemon.process.poll() is None
    _status, text = http_get(daemon.metrics_port, "/metrics")
    assert total(text, "alarmrx_internal_errors_total") == 0
    assert total(text, "alarmrx_frames_rejected_total") > 0, "nothing hostile arrived"
    assert not [e for e in log_events(daemon) if e.get("level") in {"error", "critical"}]
    [reply] = exchange_tcp(daemon.port, [frame("1234", "#1234|NBA99")])
    assert b'"ACK"' in reply
    assert daemon.terminate() == 0
    lookup = lookup_for(daemon.config)
    records = [r for r in query(daemon.directory / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert records
    for record in records:
        assert _verifies(record.raw, lookup, record.received_at), record.raw
