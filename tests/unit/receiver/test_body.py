"""The journal body of a message: every field, and the panel time's text per offset."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import msgspec
from tests.unit.protocols.helpers import NOW, STAMP, frame, parse

from alarmrx.receiver.body import dedupe_key, message_body

CLOCK = {"synchronised": True, "error_s": 0.001}


def test_body_of_a_message_with_xdata_quirks_and_a_timestamp() -> None:
    message = parse(frame(f'"SIA-DCS"0007L#12[#12|Nri1/BA004][Mtext]{STAMP}'))
    body = message_body(message, CLOCK)
    assert body["sequence"] == "0007"
    assert body["line"] == ""
    assert body["panel_time"] == "2026-03-04T12:00:00+00:00"
    assert body["xdata"] == [{"letter": "M", "value": "text"}]
    assert [event["code"] for event in body["events"]] == ["BA"]
    assert body["events"][0]["category"] == "alarm"
    assert body["quirks"] == ["empty_line", "short_account"]  # sorted texts
    assert body["clock"] is CLOCK
    assert "unrecognised" not in body


def test_body_without_timestamp_xdata_or_quirks() -> None:
    body = message_body(parse(frame('"ADM-CID"0001R1L1#1234[#1234|1130 01 003]')), CLOCK)
    assert body["panel_time"] is None
    assert body["xdata"] == body["quirks"] == []
    assert body["events"][0]["qualifier"] == 1


def test_the_same_instant_at_another_offset_keeps_its_own_text() -> None:
    """The panel time's text is kept per time and offset: an equal time written with
    another offset is not given the first one's text."""
    message = parse(frame(f'"SIA-DCS"0001L1#1234[#1234|Nri1/BA004]{STAMP}'))
    assert message_body(message, CLOCK)["panel_time"] == NOW.isoformat()
    plus_one = NOW.astimezone(timezone(timedelta(hours=1)))
    assert plus_one == NOW
    moved = msgspec.structs.replace(message, timestamp=plus_one)
    assert message_body(moved, CLOCK)["panel_time"] == "2026-03-04T13:00:00+01:00"
    assert message_body(message, CLOCK)["panel_time"] == "2026-03-04T12:00:00+00:00"
    assert NOW.tzinfo is UTC


def test_dedupe_key_covers_account_addressing_sequence_and_content() -> None:
    first = parse(frame('"SIA-DCS"0001R1L1#1234[#1234|Nri1/BA004]'))
    again = parse(frame('"SIA-DCS"0001R1L1#1234[#1234|Nri1/BA004]'))
    assert dedupe_key(first) == dedupe_key(again)
    assert len(dedupe_key(first)) == 32
    for other in (
        '"SIA-DCS"0002R1L1#1234[#1234|Nri1/BA004]',
        '"SIA-DCS"0001R2L1#1234[#1234|Nri1/BA004]',
        '"SIA-DCS"0001R1L2#1234[#1234|Nri1/BA004]',
        '"SIA-DCS"0001R1L1#1235[#1235|Nri1/BA004]',
        '"SIA-DCS"0001R1L1#1234[#1234|Nri1/BA005]',
    ):
        assert dedupe_key(parse(frame(other))) != dedupe_key(first)
