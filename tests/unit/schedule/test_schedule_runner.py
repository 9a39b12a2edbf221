"""Schedules through the rules runner on a real journal file: overtime and response commands
journaled accepted or refused, a late-to-arm concluded by the timer and published as a
valid event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from tests.unit.rules.records import Clock, message
from tests.unit.schedule.helpers import ACCOUNT, closing, local, opening

from alarmrx.config.model import AccountSettings, OpenPeriod, ScheduleSettings
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import Record, RecordKind
from alarmrx.mqtt.payloads import event_messages
from alarmrx.rules import RulesRunner

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schema" / "event.v1.json"
SCHEDULE = ScheduleSettings(
    timezone="Europe/Copenhagen",
    open=(OpenPeriod(0, 420, 1080),),
    grace_s=600.0,
    max_overtime_s=4 * 3600.0,
)
ACCOUNTS = (AccountSettings(account=ACCOUNT, schedule=SCHEDULE), AccountSettings(account="2"))


@asynccontextmanager
async def running(journal: Journal, clock: Clock) -> AsyncIterator[RulesRunner]:
    runner = RulesRunner.from_accounts(journal, ACCOUNTS, clock=clock)
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(5):
            while not runner.ready:  # noqa: ASYNC110 - polls state no event announces
                await asyncio.sleep(0.005)
        yield runner
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def reached(runner: RulesRunner, seq: int) -> None:
    """The runner has folded record ``seq``."""
    async with asyncio.timeout(5):
        while runner.position < seq:  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.005)


async def derived(journal: Journal, kind: str, count: int = 1) -> list[Record]:
    found: list[Record] = []
    async with asyncio.timeout(5):
        while len(found) < count:
            records = await journal.read_after(0, limit=10_000)
            found = [r for r in records if r.kind is RecordKind.DERIVED and r.body["type"] == kind]
            await asyncio.sleep(0.005)
    return found


async def test_overtime_and_response_commands(tmp_path: Path) -> None:
    clock = Clock(local("2025-03-03 17:30"))
    async with (
        await Journal.open(tmp_path / "j.db", fsync=False) as journal,
        running(journal, clock) as runner,
    ):
        alarm = await journal.append(message(ACCOUNT, opening(), when=clock.now))
        until = (clock.now + timedelta(hours=3)).isoformat()
        granted = await runner.command({"action": "overtime", "account": ACCOUNT, "until": until})
        assert granted["ok"] is True
        (overtime,) = await derived(journal, "schedule.overtime")
        assert overtime.body["refs"] == [granted["journal_seq"]]
        too_long = (clock.now + timedelta(hours=5)).isoformat()
        refused = await runner.command(
            {"action": "overtime", "account": ACCOUNT, "until": too_long}
        )
        assert refused["ok"] is False and "14400" in refused["error"]
        other = await runner.command({"action": "overtime", "account": "2", "until": until})
        assert other["error"] == "account '2' has no schedule"
        naive = await runner.command(
            {"action": "overtime", "account": ACCOUNT, "until": "2025-03-03T20:00"}
        )
        assert "zone" in naive["error"]
        guard = await runner.command(
            {
                "action": "guard_arrived",
                "account": ACCOUNT,
                "journal_seq": alarm.journal_seq,
                "note": "car 12",
            }
        )
        assert guard["ok"] is True
        missing = await runner.command(
            {"action": "alerted", "account": ACCOUNT, "journal_seq": 999}
        )
        assert missing["error"] == "there is no record 999"
        future = (clock.now + timedelta(hours=1)).isoformat()
        early = await runner.command({"action": "alerted", "account": ACCOUNT, "at": future})
        assert "24 hours" in early["error"]
        commands = [
            r.body for r in await journal.read_after(0, limit=100) if r.kind is RecordKind.COMMAND
        ]
        assert [(c["action"], c["accepted"]) for c in commands] == [
            ("overtime", True),
            ("overtime", False),
            ("overtime", False),
            ("overtime", False),
            ("guard_arrived", True),
            ("alerted", False),
            ("alerted", False),
        ]
        assert commands[4]["note"] == "car 12"
        assert commands[4]["journal_seq"] == alarm.journal_seq


async def test_late_to_arm_from_the_timer_is_a_valid_event(tmp_path: Path) -> None:
    clock = Clock(local("2025-03-03 08:00"))
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    async with (
        await Journal.open(tmp_path / "j.db", fsync=False) as journal,
        running(journal, clock) as runner,
    ):
        opened = await journal.append(message(ACCOUNT, opening(), when=clock.now))
        await reached(runner, opened.journal_seq)
        clock.now = local("2025-03-03 18:10")
        runner.wake()
        (late,) = await derived(journal, "schedule.late_to_arm")
        assert late.priority == 4 and late.body["code"] == "OT"
        for payload in event_messages(late, "rx1", {}):
            validator.validate(payload.payload)
        closed = await journal.append(message(ACCOUNT, closing(), when=local("2025-03-03 18:20")))
        await reached(runner, closed.journal_seq)
        assert runner.engine.schedule.armed(ACCOUNT) is True
