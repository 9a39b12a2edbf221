"""Authenticated commands through the rules runner against a real journal file: the factory
PIN, a changed PIN surviving a restart, brute force locked per ID code and per source (and
still locked after a restart), roles, cancels in and out of the window, and no PIN anywhere
in the journal or the replies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.rules.records import Clock, burglary, message

from alarmrx.config.card_model import CardSettings, ContactSettings
from alarmrx.config.model import AccountSettings
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules import RulesRunner
from alarmrx.rules.auth import MAX_FAILURES_PER_SOURCE, PinHash

SALT = b"0123456789abcdef"


def cheap_hash(pin: str) -> str:
    """A valid scrypt hash with a small n, so that tests stay fast."""
    digest = hashlib.scrypt(pin.encode(), salt=SALT, n=1024, r=8, p=1, dklen=32)
    return f"scrypt$1024$8$1${base64.b64encode(SALT).decode()}${base64.b64encode(digest).decode()}"


def person(
    id_code: str, role: str = "authorised", sequence: int | None = None, **pin: Any
) -> ContactSettings:
    pin = pin or {"pin_hash": cheap_hash("4711")}
    return ContactSettings(
        id_code=id_code,
        name=id_code,
        role=role,  # type: ignore[arg-type]
        sequence=sequence,
        **pin,
    )


CARD = CardSettings(
    cancel_window_s=300.0,
    contacts=(
        person("boss"),
        person("new", factory_pin=True),
        person("keyholder", "warning", sequence=1),
        *(person(f"u{i}") for i in range(6)),
    ),
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
        runner = RulesRunner.from_accounts(journal, ACCOUNTS, clock=clock)
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: runner.ready)
            yield journal, runner
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def mqtt(action: str, id_code: str, pin: str, **fields: Any) -> dict[str, Any]:
    return {
        "action": action,
        "account": "1",
        "id_code": id_code,
        "pin": pin,
        "source": "mqtt",
        **fields,
    }


async def commands(journal: Journal) -> list[Record]:
    records = await journal.read_after(0, limit=10_000)
    return [r for r in records if r.kind is RecordKind.COMMAND]


async def test_factory_pin_allows_only_change_pin_and_the_change_survives_a_restart(
    path: Path, clock: Clock
) -> None:
    test_on = {"on": True, "duration_s": 600}
    async with running(path, clock) as (journal, runner):
        refused = await runner.command(mqtt("test_mode", "new", "0000", **test_on))
        assert refused["ok"] is False and "factory PIN must be changed" in refused["error"]
        changed = await runner.command(mqtt("change_pin", "new", "0000", new_pin="52917"))
        assert changed["ok"] is True, changed
        assert (await runner.command(mqtt("test_mode", "new", "0000", **test_on)))["ok"] is False
        assert (await runner.command(mqtt("test_mode", "new", "52917", **test_on)))["ok"] is True
        body = (await commands(journal))[1].body
        assert body["pin_hash"].startswith("scrypt$16384$8$1$") and "52917" not in body["pin_hash"]
    async with running(path, clock) as (journal, runner):  # a restart: rebuilt from the journal
        again = await runner.command(mqtt("test_mode", "new", "52917", on=False))
        assert again["ok"] is True, again
        assert (await runner.command(mqtt("test_mode", "new", "0000", **test_on)))["error"] == (
            "authentication failed"
        )
        await assert_no_pin_in(journal, ("0000", "52917"))


async def test_brute_force_locks_the_id_code_and_stays_locked_after_a_restart(
    path: Path, clock: Clock
) -> None:
    test_on = {"on": True, "duration_s": 60}
    async with running(path, clock) as (journal, runner):
        for guess in ("0001", "0002", "0003", "0004", "0005"):
            reply = await runner.command(mqtt("test_mode", "boss", guess, **test_on))
            assert reply["error"] == "authentication failed"
        locked = await runner.command(mqtt("test_mode", "boss", "4711", **test_on))
        assert "too many failed attempts" in locked["error"]
        other = await runner.command(mqtt("test_mode", "u0", "4711", **test_on))
        assert other["ok"] is True, other  # another ID code is not locked
    clock.move(14 * 60)
    async with running(path, clock) as (journal, runner):
        still = await runner.command(mqtt("test_mode", "boss", "4711", **test_on))
        assert "too many failed attempts" in still["error"]
        clock.move(61)
        assert (await runner.command(mqtt("test_mode", "boss", "4711", **test_on)))["ok"] is True
        outcomes = [r.body["auth"] for r in await commands(journal)]
        assert outcomes == ["failed"] * 5 + ["locked", "ok", "locked", "ok"]
        await assert_no_pin_in(journal, ("4711",))


async def test_many_failures_from_one_source_lock_the_source(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (_journal, runner):
        for index in range(MAX_FAILURES_PER_SOURCE):
            id_code = f"u{index % 5}"  # at most 4 failures per ID code
            await runner.command(mqtt("test_mode", id_code, "9999", on=False))
        reply = await runner.command(mqtt("test_mode", "u5", "4711", on=True, duration_s=60))
        assert "too many failed attempts" in reply["error"]
        operator = await runner.command(
            {"action": "test_mode", "account": "1", "on": True, "duration_s": 60, "source": "cli"}
        )
        assert operator["ok"] is True  # the operator's socket is another source, and no PIN


async def test_roles_operator_only_actions_and_missing_credentials(
    path: Path, clock: Clock
) -> None:
    async with running(path, clock) as (_journal, runner):
        seq = (await _journal.append(message("1", burglary(3), when=clock()))).journal_seq
        warning = await runner.command(
            mqtt("test_mode", "keyholder", "4711", on=True, duration_s=60)
        )
        assert warning["error"] == "a warning person may only cancel and change their PIN"
        mark = await runner.command(
            mqtt("mark_false", "boss", "4711", journal_seq=seq, police_alerted=True)
        )
        assert mark["error"] == "this action is for operators (the control socket)"
        missing = await runner.command(
            {"action": "cancel", "account": "1", "journal_seq": seq, "source": "mqtt"}
        )
        assert missing["error"] == "id_code and pin are required"
        cancel = await runner.command(mqtt("cancel", "keyholder", "4711", journal_seq=seq))
        assert cancel["ok"] is True, cancel


async def test_cancel_inside_and_outside_the_window(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        first = (await journal.append(message("1", burglary(3), when=clock()))).journal_seq
        clock.move(300)
        inside = await runner.command(mqtt("cancel", "boss", "4711", journal_seq=first))
        assert inside["ok"] is True, inside
        second = (await journal.append(message("1", burglary(4), when=clock()))).journal_seq
        clock.move(300.001)
        outside = await runner.command(mqtt("cancel", "boss", "4711", journal_seq=second))
        assert outside["error"] == "too late: an alarm may be cancelled within 300 s"
        by_operator = await runner.command(
            {"action": "cancel", "account": "1", "journal_seq": first, "id_code": "nobody"}
        )
        assert by_operator["error"] == "no contact 'nobody' on the account's card"
        await eventually(lambda: runner.position >= inside["journal_seq"] + 1)
        records = await journal.read_after(0, limit=100)
        cancelled = [r.body for r in records if r.body.get("type") == "alarm.cancelled"]
        assert [(b["alarm_seq"], b["id_code"], b["refs"]) for b in cancelled] == [
            (first, "boss", [first, inside["journal_seq"]])
        ]


async def test_mark_false_twice_with_police_gives_a_yellow_card(path: Path, clock: Clock) -> None:
    async with running(path, clock) as (journal, runner):
        for zone in (3, 4):
            seq = (await journal.append(message("1", burglary(zone), when=clock()))).journal_seq
            clock.move(3600)
            reply = await runner.command(
                {
                    "action": "mark_false",
                    "account": "1",
                    "journal_seq": seq,
                    "police_alerted": True,
                    "by": "alice",
                }
            )
            assert reply["ok"] is True, reply
        await eventually(lambda: runner.engine.cards.standing("1").level == "yellow")
        again = await runner.command(
            {"action": "mark_false", "account": "1", "journal_seq": seq, "police_alerted": True}
        )
        assert again["error"] == f"the alarm of record {seq} is already marked false"


async def assert_no_pin_in(journal: Journal, pins: tuple[str, ...]) -> None:
    for record in await journal.read_after(0, limit=10_000):
        text = json.dumps(record.body)
        for pin in pins:
            assert f'"{pin}"' not in text, (pin, record.body)
        if record.kind is RecordKind.COMMAND and "pin" in record.body.get("request", {}):
            assert record.body["request"]["pin"] == "***"


def test_cheap_hash_is_a_valid_config_hash() -> None:
    assert PinHash.parse(cheap_hash("4711")).n == 1024
    assert timedelta(minutes=15).total_seconds() == 900
