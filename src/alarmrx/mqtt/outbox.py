"""What the MQTT publisher sends next, and the cursor that says what was acknowledged.

The outbox reads windows of journal records after the ``mqtt`` cursor, folds them into the
account state, and plans the messages: the events in publication order (``order.py``), then
the retained state of every account whose state changed, then any new Home Assistant
discovery config. An account whose record only moved ``last_event_at`` (a periodic test
report, say) has its state republished at most every ``state_refresh_s``, so a flood of
routine reports does not double the broker traffic. After every (re)connection all states
and discovery configs are published again, a batch per window behind the events, in case
the broker lost its retained messages.

The publisher ``take``s a plan when it hands it to the broker and reads the next window
after it without waiting (``planned``); once every message of a plan and of the plans before
it was acknowledged it ``settle``s it, which moves the cursor, and the ``CursorSaver`` stores
the cursor behind it, one save at a time and always the latest value. When the connection
fails, ``rewind`` forgets what was not settled: it is planned again from the cursor, so a
redelivered event carries the same ``id``. (``commit`` does take, settle and save at once.)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import structlog

from alarmrx.evidence.anchor import anchor_of, anchor_payload
from alarmrx.journal.errors import JournalError
from alarmrx.journal.records import Record
from alarmrx.journal.tail import JournalTail
from alarmrx.mqtt.discovery import Discovery
from alarmrx.mqtt.interfaces import AccountOptions, AccountsSource
from alarmrx.mqtt.order import publication_order
from alarmrx.mqtt.payloads import event_messages, state_payload
from alarmrx.mqtt.topics import Topics
from alarmrx.rules.state import Change, StateBook

log = structlog.get_logger("alarmrx.mqtt.outbox")

CURSOR = "mqtt"
_PAGE = 500


_JSON = msgspec.json.Encoder()


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as every payload of the contract is sent (keys in the order
    given; about 1 us where ``json.dumps`` took 15)."""
    return _JSON.encode(payload)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message; ``received_at`` is set for events (latency metric)."""

    topic: str
    payload: bytes
    retain: bool = False
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Messages for a window of records, and what committing it settles."""

    messages: tuple[Outgoing, ...]
    last_seq: int
    states: frozenset[str | None]
    discovery: Mapping[str, bytes]


