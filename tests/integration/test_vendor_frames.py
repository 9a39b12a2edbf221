"""Vendor grammars through the daemon, over TCP and UDP: frames taken from the conformance
vectors (each records its source) are ACKed and journaled with their events decoded."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon, exchange_udp, write_config

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.protocols import REPLY_DECODERS, AccountPolicy, Framer, parse_frame

pytestmark = pytest.mark.integration

VECTORS = Path(__file__).parents[1] / "conformance" / "vectors"
# (vector file, case name) -> (account, [(code, zone, area, user, text, address)])
CASES: dict[tuple[str, str], tuple[str, list[tuple[Any, ...]]]] = {
    ("swissdotnet-siadc09/serialization", "jablotron-named-area-and-text"): (
        "7777",
        [("LX", 901, 1, None, "centrale d'alarme JA-106K(R)", "901")],
    ),
    ("issue-captures/vendor-grammars", "satel-id-user-ri-area"): (
        "AA1234",
        [("OP", None, 2, 15, None, None)],
    ),
    ("issue-captures/vendor-grammars", "dahua-airshield-home-button"): (
        "5555",
        [("NL", None, 1, None, None, "1")],
    ),
    ("iobroker-sia/lupusec-comments", "lupusec-free-text-accounts"): (
        "alarm1",
        [("OP", None, 1, 1, "Familie", "0001")],
    ),
    ("dc09-go-receiver/field-notes", "opax-cid-account-without-hash"): (
        "10064",
        [("602", None, None, None, None, "000")],
    ),
    ("field-receivers/data-blocks", "aritech-quoted-zone-names"): (
        "123456",
        [("TA", z, 1, None, f"Zone {z}", f"00{z}") for z in (8, 7, 6, 5, 4)],
    ),
    ("fioletoven-dc09/message-tests", "parse_message_test-empty-data"): ("1234", []),
}


def _frame(file: str, name: str) -> bytes:
    doc = json.loads((VECTORS / f"{file}.json").read_text(encoding="utf-8"))
    (case,) = [c for c in doc["cases"] if c["name"] == name]
    return str(case["frame"]).encode("latin-1")


@pytest.fixture(scope="module", params=["tcp", "udp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, transport: str) -> Iterator[Daemon]:
    """One daemon per transport: a frame sent again would be a recognised retransmission."""
    directory = tmp_path_factory.mktemp(f"vendor-{transport}")
    accounts = [f'account = "{account}"' for account, _ in CASES.values()]
    with Daemon(write_config(directory, accounts=accounts)) as running:
        yield running


def _tcp_reply(port: int, data: bytes) -> bytes:
    """One reply read through a Framer, so a binary CRC holding a CR does not cut it short."""
    framer = Framer()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        while (reply := framer.next_frame()) is None:
            chunk = sock.recv(4096)
            if not chunk:
                return b""
            framer.feed(chunk)
    return reply


def _reply_token(reply: bytes) -> str:
    parsed = parse_frame(
        reply,
        accounts=lambda _h, _a: AccountPolicy(),
        now=datetime.now(UTC),
        decoders=REPLY_DECODERS,
    )
    return parsed.header.token


def _journaled(daemon: Daemon, raw: bytes, transport: str) -> dict[str, Any]:
    records = [
        r
        for r in query(daemon.directory / "journal.db")
        if r.kind is RecordKind.MESSAGE and r.raw == raw and r.transport == transport
    ]
    assert len(records) == 1
    return dict(records[0].body)


@pytest.mark.parametrize("key", list(CASES), ids=[name for _, name in CASES])
def test_vendor_frame_is_acked_and_decoded(
    daemon: Daemon, transport: str, key: tuple[str, str]
) -> None:
    """The panel gets an ACK; the journal holds the events as the vector's source implies."""
    account, expected = CASES[key]
    data = _frame(*key)
    exchange = _tcp_reply if transport == "tcp" else exchange_udp
    reply = exchange(daemon.port, data)
    assert _reply_token(reply) == "ACK", daemon.log()
    body = _journaled(daemon, data, transport)
    assert body["header_account"] == account
    events = [
        (e["code"], e["zone"], e["area"], e["user"], e["text"], e["address"])
        for e in body["events"]
    ]
    assert events == expected
