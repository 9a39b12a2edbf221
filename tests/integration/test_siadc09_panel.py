"""Interop: the PyPI package siadc09 1.0.1 (an independent "SIA DC-09-2026 primitives"
implementation, Unlicense) as the panel, against the running daemon over TCP and UDP.

siadc09 pads encrypted frames with 16-31 bytes (DC-09-2026 style) and logs a reply whose pad
is shorter as "Short pad length"; the receiver answers in the panel's own style. Every reply
is read back with siadc09's parser. Its one refusal is the spec's NAK literal
``"NAK"0000R0L0A0[]`` (no ``#acct`` field): see docs/protocol.md, "Replies".
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_udp, read_reply, write_config

from alarmrx.protocols import encode_frame, encode_nak

if os.environ.get("CI") == "true":  # CI installs it (the test extras): missing is a failure
    import siadc09  # noqa: F401
else:
    pytest.importorskip("siadc09")

from siadc09 import account, message

pytestmark = pytest.mark.integration

KEY = "850CBA22F7DD4F033405DA83E4C5BAE9"  # the key of siadc09's own docstring example
ACCOUNTS = [f'account = "1234"\nkey = "{KEY}"', 'account = "5678"']


def _panel_frame(data: str, sequence: int, *, encrypted: bool) -> bytes:
    """A SIA-DCS event built by siadc09 (parsed from plain text, re-encoded by it)."""
    plain = encode_frame(f'"SIA-DCS"{sequence:04d}L0#{data[1:5]}[{data}]')
    event = message.parse_frame(plain)
    if encrypted:
        event.account = account.Account(acct=0x1234, key=KEY.lower())
    encoded: bytes = event.encode(timestamp=datetime.now(UTC), encrypt=encrypted)
    return encoded


def _reply_via(daemon: Daemon, data: bytes, transport: str) -> bytes:
    if transport == "udp":
        return exchange_udp(daemon.port, data)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(data)
        return read_reply(sock)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_siadc09_panel_gets_replies_it_reads_and_does_not_call_short(
    tmp_path: Path, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Encrypted event and *NULL from siadc09: *ACK that siadc09 decrypts, with no "Short
    pad length"; a plain event: ACK; an unknown account: DUH, which siadc09 reads too."""
    caplog.set_level(logging.DEBUG, logger="siadc09")
    keys = {None: bytes.fromhex(KEY)}
    with Daemon(write_config(tmp_path, accounts=ACCOUNTS)) as daemon:
        sent = [
            _panel_frame("#1234|Nri1/BA02", 7, encrypted=True),
            message.NullMessage(account.Account(acct=0x1234, key=KEY.lower())).encode(),
            _panel_frame("#5678|Nri1/FA03", 8, encrypted=False),
            _panel_frame("#9999|Nri1/BA01", 9, encrypted=False),
        ]
        replies = [_reply_via(daemon, data, transport) for data in sent]
    parsed = [message.parse_frame(reply, keys=keys) for reply in replies]
    kinds = [type(p).__name__ for p in parsed]
    assert kinds == ["AckMessage"] * 3 + ["DuhMessage"]
    assert [p.encrypted for p in parsed[:3]] == [True, True, False]
    assert [p.seq for p in parsed] == [7, 0, 8, 9]
    assert "Short pad length" not in caplog.text


def test_siadc09_reads_the_spec_nak_only_with_an_account_field() -> None:
    """Our NAK is the spec's literal, which siadc09 refuses for its missing `#acct` field;
    the same NAK with an account field it reads. Recorded so a change on either side shows."""
    nak = encode_nak(now=datetime.now(UTC))
    assert b'"NAK"0000R0L0A0[]_' in nak
    with pytest.raises(RuntimeError, match="Missing #acct"):
        message.parse_frame(nak)
    stamp = nak[nak.index(b"_") : -1].decode()
    assert type(message.parse_frame(encode_frame(f'"NAK"0000L0#0[]{stamp}'))).__name__ == (
        "NakMessage"
    )
