"""Reading the ISO 8601 times that record bodies, commands and bundles carry as text."""

from __future__ import annotations

from datetime import datetime


def parse_iso_time(value: object, *, zoned: bool = False) -> datetime | None:
    """``value`` read as an ISO 8601 time; None when it is not text, not such a time, or
    (with ``zoned``) a time without a zone."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if zoned and moment.tzinfo is None else moment
