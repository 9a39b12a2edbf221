"""What happened after each alarm, computed from journal records alone (docs/evidence.md).

For every alarm event (category ``alarm``) of the account received in ``[since, until)``:

- ``received_at``: when the centre received it; ``panel_time``: the panel's own timestamp;
- ``verified``: the first ``alarm.verified`` naming it;
- ``disarmed``: the first disarm (an ``open`` event) after it, ``keybox``: the first event
  with a key-box code after it, both within ``follow_up``;
- ``alerted`` and ``guard_arrived``: accepted commands naming its record, or naming none
  and recorded after it and before the account's next alarm; ``at`` is the time the
  command gives, else when it was recorded; the earliest guard arrival at or after the
  receipt counts, and one stated before the receipt is no response to it: it is listed
  apart (``guard_arrived_before_alarm``) and, without a valid one, makes the verdict
  ``invalid: guard arrival before alarm``;
- ``cancelled`` and ``marked_false``: the ``alarm.cancelled`` and ``alarm.false`` records
  naming its record (``docs/commands.md``);
- the response time (guard arrival minus receipt) against the required reaction time.

The same function serves the export and ``alarmrx evidence verify``, which recomputes the
table from the bundle's records and refuses one that differs.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alarmrx.evidence.sealed import Entry
from alarmrx.journal import bodies
from alarmrx.journal.bodies import AlarmVerified, CommandBody, EventBody, MessageBody, OnAlarmBody
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.isotime import parse_iso_time
from alarmrx.journal.records import RecordKind

RESPONSE_ACTIONS = ("alerted", "guard_arrived")
# The rules' conclusions about an alarm, by derived type: the incident's field they fill.
OUTCOMES: Mapping[str, str] = {"alarm.cancelled": "cancelled", "alarm.false": "marked_false"}
INVALID_ARRIVAL = "invalid: guard arrival before alarm"


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameters:
    """What the export was told besides the records (from the configuration)."""

    timezone: str = "UTC"
    keybox_codes: tuple[str, ...] = ()
    follow_up_s: float = 86400.0
    insurance_level: int | None = None
    required_minutes: float | None = None

    def as_json(self) -> dict[str, Any]:
        """How ``evidence.json`` states them."""
        return {
            "timezone": self.timezone,
            "keybox_codes": list(self.keybox_codes),
            "follow_up_s": self.follow_up_s,
            "insurance_level": self.insurance_level,
            "required_minutes": self.required_minutes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parameters:
        """Back from ``evidence.json`` (``TypeError``/``ValueError`` when malformed)."""
        level, minutes = data["insurance_level"], data["required_minutes"]
        return cls(
            timezone=str(data["timezone"]),
            keybox_codes=tuple(str(c) for c in data["keybox_codes"]),
            follow_up_s=float(data["follow_up_s"]),
            insurance_level=None if level is None else int(level),
            required_minutes=None if minutes is None else float(minutes),
        )


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment the journal shows: when, which record, and a detail for people."""

    at: datetime
    journal_seq: int
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """``{"at", "journal_seq", "detail"}``."""
        return {
            "at": format_received_at(self.at),
            "journal_seq": self.journal_seq,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """One alarm and what followed it."""

    journal_seq: int
    index: int
    code: str
    description: str
    zone: int | str | None
    area: int | str | None
    received_at: datetime
    panel_time: str | None
    verified: Mark | None = None
    disarmed: Mark | None = None
    keybox: Mark | None = None
    alerted: tuple[Mark, ...] = ()
    guard_arrived: Mark | None = None
    guard_arrived_before_alarm: tuple[Mark, ...] = ()
    cancelled: Mark | None = None
    marked_false: Mark | None = None
    required_s: float | None = None

    @property
    def response_s(self) -> float | None:
        """Seconds from receipt to the guard's arrival (never negative: an arrival stated
        before the receipt is not one)."""
        if self.guard_arrived is None:
            return None
        return (self.guard_arrived.at - self.received_at).total_seconds()

    @property
    def verdict(self) -> str:
        """``within`` or ``late`` against the requirement (``no requirement`` without one);
        without a guard arrival, why: ``invalid: guard arrival before alarm``,
        ``cancelled``, ``false alarm``, ``no requirement`` or ``no guard arrival``."""
        if self.response_s is not None and self.required_s is not None:
            return "within" if self.response_s <= self.required_s else "late"
        if self.response_s is not None:
            return "no requirement"
        reasons = (
            (self.guard_arrived_before_alarm, INVALID_ARRIVAL),
            (self.cancelled, "cancelled"),
            (self.marked_false, "false alarm"),
        )
        found = next((reason for present, reason in reasons if present), None)
        return found or ("no requirement" if self.required_s is None else "no guard arrival")

    def seqs(self) -> set[int]:
        """Every record it was computed from."""
        marks = [
            *(self.verified, self.disarmed, self.keybox, self.guard_arrived),
            *(self.cancelled, self.marked_false, *self.alerted),
            *self.guard_arrived_before_alarm,
        ]
        return {self.journal_seq} | {m.journal_seq for m in marks if m is not None}

    def as_json(self) -> dict[str, Any]:
        """How ``evidence.json`` states it."""

        def mark(m: Mark | None) -> dict[str, Any] | None:
            return None if m is None else m.as_json()

        return {
            "journal_seq": self.journal_seq,
            "index": self.index,
            "code": self.code,
            "description": self.description,
            "zone": self.zone,
            "area": self.area,
            "received_at": format_received_at(self.received_at),
            "panel_time": self.panel_time,
            "verified": mark(self.verified),
            "disarmed": mark(self.disarmed),
            "keybox": mark(self.keybox),
            "alerted": [m.as_json() for m in self.alerted],
            "guard_arrived": mark(self.guard_arrived),
            "guard_arrived_before_alarm": [m.as_json() for m in self.guard_arrived_before_alarm],
            "cancelled": mark(self.cancelled),
            "marked_false": mark(self.marked_false),
            "response_s": self.response_s,
            "required_s": self.required_s,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class _Flat:
    """One panel event in journal order."""

    journal_seq: int
    index: int
    at: datetime
    event: EventBody
    panel_time: str | None = None


@dataclass(slots=True)
class _Index:
    """The account's records, arranged for the follow-up questions."""

    events: list[_Flat] = field(default_factory=list)
    alarm_seqs: list[int] = field(default_factory=list)
    verified: dict[tuple[int, int], Mark] = field(default_factory=dict)
    outcomes: dict[tuple[int, str], Mark] = field(default_factory=dict)  # (alarm, field)
    responses: dict[tuple[int, str], list[Mark]] = field(default_factory=dict)


def incidents(
    entries: Iterable[Entry],
    *,
    account: str,
    since: datetime,
    until: datetime,
    params: Parameters,
) -> list[Incident]:
    """The incidents of ``account`` from its records (any order; others are ignored)."""
    mine = sorted((e for e in entries if e.account == account), key=lambda e: e.journal_seq)
    index = _index(mine)
    follow_up = timedelta(seconds=params.follow_up_s)
    required = None if params.required_minutes is None else params.required_minutes * 60
    return [
        _incident(index, flat, follow_up, params, required)
        for flat in index.events
        if flat.event.category == "alarm" and since <= flat.at < until
    ]


def _index(entries: Sequence[Entry]) -> _Index:
    index = _Index()
    for entry in entries:
        fold = _FOLDS.get(entry.kind)
        if fold is not None:
            fold(index, entry, bodies.of_kind(RecordKind(entry.kind), entry.body))
    for marks in index.responses.values():
        marks.sort(key=lambda m: (m.at, m.journal_seq))
    return index


def _message(index: _Index, entry: Entry, body: bodies.Body) -> None:
    if not isinstance(body, MessageBody):
        return
    at, seq = entry.received_at, entry.journal_seq
    index.events += [_Flat(seq, i, at, e, body.panel_time) for i, e in enumerate(body.events)]
    if any(e.category == "alarm" for e in body.events):
        index.alarm_seqs.append(seq)


def _derived(index: _Index, entry: Entry, body: bodies.Body) -> None:
    if isinstance(body, OnAlarmBody):
        _outcome(index, entry, body)
    elif isinstance(body, AlarmVerified):
        _verified(index, entry, body)


def _verified(index: _Index, entry: Entry, body: AlarmVerified) -> None:
    """The first ``alarm.verified`` naming each alarm event."""
    mark = Mark(entry.received_at, entry.journal_seq, body.verified_by)
    for alarm in body.alarms:
        key = (alarm.get("journal_seq"), alarm.get("index"))
        index.verified.setdefault(key, mark)  # type: ignore[arg-type]  # ints when well-formed


def _outcome(index: _Index, entry: Entry, body: OnAlarmBody) -> None:
    """The first ``alarm.cancelled`` or ``alarm.false`` naming an alarm record."""
    name = OUTCOMES.get(body.type)
    if name is not None and body.alarm_seq is not None:
        mark = Mark(entry.received_at, entry.journal_seq, body.description or None)
        index.outcomes.setdefault((body.alarm_seq, name), mark)


def _command(index: _Index, entry: Entry, body: bodies.Body) -> None:
    if not isinstance(body, CommandBody) or body.accepted_action not in RESPONSE_ACTIONS:
        return
    target = body.journal_seq
    if target is None:
        position = bisect.bisect_left(index.alarm_seqs, entry.journal_seq)
        target = index.alarm_seqs[position - 1] if position else None
    if target is None:
        return
    detail = " — ".join(text for text in (body.who, body.note) if text)
    mark = Mark(_when(body.at, entry.received_at), entry.journal_seq, detail or None)
    index.responses.setdefault((target, str(body.action)), []).append(mark)


def _when(value: object, default: datetime) -> datetime:
    return parse_iso_time(value, zoned=True) or default


_FOLDS: Mapping[str, Callable[[_Index, Entry, bodies.Body], None]] = {
    "message": _message,
    "derived": _derived,
    "command": _command,
}


def _incident(
    index: _Index,
    alarm: _Flat,
    follow_up: timedelta,
    params: Parameters,
    required_s: float | None,
) -> Incident:
    event = alarm.event

    def later(test: Callable[[EventBody], bool]) -> Mark | None:
        return _first_after(index.events, alarm, alarm.at + follow_up, test)

    alerted = _within(index.responses.get((alarm.journal_seq, "alerted"), []), alarm, follow_up)
    guards = _within(
        index.responses.get((alarm.journal_seq, "guard_arrived"), []), alarm, follow_up
    )
    early = tuple(m for m in guards if m.at < alarm.at)
    valid = [m for m in guards if m.at >= alarm.at]
    return Incident(
        journal_seq=alarm.journal_seq,
        index=alarm.index,
        code=event.code or "",
        description=event.description or "",
        zone=event.zone,
        area=event.area,
        received_at=alarm.at,
        panel_time=alarm.panel_time,
        verified=index.verified.get((alarm.journal_seq, alarm.index)),
        disarmed=later(lambda e: e.category == "open"),
        keybox=later(lambda e: str(e.code) in params.keybox_codes),
        alerted=tuple(alerted),
        guard_arrived=valid[0] if valid else None,
        guard_arrived_before_alarm=early,
        cancelled=index.outcomes.get((alarm.journal_seq, "cancelled")),
        marked_false=index.outcomes.get((alarm.journal_seq, "marked_false")),
        required_s=required_s,
    )


def _within(marks: list[Mark], alarm: _Flat, follow_up: timedelta) -> list[Mark]:
    return [m for m in marks if m.at <= alarm.at + follow_up]


def _first_after(
    events: Sequence[_Flat], alarm: _Flat, limit: datetime, test: Callable[[EventBody], bool]
) -> Mark | None:
    """The first event after ``alarm`` in journal order, received by ``limit``, passing
    ``test``."""
    start = bisect.bisect_right(
        events, (alarm.journal_seq, alarm.index), key=lambda f: (f.journal_seq, f.index)
    )
    for flat in events[start:]:
        if flat.at > limit:
            return None
        if test(flat.event):
            user = flat.event.user
            return Mark(flat.at, flat.journal_seq, None if user is None else f"user {user}")
    return None
