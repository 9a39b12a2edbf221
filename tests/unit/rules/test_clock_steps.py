"""Supervision while the wall clock steps: silence is measured on the injected monotonic
clock, derived records are stamped in wall time (runner.py, timebase.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.rules.records import Clock, message

from alarmrx.config.model import AccountSettings, SupervisionSettings
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules import RulesRunner
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.supervision import on_wall
from alarmrx.rules.timebase import SupervisionTime

HOURS_2 = timedelta(hours=2)
SUPERVISED = SupervisionSettings(interval_s=60.0, grace_s=10.0)
ACCOUNTS = (AccountSettings(account="1", supervision=SUPERVISED),)


@asynccontextmanager
async def running(path: Path, clock: Clock) -> AsyncIterator[tuple[Journal, RulesRunner]]:
    async with await Journal.open(path, fsync=False) as journal:
        runner = RulesRunner.from_accounts(
            journal, ACCOUNTS, clock=clock, monotonic=clock.monotonic
        )
        task = asyncio.create_task(runner.run())
        try:
            async with asyncio.timeout(5):
                while not runner.ready:  # noqa: ASYNC110 - no event announces it
                    await asyncio.sleep(0.005)
            yield journal, runner
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def frame(journal: Journal, runner: RulesRunner, clock: Clock) -> int:
    """What the receiver does for a frame: observe it, journal it at the wall clock's time."""
    runner.observe_link("1", None, None, "tcp", "127.0.0.1:5000", clock())
    seq = (await journal.append(message("1", when=clock()))).journal_seq
    await settled(journal, runner, clock)
    return seq


async def settled(journal: Journal, runner: RulesRunner, clock: Clock) -> None:
    """The runner has read the journal and looked at its timers again since this was called:
    it reached a record appended now (an unsupervised account's)."""
    marker = (await journal.append(message("2", when=clock()))).journal_seq
    async with asyncio.timeout(5):
        while runner.position < marker:  # noqa: ASYNC110 - polls state
            await asyncio.sleep(0.005)


async def supervision(journal: Journal, count: int = 0) -> list[Record]:
    """The supervision records, once there are at least ``count``."""
    async with asyncio.timeout(5):
        while True:
            records = await journal.read_after(0, limit=10_000)
            found = [
                r
                for r in records
                if r.kind is RecordKind.DERIVED and str(r.body["type"]).startswith("supervision.")
            ]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.005)


async def test_wall_steps_while_frames_arrive_raise_nothing(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path / "j.db", clock) as (journal, runner):
        for step in (HOURS_2, timedelta(0), -HOURS_2, -HOURS_2, HOURS_2):
            clock.move(30)
            clock.step(step)
            await frame(journal, runner, clock)
        assert await supervision(journal) == []
        clock.move(70)  # still in time: interval plus grace exactly
        await settled(journal, runner, clock)
        assert await supervision(journal) == []
        clock.move(0.001)  # the runner was watching all along
        runner.wake()
        assert [r.body["type"] for r in await supervision(journal, 1)] == ["supervision.lost"]


async def test_monotonic_silence_is_lost_once_in_wall_time(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path / "j.db", clock) as (journal, runner):
        clock.move(10)
        last = await frame(journal, runner, clock)
        heard = clock()
        clock.step(-HOURS_2)  # the wall clock goes back: the loss must not wait two hours
        clock.move(70.5)
        runner.wake()
        await supervision(journal, 1)
        clock.move(600)
        await settled(journal, runner, clock)
        (lost,) = await supervision(journal)
        assert lost.body["type"] == "supervision.lost" and lost.body["refs"] == [last]
        assert lost.received_at == clock() - timedelta(seconds=600)  # wall time at the loss
        last_seen = datetime.fromisoformat(lost.body["last_seen"])
        assert last_seen == heard - HOURS_2  # the last frame, read on the wall clock now
        assert (lost.received_at - last_seen).total_seconds() == 70.5
        clock.step(HOURS_2 * 3)
        await frame(journal, runner, clock)
        lost_again, restored = await supervision(journal, 2)
        assert lost_again == lost and restored.body["type"] == "supervision.restored"
        assert restored.received_at == clock() and lost.journal_seq in restored.body["refs"]


async def test_a_journaled_frame_counts_from_when_the_runner_reads_it(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path / "j.db", clock) as (journal, runner):
        clock.move(30)
        clock.step(HOURS_2)  # journaled two hours ahead: it must not defer the loss that long
        seq = (await journal.append(message("1", when=clock()))).journal_seq
        await settled(journal, runner, clock)
        clock.move(70)
        await settled(journal, runner, clock)
        assert await supervision(journal) == []
        clock.move(0.5)
        runner.wake()
        (lost,) = await supervision(journal, 1)
        assert lost.body["refs"] == [seq]
        assert datetime.fromisoformat(lost.body["last_seen"]) == clock() - timedelta(seconds=70.5)


async def test_restart_after_a_step_back_restores_at_the_next_frame(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path / "j.db", clock) as (journal, runner):
        clock.move(71)
        runner.wake()
        await supervision(journal, 1)
    clock.step(-HOURS_2)  # the journal now holds times two hours ahead of the clock
    async with running(tmp_path / "j.db", clock) as (journal, runner):
        assert runner.engine.supervision.is_lost("1")
        clock.move(1)
        await frame(journal, runner, clock)
        assert [r.body["type"] for r in await supervision(journal, 2)] == [
            "supervision.lost",
            "supervision.restored",
        ]


def test_supervision_time_follows_the_monotonic_clock_and_never_goes_back() -> None:
    clock = Clock()
    base = SupervisionTime(clock, clock.monotonic)
    clock.move(5)
    clock.step(-HOURS_2)
    assert base.now() == clock.now + HOURS_2 and base.offset() == -HOURS_2
    base.reanchor(clock.now - HOURS_2)  # behind supervision time: it stays
    assert base.now() == clock.now + HOURS_2
    clock.step(HOURS_2 * 2)
    base.reanchor(clock.now - HOURS_2)  # the wall clock is ahead now: it jumps to it
    assert base.now() == clock.now and base.offset() == timedelta(0)


def test_on_wall_moves_every_time_of_a_conclusion() -> None:
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    lost = Derived(
        type=DerivedType.SUPERVISION_LOST,
        account="1",
        at=at,
        description="x",
        key=f"supervision.lost|1||{at.isoformat(timespec='microseconds')}",
        fields={"path": None, "last_seen": (at - HOURS_2).isoformat()},
    )
    moved = on_wall(lost, timedelta(hours=-1))
    assert moved.at == at - timedelta(hours=1)
    assert moved.fields["last_seen"] == (at - 3 * timedelta(hours=1)).isoformat(
        timespec="microseconds"
    )
    assert moved.key == f"supervision.lost|1||{moved.at.isoformat(timespec='microseconds')}"
