"""Journal records as the receiver and the rules write them, for the rules and MQTT tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec

from alarmrx.journal.bodies import EventBody
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import NewRecord, Record, RecordKind
from alarmrx.mqtt.outbox import CURSOR
from alarmrx.mqtt.payloads import priority_of_event
from alarmrx.protocols.priority import Priority

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"
RECEIVER_ID = "rx1"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one shipped schema file (``event``, ``state``, ``receiver-status``)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def sia(
    code: str,
    category: str,
    *,
    zone: int | None = None,
    area: int | None = None,
    user: int | None = None,
    description: str = "",
) -> dict[str, Any]:
    return {
        "code": code,
        "category": category,
        "description": description or code,
        "zone": zone,
        "area": area,
        "user": user,
        "text": None,
        "qualifier": None,
        "peripheral": None,
        "time": None,
        "date": None,
        "old": False,
    }


def cid(
    code: str,
    qualifier: int,
    category: str,
    *,
    zone: int | None = None,
    area: int | None = None,
    user: int | None = None,
) -> dict[str, Any]:
    event = sia(code, category, zone=zone, area=area, user=user)
    return event | {"qualifier": qualifier}


def priority_of(events: list[dict[str, Any]]) -> int:
    typed = (msgspec.convert(e, EventBody, strict=False) for e in events)
    return int(min((priority_of_event(e) for e in typed), default=Priority.OTHER))


def message(
    account: str | None,
    *events: dict[str, Any],
    received_at: datetime = T0,
    sequence: str = "0001",
    test: bool = False,
    link: str | None = None,
) -> NewRecord:
    """A MESSAGE record as the receiver appends it."""
    token = "ADM-CID" if events and events[0]["qualifier"] is not None else "SIA-DCS"
    body: dict[str, Any] = {
        "token": token,
        "encrypted": False,
        "sequence": sequence,
        "receiver": "R1",
        "line": "L1",
        "header_account": account,
        "data_account": account,
        "panel_time": received_at.isoformat(),
        "xdata": [{"letter": "K", "value": "1"}],
        "events": list(events),
        "quirks": [],
        "clock": {"synchronised": True},
    }
    if test:
        body["test"] = True
    if link is not None:
        body["link"] = link
    raw = f'\nABCD0042"{token}"{sequence}R1L1#{account}[...]\r'.encode()
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=received_at,
        account=account,
        body=body,
        raw=raw,
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        priority=priority_of(list(events)),
    )


def derived(
    account: str,
    kind: str,
    category: str,
    *,
    priority: int = Priority.TROUBLE,
    refs: tuple[int, ...] = (),
    received_at: datetime = T0,
) -> NewRecord:
    """A DERIVED record as a rule appends it."""
    body = {
        "type": kind,
        "category": category,
        "description": kind,
        "refs": list(refs),
        "test": False,
    }
    return NewRecord(
        kind=RecordKind.DERIVED,
        received_at=received_at,
        account=account,
        body=body,
        priority=priority,
    )


def stored(new: NewRecord, journal_seq: int) -> Record:
    """``new`` as if the journal had stored it at ``journal_seq`` (pure unit tests)."""
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


class RecordingMetrics:
    """Keeps what the publisher reports (a PublisherMetrics); ``wait_until`` wakes on each."""

    def __init__(self) -> None:
        self.connected: list[bool] = []
        self.backlog: list[int] = []
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.brokers: list[str] = []  # the broker of each connection, in turn
        self._changed = asyncio.Event()

    def mqtt_connected(self, connected: bool) -> None:
        self.connected.append(connected)
        self._changed.set()

    def mqtt_publish_backlog(self, records: int) -> None:
        self.backlog.append(records)
        self._changed.set()

    def mqtt_published(self, latencies_s: Iterable[float]) -> None:
        self.latencies.extend(latencies_s)
        self._changed.set()

    def mqtt_publish_failed(self, reason: str) -> None:
        self.failures.append(reason)
        self._changed.set()

    def mqtt_broker(self, url: str) -> None:
        self.brokers.append(url)
        self._changed.set()

    async def wait_until(
        self, predicate: Callable[[RecordingMetrics], bool], within_s: float = 15.0
    ) -> None:
        async with asyncio.timeout(within_s):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()


async def cursor_reaches(journal: Journal, seq: int, within_s: float = 15.0) -> None:
    """Until the ``mqtt`` cursor is saved at ``seq`` (another task saves it)."""
    async with asyncio.timeout(within_s):
        while await journal.load_cursor(CURSOR) != seq:  # noqa: ASYNC110 - the value lives in SQLite; nothing to wait on
            await asyncio.sleep(0.01)