class Outbox:
    """The publisher's journal side: cursor, state book, plans."""

    def __init__(
        self,
        journal: JournalTail,
        *,
        topics: Topics,
        accounts: AccountsSource,
        discovery: Discovery | None = None,
        window: int = 2000,
        event_ids: str | None = None,
        state_refresh_s: float = 10.0,
        refresh_batch: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.topics = topics
        # the prefix of every event id: the receiver's id, or the one every node of a
        # PostgreSQL journal shares (docs/mqtt.md, "Event ids")
        self.event_ids = event_ids or topics.receiver_id
        self.book = StateBook()
        self.cursor = 0  # every record up to here is acknowledged by the broker
        self.planned = 0  # every record up to here is planned (>= cursor)
        self._accounts = accounts
        self._discovery = discovery
        self._window = window
        self._dirty: set[str | None] = set()  # state changed: publish with this window
        self._seen: set[str | None] = set()  # only last_event_at moved: publish when due
        self._refresh_s = state_refresh_s
        self._refresh_batch = refresh_batch
        self._monotonic = monotonic
        self._refresh_due = monotonic() + state_refresh_s
        self._announced: dict[str, bytes] = {}
        self._taken: list[Plan] = []  # handed to the broker, not settled yet

    async def restore(self) -> None:
        """Load the cursor and rebuild the state book by replaying the journal up to it."""
        self.cursor = self.planned = await self.journal.load_cursor(CURSOR)
        seq = 0
        while seq < self.cursor:
            page = await self.journal.read_after(seq, limit=_PAGE)
            if not page:
                break
            for record in page:
                if record.journal_seq <= self.cursor:
                    self.book.apply(record)
            seq = page[-1].journal_seq
        self.reconnected()

    def reconnected(self) -> None:
        """A new broker connection: it may have lost its retained messages (a broker
        without persistence restarted), so every state and discovery config is published
        again, ``refresh_batch`` per window, behind the events."""
        self._seen |= set(self.book.accounts) - self._dirty
        self._refresh_due = self._monotonic()
        self._announced.clear()

    @property
    def backlog(self) -> int:
        """Journal records not yet acknowledged by the broker."""
        return max(0, self.journal.last_seq - self.cursor)

    def rewind(self) -> None:
        """The connection failed: what was taken and not settled is planned again from the
        cursor, states included."""
        for plan in self._taken:
            self._dirty |= plan.states
        self._taken.clear()
        self.planned = self.cursor

    async def window(self) -> list[Record]:
        """Up to ``window`` records after ``planned`` (none if the journal has no more)."""
        records: list[Record] = []
        seq = self.planned
        while len(records) < self._window:
            page = await self.journal.read_after(seq, limit=min(_PAGE, self._window - len(records)))
            if not page:
                break
            records += page
            seq = page[-1].journal_seq
        return records

    def plan(self, records: list[Record]) -> Plan:
        """Fold ``records`` into the state and list what to send for them."""
        for record in records:
            self._fold(record)
        accounts = self._current_accounts()
        events = [m for r in publication_order(records) for m in self._events(r, accounts)]
        events += [a for r in records if (a := self._anchor_message(r)) is not None]
        states = frozenset(self._dirty) | self._refreshed()
        retained = [self._state_message(a, _options(accounts, a)) for a in sorted(states, key=str)]
        discovery = self._new_discovery(states, accounts)
        announce = [Outgoing(t, p, retain=True) for t, p in discovery.items()]
        last_seq = records[-1].journal_seq if records else self.planned
        return Plan(tuple(events + retained + announce), last_seq, states, discovery)

    def take(self, plan: Plan) -> None:
        """``plan`` is handed to the broker: the next window starts after it, and its states
        and discovery configs are not planned again unless it fails (``rewind``)."""
        self._dirty -= plan.states
        if self._seen <= plan.states:
            self._refresh_due = self._monotonic() + self._refresh_s
        self._seen -= plan.states
        self._announced.update(plan.discovery)
        self.planned = max(self.planned, plan.last_seq)
        self._taken.append(plan)

    def settle(self, plan: Plan) -> None:
        """Every message of ``plan`` and of the plans taken before it was acknowledged."""
        self._taken = [p for p in self._taken if p is not plan]
        self.cursor = max(self.cursor, plan.last_seq)

    async def commit(self, plan: Plan) -> None:
        """Every message of ``plan`` was acknowledged: take, settle and save the cursor."""
        if all(p is not plan for p in self._taken):
            self.take(plan)
        saved = self.cursor
        self.settle(plan)
        if self.cursor > saved:
            await self.journal.save_cursor(CURSOR, self.cursor)

    def _fold(self, record: Record) -> None:
        change = self.book.apply(record)
        if change is Change.CHANGED:
            self._dirty.add(record.account)
            self._seen.discard(record.account)
        elif change is Change.SEEN and record.account not in self._dirty:
            self._seen.add(record.account)

    def refresh_in(self) -> float:
        """Seconds until states that only moved ``last_event_at`` are due (inf: none)."""
        if not self._seen:
            return float("inf")
        return max(0.0, self._refresh_due - self._monotonic())

    def _refreshed(self) -> frozenset[str | None]:
        """The seen-only states to publish with this window, once due, a batch at a time."""
        if not self._seen or self._monotonic() < self._refresh_due:
            return frozenset()
        return frozenset(itertools.islice(self._seen, self._refresh_batch))

    def _events(self, record: Record, accounts: Mapping[str, AccountOptions]) -> list[Outgoing]:
        options = _options(accounts, record.account)
        names = zone_names(options)
        state = self.book.accounts.get(record.account)
        return [
            Outgoing(
                self.topics.events(m.account), encode(m.payload), received_at=record.received_at
            )
            for m in event_messages(record, self.event_ids, names, state)
        ]

    def _anchor_message(self, record: Record) -> Outgoing | None:
        """An ANCHOR record, published retained so the chain head leaves the machine."""
        anchor = anchor_of(record)
        if anchor is None:
            return None
        payload = anchor_payload(anchor, self.topics.receiver_id)
        return Outgoing(self.topics.anchor, payload, retain=True)

    def _current_accounts(self) -> Mapping[str, AccountOptions]:
        source = self._accounts
        return source() if callable(source) else source

    def _state_message(self, account: str | None, options: AccountOptions | None) -> Outgoing:
        state = self.book.accounts[account]
        name = options.name if options else None
        payload = state_payload(state, self.event_ids, name, zone_names(options))
        return Outgoing(self.topics.state(account), encode(payload), retain=True)

    def _new_discovery(
        self, accounts: frozenset[str | None], options: Mapping[str, AccountOptions]
    ) -> dict[str, bytes]:
        if self._discovery is None:
            return {}
        fresh: dict[str, bytes] = {}
        for account in accounts:
            zones = configured_zones(_options(options, account))
            for message in self._discovery.for_account(self.book.accounts[account], zones):
                payload = encode(message.payload)
                if self._announced.get(message.topic) != payload:
                    fresh[message.topic] = payload
        return fresh


class CursorSaver:
    """Stores the cursor behind the publisher: at once when idle, then at most every
    ``interval_s``, always the latest value, one save at a time. A crash therefore re-sends
    at most what was acknowledged in the last interval (at-least-once allows it); the saved
    cursor is never past an acknowledged record."""

    def __init__(self, journal: JournalTail, saved: int, interval_s: float = 0.2) -> None:
        self._journal = journal
        self._interval_s = interval_s
        self.saved = saved
        self._wanted = saved
        self._task: asyncio.Task[None] | None = None

    def want(self, journal_seq: int) -> None:
        """The cursor moved to ``journal_seq``: save it soon."""
        self._wanted = max(self._wanted, journal_seq)
        if self._task is None and self._wanted > self.saved:
            self._task = asyncio.create_task(self._save_behind())

    async def flush(self) -> None:
        """Save the latest value now (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._wanted > self.saved:
            await self._save()

    async def _save_behind(self) -> None:
        try:
            while self._wanted > self.saved and await self._save():  # noqa: ASYNC110 - the sleep spaces the saves; it waits for no condition
                await asyncio.sleep(self._interval_s)
        finally:
            self._task = None

    async def _save(self) -> bool:
        """One save of the latest value; False (logged) when the journal refused it: the
        next acknowledgement tries again."""
        seq = self._wanted
        try:
            await self._journal.save_cursor(CURSOR, seq)
        except JournalError as err:
            log.warning("mqtt_cursor_not_saved", journal_seq=seq, error=str(err))
            return False
        self.saved = max(self.saved, seq)
        return True


def zone_names(options: AccountOptions | None) -> dict[str, str]:
    """Zone number (as text) -> configured name."""
    if options is None:
        return {}
    return {str(z.zone): z.name for z in options.zones if z.name}


def configured_zones(options: AccountOptions | None) -> list[tuple[int | str, str | None]]:
    """The configured zones of an account as (zone, name)."""
    return [] if options is None else [(z.zone, z.name) for z in options.zones]


def _options(accounts: Mapping[str, AccountOptions], account: str | None) -> AccountOptions | None:
    return None if account is None else accounts.get(account)
