"""Conformance vectors from outside the project (tests/conformance/vectors/<source>/*.json).

Each file records where its frames come from. A case's ``frame`` is the wire bytes written as
a Latin-1 string (one character per byte, so binary CRC bytes and trailing NULs survive JSON).
``parse_frame`` sees the bytes as one UDP datagram would bring them; an accepted frame must
also come out of a ``Framer`` whole, as on a TCP connection.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alarmrx.protocols import (
    MESSAGE_DECODERS,
    REPLY_DECODERS,
    AccountPolicy,
    DC09Message,
    FrameHeader,
    Framer,
    ProtocolError,
    XData,
    parse_frame,
    parse_key,
)

VECTORS = Path(__file__).parent / "vectors"
REQUIRED_KEYS = {"description", "source", "license", "cases"}


def _files() -> list[Path]:
    return sorted(VECTORS.glob("*/*.json"))


def _cases() -> list[Any]:
    params = []
    for path in _files():
        doc = json.loads(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            name = f"{path.parent.name}/{path.stem}/{case['name']}"
            params.append(pytest.param(case, id=name))
    return params


def _parse(case: dict[str, Any]) -> DC09Message:
    key = parse_key(case["key"]) if case["key"] else None
    # "unrecognised": "ack" is the receiver's default policy for configured accounts.
    policy = AccountPolicy(key=key, accept_unrecognised=case.get("unrecognised") == "ack")

    def accounts(_header: FrameHeader, _account: str | None) -> AccountPolicy:
        return policy

    decoders = REPLY_DECODERS if case.get("decoders") == "reply" else MESSAGE_DECODERS
    now = datetime.fromisoformat(case["now"])
    frame = case["frame"].encode("latin-1")
    return parse_frame(frame, accounts=accounts, now=now, decoders=decoders)


def _event(event: Any, expected: dict[str, Any]) -> dict[str, Any]:
    got = {
        "code": event.code,
        "category": event.category.value,
        "zone": event.zone,
        "area": event.area,
        "user": event.user,
    }
    if event.qualifier is not None:
        got["qualifier"] = event.qualifier
    for name in ("text", "address"):
        if name in expected:
            got[name] = getattr(event, name)
    return got


def _summary(message: DC09Message, expected: dict[str, Any]) -> dict[str, Any]:
    header = message.header
    got: dict[str, Any] = {
        "token": header.token,
        "sequence": header.sequence,
        "receiver": header.receiver,
        "line": header.line,
        "account": message.account,
        "events": [_event(e, x) for e, x in zip(message.events, expected["events"], strict=False)],
        "quirks": sorted(q.value for q in message.quirks),
    }
    if len(message.events) != len(expected["events"]):
        got["events"].append(f"{len(message.events)} events")
    optional = {
        "encrypted": lambda: header.encrypted,
        "timestamp": lambda: message.timestamp.isoformat() if message.timestamp else None,
        "xdata": lambda: [_xdata(x) for x in message.xdata],
        "unrecognised": lambda: message.unrecognised and message.unrecognised.reason,
    }
    got.update({name: value() for name, value in optional.items() if name in expected})
    return got


def _xdata(xdata: XData) -> dict[str, str]:
    got = {"letter": xdata.letter, "value": xdata.value}
    return got | ({"encoding": xdata.encoding} if xdata.encoding else {})


def test_vector_files_record_their_source() -> None:
    """Every vector file names its source and licence, and there are enough of them."""
    files = _files()
    assert len({path.parent.name for path in files}) >= 4
    total = 0
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc.keys() >= REQUIRED_KEYS, path
        assert all(doc[key] for key in ("description", "source", "license")), path
        total += len(doc["cases"])
    assert total >= 40


@pytest.mark.parametrize("case", _cases())
def test_vector(case: dict[str, Any]) -> None:
    """Each outside frame is accepted with the stated content, or rejected for the stated reason."""
    expect = case["expect"]
    if "reject" in expect:
        with pytest.raises(ProtocolError) as info:
            _parse(case)
        assert info.value.reason.value == expect["reject"], info.value.detail
        return
    message = _parse(case)
    assert _summary(message, expect["message"]) == expect["message"]
    raw = case["frame"].encode("latin-1")
    assert message.raw == raw
    framer = Framer()
    framer.feed(raw)
    if raw[:1] == b"\n":
        assert framer.next_frame() == raw[: raw.rindex(b"\r") + 1]
    else:  # sent without the LF … CR envelope: framed as a datagram only
        assert framer.next_frame(final=True) == raw
