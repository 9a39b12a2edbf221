"""The open/close report: every arming and disarming of an account in a period, with user
and area (``alarmrx report openclose``).

The rows come from the journal's MESSAGE records: each event of category ``close`` is an
arming, each ``open`` a disarming (the same reading as the account state and the schedules).
Times are shown in the account's time zone with their UTC offset, and in UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from alarmrx.journal import bodies
from alarmrx.journal.bodies import EventBody, MessageBody
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.records import Record

_ACTIONS = {"close": "armed", "open": "disarmed"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Arming:
    """One arming or disarming."""

    journal_seq: int
    received_at: str  # UTC, as the journal stores it
    local_time: str  # the account's zone, with its offset
    action: str  # ``armed`` or ``disarmed``
    code: str
    description: str
    user: int | str | None
    area: int | str | None
    panel_time: str | None


def armings(records: Iterable[Record], timezone: str) -> list[Arming]:
    """The rows of ``records`` (in journal order), read through their typed bodies."""
    zone = ZoneInfo(timezone)
    return [
        _arming(record, body, event, zone)
        for record in records
        if (body := bodies.message(record)) is not None
        for event in body.events
        if event.category in _ACTIONS
    ]


def _arming(record: Record, body: MessageBody, event: EventBody, zone: ZoneInfo) -> Arming:
    moment = record.received_at.astimezone(zone)
    return Arming(
        journal_seq=record.journal_seq,
        received_at=format_received_at(record.received_at),
        local_time=moment.isoformat(sep=" ", timespec="seconds"),
        action=_ACTIONS[str(event.category)],
        code=event.code or "",
        description=event.description or "",
        user=event.user,
        area=event.area,
        panel_time=body.panel_time,
    )


COLUMNS = (
    "journal_seq",
    "local_time",
    "received_at",
    "action",
    "user",
    "area",
    "code",
    "description",
    "panel_time",
)


def as_csv(rows: Sequence[Arming], title: str) -> str:
    """CSV with a header row."""
    del title
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
    return out.getvalue()


def as_json(rows: Sequence[Arming], title: str) -> str:
    """One JSON object: the title and the rows."""
    return (
        json.dumps(
            {"report": title, "rows": [asdict(r) for r in rows]}, indent=1, ensure_ascii=False
        )
        + "\n"
    )


def as_html(rows: Sequence[Arming], title: str) -> str:
    """A plain HTML table."""
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(_cell(asdict(r)[c]))}</td>" for c in COLUMNS) + "</tr>"
        for r in rows
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>\n<h1>{escape(title)}</h1>\n"
        f'<table id="openclose"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
        "</tbody></table>\n</body></html>\n"
    )


def _cell(value: object) -> str:
    return "" if value is None else str(value)


FORMATS: Mapping[str, Callable[[Sequence[Arming], str], str]] = {
    "csv": as_csv,
    "json": as_json,
    "html": as_html,
}


def render(
    rows: Sequence[Arming], fmt: str, *, account: str, since: datetime, until: datetime
) -> str:
    """The report in ``fmt`` (``csv``, ``json`` or ``html``)."""
    title = (
        f"Open/close report, account {account}, {format_received_at(since)} to "
        f"{format_received_at(until)}"
    )
    return FORMATS[fmt](rows, title)
