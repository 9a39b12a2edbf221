"""Journal records as the receiver and the commands write them, and a clock to move by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alarmrx.journal.records import NewRecord, Record, RecordKind

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


@dataclass
class Clock:
    """The injected clocks: wall time (call it) and monotonic time (``monotonic``). Both
    stand still until moved; ``move`` and ``set`` let time pass on both, ``step`` sets the
    wall clock alone (NTP stepping it, someone setting it)."""

    now: datetime = T0
    elapsed: float = 1000.0  # what ``monotonic()`` reads: any origin will do

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.elapsed

    def move(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        self.elapsed += seconds
        return self.now

    def set(self, seconds: float) -> datetime:
        self.elapsed += (at(seconds) - self.now).total_seconds()
        self.now = at(seconds)
        return self.now

    def step(self, by: timedelta) -> datetime:
        self.now += by
        return self.now


def event(
    code: str,
    category: str,
    *,
    zone: int | str | None = None,
    area: int | None = None,
    qualifier: int | None = None,
) -> dict[str, Any]:
    """One stored panel event (``receiver/body.py``)."""
    return {
        "code": code,
        "category": category,
        "description": code,
        "zone": zone,
        "area": area,
        "user": None,
        "text": None,
        "qualifier": qualifier,
        "peripheral": None,
        "time": None,
        "date": None,
        "old": False,
    }


def burglary(zone: int | str | None) -> dict[str, Any]:
    """SIA BA: a burglary alarm."""
    return event("BA", "alarm", zone=zone)


def message(
    account: str,
    *events: dict[str, Any],
    when: datetime = T0,
    line: str | None = None,
    receiver: str | None = None,
    transport: str = "tcp",
) -> NewRecord:
    """A MESSAGE record as the receiver appends it."""
    body = {
        "token": "SIA-DCS",
        "encrypted": False,
        "sequence": "0001",
        "receiver": receiver,
        "line": line,
        "header_account": account,
        "data_account": account,
        "panel_time": None,
        "xdata": [],
        "events": list(events),
        "quirks": [],
        "clock": {"synchronised": True},
    }
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=when,
        account=account,
        body=body,
        raw=b"\n0000" + account.encode() + b"\r",
        peer="127.0.0.1:40000",
        transport=transport,
        reply="ACK",
        priority=3,
    )


def command(account: str, when: datetime = T0, **fields: Any) -> NewRecord:
    """An accepted COMMAND record (``commands.command_body``)."""
    body = {**fields, "accepted": True, "error": None, "request": {}}
    return NewRecord(kind=RecordKind.COMMAND, received_at=when, account=account, body=body)


@dataclass
class Stream:
    """Records numbered as the journal would number them (pure core tests)."""

    records: list[Record] = field(default_factory=list)

    def add(self, new: NewRecord) -> Record:
        record = stored(new, len(self.records) + 1)
        self.records.append(record)
        return record


def stored(new: NewRecord, journal_seq: int) -> Record:
    """``new`` as the journal stores it at ``journal_seq``."""
    return Record(
        journal_seq=journal_seq,
        kind=new.kind,
        received_at=new.received_at,
        account=new.account,
        body=new.body,
        raw=new.raw,
        peer=new.peer,
        transport=new.transport,
        reply=new.reply,
        priority=new.priority,
        hash="0" * 64,
        prev_hash="0" * 64,
    )
