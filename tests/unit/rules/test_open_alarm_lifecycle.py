"""Open alarms through the rules runner against a real journal file: an operator's close,
a contact's cancel, ageing out after ``open_max_age``, the limit per account, and the
account state folded from the same journal agreeing with the rules each time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.rules.records import Clock, event, message

from alarmrx.config.card_model import CardSettings, ContactSettings
from alarmrx.config.model import AccountSettings
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules import RulesRunner, plans_from
from alarmrx.rules.state import MAX_OPEN_ALARMS, StateBook

MAX_AGE = timedelta(hours=1)
CARD = CardSettings(
    contacts=(ContactSettings(id_code="1001", name="A", role="authorised", factory_pin=True),)
)
ACCOUNTS = (AccountSettings(account="1", card=CARD),)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.005)


@asynccontextmanager
async def running(path: Path, clock: Clock) -> AsyncIterator[tuple[Journal, RulesRunner]]:
    async with await Journal.open(path, fsync=False) as journal:
        plans = plans_from(ACCOUNTS, open_max_age=MAX_AGE)
        runner = RulesRunner(journal, plans, clock=clock, monotonic=clock.monotonic)
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: runner.ready)
            yield journal, runner
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def records(journal: Journal) -> list[Record]:
    return await journal.read_after(0, limit=10_000)


async def derived(journal: Journal, kind: str) -> list[Record]:
    return [
        r
        for r in await records(journal)
        if r.kind is RecordKind.DERIVED and r.body.get("type") == kind
    ]


async def state_zones(journal: Journal) -> list[Any]:
    """The open alarms' zones as the published account state folds the journal."""
    book = StateBook()
    for record in await records(journal):
        book.apply(record)
    return [a.zone for a in book.accounts["1"].open_alarms]


def holdup(zone: int) -> dict[str, Any]:
    return event("HA", "alarm", zone=zone)


async def alarm(journal: Journal, runner: RulesRunner, clock: Clock, *events: Any) -> int:
    result = await journal.append(message("1", *events, when=clock.now))
    await eventually(lambda: runner.position >= result.journal_seq)
    return result.journal_seq


async def test_an_operator_closes_an_open_alarm_once(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        seq = await alarm(journal, runner, clock, holdup(1), holdup(2))
        third = await alarm(journal, runner, clock, holdup(3))
        request = {"action": "close_alarm", "account": "1", "journal_seq": seq, "by": "op"}
        reply = await runner.command({**request, "note": "checked by phone"})
        assert reply["ok"] is True, reply
        await eventually(lambda: runner.position >= reply["journal_seq"] + 1)
        [closed] = await derived(journal, "alarm.closed")
        assert (closed.body["alarm_seq"], closed.body["by"]) == (seq, "op")
        assert closed.body["refs"] == [seq, reply["journal_seq"]]
        assert await state_zones(journal) == [3]
        again = await runner.command(request)
        assert again["ok"] is False and "already closed" in again["error"]
        await alarm(journal, runner, clock, event("HR", "restore", zone=3))
        gone = await runner.command({**request, "journal_seq": third})
        assert gone["ok"] is False and gone["error"] == f"the alarm of record {third} is not open"


async def test_close_alarm_is_for_operators_only(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        seq = await alarm(journal, runner, clock, holdup(1))
        reply = await runner.command(
            {
                "action": "close_alarm",
                "account": "1",
                "journal_seq": seq,
                "id_code": "1001",
                "pin": "0000",
                "source": "mqtt",
            }
        )
        assert reply["ok"] is False
        assert await state_zones(journal) == [1]


async def test_a_contacts_cancel_closes_the_alarm_in_the_state(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        seq = await alarm(journal, runner, clock, event("BA", "alarm", zone=4))
        reply = await runner.command(
            {"action": "cancel", "account": "1", "journal_seq": seq, "id_code": "1001"}
        )
        assert reply["ok"] is True, reply
        await eventually(lambda: runner.position >= reply["journal_seq"] + 1)
        assert await state_zones(journal) == []
        clock.move(MAX_AGE.total_seconds() + 120)
        runner.wake()
        await asyncio.sleep(0.05)
        assert await derived(journal, "alarm.expired") == []  # closed: nothing left to age


async def test_an_alarm_nothing_closes_ages_out_and_says_so(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        first = await alarm(journal, runner, clock, holdup(1))
        clock.move(1800)
        await alarm(journal, runner, clock, event("FA", "alarm", zone=2))
        clock.move(1800)
        runner.wake()
        await wait_for_records(journal, "alarm.expired", 1)
        [expired] = await derived(journal, "alarm.expired")
        assert (expired.body["alarm_seq"], expired.body["index"]) == (first, 0)
        assert (expired.body["reason"], expired.body["kind"]) == ("age", "holdup")
        assert expired.body["refs"] == [first]
        assert await state_zones(journal) == [2]
    clock.move(1800)  # a restart: the second ages out, the first is not concluded again
    async with running(path, clock) as (journal, _runner):
        await wait_for_records(journal, "alarm.expired", 2)
        assert await state_zones(journal) == []


async def wait_for_records(journal: Journal, kind: str, count: int) -> None:
    async with asyncio.timeout(5):
        while len(await derived(journal, kind)) < count:  # noqa: ASYNC110 - polls the journal
            await asyncio.sleep(0.01)
    assert len(await derived(journal, kind)) == count


async def test_past_the_limit_the_oldest_is_closed_as_expired(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        for zone in range(MAX_OPEN_ALARMS + 2):
            await alarm(journal, runner, clock, holdup(zone))
        await wait_for_records(journal, "alarm.expired", 2)
        found = await derived(journal, "alarm.expired")
        reasons = [(r.body["reason"], r.body["zone"]) for r in found]
        assert reasons == [("limit", 0), ("limit", 1)]
        assert await state_zones(journal) == list(range(2, MAX_OPEN_ALARMS + 2))
