"""The one reader of ISO 8601 times carried as text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alarmrx.journal.isotime import parse_iso_time

WHEN = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, 5, "", "yesterday", "2026-13-01T00:00:00Z"])
def test_what_is_not_a_time_reads_as_none(value: object) -> None:
    """Not text, or text that is not an ISO 8601 time: None, never an exception."""
    assert parse_iso_time(value) is None
    assert parse_iso_time(value, zoned=True) is None


def test_a_time_without_a_zone_is_refused_only_when_a_zone_is_required() -> None:
    """``zoned`` refuses a naive time; without it the naive time is returned as written."""
    naive = parse_iso_time("2026-12-05T05:00:00")
    assert naive is not None
    assert (naive.tzinfo, naive.replace(tzinfo=UTC)) == (None, WHEN)
    assert parse_iso_time("2026-12-05T05:00:00", zoned=True) is None
    assert parse_iso_time("2026-12-05T05:00:00Z", zoned=True) == WHEN
    assert parse_iso_time("2026-12-05T06:00:00+01:00") == WHEN
