"""The canonical encoding the hash covers, against the format docs/journal.md states."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from alarmrx.journal.canonical import (
    FORMAT_TAG,
    Content,
    canonical_bytes,
    canonical_tail,
    format_received_at,
)


def _field(value: bytes | None) -> bytes:
    """0x00 for null, else 0x01, a 4-byte big-endian length and the bytes."""
    return b"\x00" if value is None else b"\x01" + len(value).to_bytes(4, "big") + value


def _expected(content: Content, **as_stored: bytes) -> bytes:
    """The encoding written out from the format, each field's bytes taken from ``as_stored``
    when given there (a value read as a BLOB), else its UTF-8 (integers in decimal)."""
    names = ("received_at", "kind", "account", "peer", "transport", "reply", "priority", "body")
    parts = [_field(FORMAT_TAG.encode()), _field(str(content.journal_seq).encode())]
    for name in names:
        value = getattr(content, name)
        data = None if value is None else str(value).encode()
        parts.append(_field(as_stored.get(name, data)))
    parts.append(_field(content.raw))
    return b"".join(parts)


def _content(**changes: object) -> Content:
    fields: dict[str, object] = {
        "journal_seq": 12,
        "received_at": "2025-03-01T12:00:00.000000+00:00",
        "kind": "message",
        "account": "1234",
        "peer": "192.0.2.7:40000",
        "transport": "tcp",
        "reply": "ACK",
        "priority": 3,
        "body": '{"events":[{"text":"Bürotür"}]}',
        "raw": b'\n8C570046"SIA-DCS"0001R1L1#1234[#1234|NBA001]\r',
    }
    return Content(**{**fields, **changes})  # type: ignore[arg-type]


def test_text_fields_follow_the_format() -> None:
    content = _content()
    assert canonical_bytes(content) == _expected(content)


def test_null_fields_are_one_zero_byte() -> None:
    content = _content(account=None, peer=None, transport=None, reply=None, raw=b"")
    assert canonical_bytes(content) == _expected(content)


def test_text_column_read_as_bytes_is_hashed_as_read() -> None:
    body = b'{"a":"\xff"}'  # not UTF-8: only a BLOB written into the text column holds it
    stored = _content(body=body, account=b"1234")
    assert canonical_bytes(stored) == _expected(stored, body=body, account=b"1234")
    # the same text as str encodes alike where the bytes are UTF-8
    assert canonical_tail(_content(account=b"1234")) == canonical_tail(_content())


def test_received_at_text_is_isoformat_in_utc_whatever_the_order() -> None:
    """``format_received_at`` keeps each second's text: times in order, out of order, on
    the second, across seconds, days and years, and in other zones all read as
    ``astimezone(UTC).isoformat(timespec="microseconds")`` reads them."""
    rng = random.Random(7)
    moment = datetime(2024, 12, 31, 23, 59, 58, 999_000, tzinfo=UTC)
    times = []
    for _ in range(3000):  # mostly forward, many to a second
        moment += timedelta(microseconds=rng.randrange(0, 3000))
        times.append(moment)
    times += rng.sample(times, 500)  # and back again
    times += [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=UTC, fold=1),
        datetime(2025, 3, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2025, 3, 30, 2, 30, 1, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2025, 3, 1, 12, 0, 0, tzinfo=ZoneInfo("UTC")),
    ]
    for at in times:
        assert format_received_at(at) == at.astimezone(UTC).isoformat(timespec="microseconds")
