"""The runner against a real journal file: conclusions appended, commands journaled, the
cursor, restarts and crashes, and what the publisher builds from the derived records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import jsonschema
import pytest
import structlog.testing
from tests.unit.rules.records import Clock, at, burglary, message

from alarmrx.config.model import AccountSettings, SupervisionSettings, VerificationSettings
from alarmrx.journal.errors import JournalError
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import Record, RecordKind
from alarmrx.mqtt.payloads import event_messages
from alarmrx.observability.labels import DERIVED_TYPES
from alarmrx.rules import CURSOR, RulesRunner
from alarmrx.rules.derived import MEANINGS, DerivedType
from alarmrx.rules.runner import CURSOR_EVERY_S
from alarmrx.rules.supervision import RECORD_WAIT

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schema" / "event.v1.json"
ACCOUNTS = (
    AccountSettings(
        account="1",
        supervision=SupervisionSettings(interval_s=60.0),
        verification=VerificationSettings(chains=((1, 2, 3),)),
    ),
    AccountSettings(account="2"),
)


class Metrics:
    """Records what the runner reports."""

    def __init__(self) -> None:
        self.offline: list[int] = []
        self.derived: list[str] = []
        self.errors: list[str] = []

    def accounts_offline(self, count: int) -> None:
        self.offline.append(count)

    def derived_event(self, event_type: str) -> None:
        self.derived.append(event_type)

    def internal_error(self, where: str) -> None:
        self.errors.append(where)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@asynccontextmanager
async def running(
    journal: Journal, clock: Clock, metrics: Metrics | None = None, *, log_derived: bool = True
) -> AsyncIterator[RulesRunner]:
    runner = RulesRunner.from_accounts(
        journal,
        ACCOUNTS,
        clock=clock,
        metrics=metrics,
        monotonic=clock.monotonic,
        log_derived=log_derived,
    )
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: runner.ready)
        yield runner
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.005)


async def stepped(journal: Journal, runner: RulesRunner, clock: Clock) -> None:
    """The runner has read the journal and looked at its timers again since this was called:
    it reached a record appended now (account 2's: nothing to conclude from it)."""
    marker = await journal.append(message("2", when=clock()))
    await eventually(lambda: runner.position >= marker.journal_seq)


async def records(journal: Journal) -> list[Record]:
    return await journal.read_after(0, limit=10_000)


async def derived(journal: Journal, kind: str | None = None) -> list[Record]:
    return [
        r
        for r in await records(journal)
        if r.kind is RecordKind.DERIVED and (kind is None or r.body["type"] == kind)
    ]


async def wait_derived(journal: Journal, kind: str, count: int = 1) -> list[Record]:
    found: list[Record] = []
    async with asyncio.timeout(5.0):
        while len(found) < count:
            found = await derived(journal, kind)
            await asyncio.sleep(0.005)
    return found


async def saved_cursor(journal: Journal, seq: int, within_s: float = 5.0) -> int:
    """The saved cursor once it reached ``seq`` (it is saved at most every
    ``CURSOR_EVERY_S``), or as it stands after ``within_s``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within_s
    while (cursor := await journal.load_cursor(CURSOR)) < seq and loop.time() < until:  # noqa: ASYNC110 - the value lives in SQLite; nothing to wait on
        await asyncio.sleep(0.01)
    return cursor


class SaveCountingJournal(Journal):
    """A real journal that notes every cursor save asked of it."""

    saves: list[int]

    async def save_cursor(self, name: str, journal_seq: int) -> None:
        self.saves.append(journal_seq)
        await super().save_cursor(name, journal_seq)


def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


async def test_supervision_lost_then_restored(path: Path, clock: Clock) -> None:
    metrics = Metrics()
    async with (
        await Journal.open(path, fsync=False) as journal,
        running(journal, clock, metrics) as runner,
    ):
        clock.set(60.5)
        runner.wake()
        (lost,) = await wait_derived(journal, "supervision.lost")
        assert lost.account == "1" and lost.received_at == at(60.5) and lost.priority == 4
        await eventually(lambda: metrics.offline[-1:] == [1])
        clock.set(70)
        runner.observe_link("1", "R1", "L1", "tcp", "127.0.0.1:5000", at(70))  # a link test
        await stepped(journal, runner, clock)
        assert await derived(journal, "supervision.restored") == []  # waits for a record
        clock.set(70 + RECORD_WAIT.total_seconds())  # none comes: a link test has none
        runner.wake()
        (restored,) = await wait_derived(journal, "supervision.restored")
        assert restored.body["refs"] == [lost.journal_seq] and restored.received_at == clock()
        await eventually(lambda: metrics.offline[-1:] == [0])
        await eventually(lambda: runner.position == restored.journal_seq)
        assert await saved_cursor(journal, restored.journal_seq) == restored.journal_seq
        assert metrics.derived == ["supervision.lost", "supervision.restored"]
        assert metrics.errors == []


async def test_restore_names_the_frame_that_restored_it(path: Path, clock: Clock) -> None:
    """Issue 14: interval 3 s, one frame, 5 s of silence, a second frame: the restore refers
    to the loss and the second frame, not to the frame before the loss."""
    supervised = SupervisionSettings(interval_s=3.0, grace_s=0.0)
    accounts = (AccountSettings(account="1", supervision=supervised),)
    async with await Journal.open(path, fsync=False) as journal:
        runner = RulesRunner.from_accounts(
            journal, accounts, clock=clock, monotonic=clock.monotonic
        )
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: runner.ready)
            clock.set(1)
            runner.observe_link("1", None, None, "tcp", "127.0.0.1:5000", clock())
            first = await journal.append(message("1", when=clock()))
            await eventually(lambda: runner.position == first.journal_seq)
            clock.set(6)
            runner.wake()
            (lost,) = await wait_derived(journal, "supervision.lost")
            assert lost.body["refs"] == [first.journal_seq]
            runner.observe_link("1", None, None, "tcp", "127.0.0.1:5000", clock())
            await stepped(journal, runner, clock)
            assert runner.engine.supervision.is_lost("1")  # waiting for the frame's record
            second = await journal.append(message("1", when=clock()))
            (restored,) = await wait_derived(journal, "supervision.restored")
            assert restored.body["refs"] == [lost.journal_seq, second.journal_seq]
            assert restored.received_at == clock()  # concluded as the record was read
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_messages_reset_supervision_and_verify(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        clock.set(50)
        first = await journal.append(message("1", burglary(1), when=at(50)))
        second = await journal.append(message("1", burglary(2), when=at(55)))
        (verified,) = await wait_derived(journal, "alarm.verified")
        assert verified.body["refs"] == [first.journal_seq, second.journal_seq]
        clock.set(110)  # 60 s after the first message, 55 s after the second
        await stepped(journal, runner, clock)
        assert await derived(journal, "supervision.lost") == []
        clock.set(115.5)
        runner.wake()
        await wait_derived(journal, "supervision.lost")
        schema = schema_validator()
        for record in await derived(journal):
            for message_ in event_messages(record, "rx1", {}):
                schema.validate(message_.payload)
        payload = event_messages(verified, "rx1", {})[0].payload
        assert (payload["type"], payload["verified"], payload["priority"]) == (
            "alarm.verified",
            True,
            "intrusion",
        )
        assert payload["refs"] == [first.journal_seq, second.journal_seq]


async def test_commands_are_journaled_accepted_or_refused(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        alarm = await journal.append(message("2", burglary(4)))
        cmd = {
            "action": "verify",
            "account": "2",
            "journal_seq": alarm.journal_seq,
            "by": "operator",
            "note": "seen on site",
        }
        reply = await runner.command(cmd)
        assert reply["ok"] is True and reply["journal_seq"] > alarm.journal_seq
        (command_record,) = [r for r in await records(journal) if r.kind is RecordKind.COMMAND]
        assert command_record.journal_seq == reply["journal_seq"]
        (verified,) = await wait_derived(journal, "alarm.verified")
        assert verified.body["refs"] == [alarm.journal_seq, reply["journal_seq"]]
        assert verified.body["verified_by"] == "operator"
        again = await runner.command(cmd)
        assert again["ok"] is False and "already verified" in again["error"]
        unknown = await runner.command({**cmd, "account": "9"})
        assert unknown["ok"] is False and "not configured" in unknown["error"]
        nothing = await runner.command({**cmd, "journal_seq": 10_000})
        assert "no record" in nothing["error"]
        garbage = await runner.command("verify everything")
        assert garbage["ok"] is False
        commands = [r for r in await records(journal) if r.kind is RecordKind.COMMAND]
        assert [c.body["accepted"] for c in commands] == [True, False, False, False, False]
        assert commands[1].body["error"] == again["error"]
        assert commands[4].account is None and commands[4].body["action"] is None


async def test_test_mode_flags_events_and_ends(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        off = await runner.command({"action": "test_mode", "account": "1", "on": False})
        assert "not in test mode" in off["error"]
        reply = await runner.command(
            {"action": "test_mode", "account": "1", "on": True, "duration_s": 120}
        )
        assert reply["ok"] is True
        (started,) = await wait_derived(journal, "test.started")
        assert started.body["test"] is True and runner.in_test("1", at(60))
        clock.set(61)
        runner.wake()
        (lost,) = await wait_derived(journal, "supervision.lost")
        assert lost.body["test"] is True  # concluded while in test
        clock.set(120)
        runner.wake()
        (ended,) = await wait_derived(journal, "test.ended")
        assert ended.body["reason"] == "expired" and ended.body["test"] is False
        assert not runner.in_test("1", at(120))


async def test_restart_in_the_middle_of_a_window(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        first = await journal.append(message("1", burglary(3), when=at(0)))
        await eventually(lambda: runner.position >= first.journal_seq)
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock):
        second = await journal.append(message("1", burglary(2), when=at(200)))
        (verified,) = await wait_derived(journal, "alarm.verified")
        assert verified.body["refs"] == [first.journal_seq, second.journal_seq]


async def test_restart_keeps_loss_and_does_not_repeat_it(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        clock.set(61)
        runner.wake()
        await wait_derived(journal, "supervision.lost")
    clock.set(10_000)
    metrics = Metrics()
    async with (
        await Journal.open(path, fsync=False) as journal,
        running(journal, clock, metrics) as runner,
    ):
        assert metrics.offline[-1] == 1 and runner.engine.supervision.is_lost("1")
        await stepped(journal, runner, clock)
        assert len(await derived(journal, "supervision.lost")) == 1
        runner.observe_link("1", None, None, "udp", "127.0.0.1:5000", at(10_000))
        clock.set(10_000 + RECORD_WAIT.total_seconds())  # a link test: no record follows
        runner.wake()
        await wait_derived(journal, "supervision.restored")


async def test_crash_before_the_cursor_was_saved_repeats_nothing(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        async with running(journal, clock) as runner:
            await journal.append(message("1", burglary(1)))
            await journal.append(message("1", burglary(2)))
            await runner.command(
                {"action": "test_mode", "account": "2", "on": True, "duration_s": 60}
            )
            await wait_derived(journal, "alarm.verified")
            await wait_derived(journal, "test.started")
            await eventually(lambda: runner.position == journal.last_seq)
        await journal.save_cursor(CURSOR, 0)  # as if the process died before saving it
    async with await Journal.open(path, fsync=False) as journal, running(journal, clock) as runner:
        await stepped(journal, runner, clock)
        concluded = await derived(journal)
        assert sorted(r.body["type"] for r in concluded) == [
            "alarm.verified",
            *["dispatch.advice"] * 3,  # the two alarms, and the verified alarm
            "test.started",
        ]
        assert len({r.body["key"] for r in concluded}) == len(concluded)
        assert await saved_cursor(journal, journal.last_seq) == journal.last_seq


async def test_the_cursor_is_saved_at_most_every_interval(path: Path, clock: Clock) -> None:
    async with await SaveCountingJournal.open(path, fsync=False) as journal:
        journal.saves = []
        async with running(journal, clock) as runner:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for index in range(40):
                await journal.append(message("2", when=at(index)))
                await eventually(lambda: runner.position == journal.last_seq)
            elapsed = loop.time() - started
            assert await saved_cursor(journal, journal.last_seq) == journal.last_seq
        assert 1 <= len(journal.saves) <= 2 + elapsed / CURSOR_EVERY_S
        assert journal.saves == sorted(journal.saves)


async def test_conclusions_lost_in_a_crash_are_made_at_start(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(message("1", burglary(1)))
        await journal.append(message("1", burglary(2)))
        async with running(journal, clock):
            (verified,) = await wait_derived(journal, "alarm.verified")
            assert verified.body["refs"] == [1, 2]


async def test_records_before_the_cursor_are_not_judged_again(path: Path, clock: Clock) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(message("1", burglary(1)))
        await journal.append(message("1", burglary(2)))
        await journal.save_cursor(CURSOR, 2)  # judged under a config without neighbours
        async with running(journal, clock) as runner:
            await stepped(journal, runner, clock)
            assert await derived(journal, "alarm.verified") == []


def test_every_derived_type_has_a_meaning_and_a_metric_label() -> None:
    assert set(MEANINGS) == set(DerivedType)
    assert {t.value for t in DerivedType} <= DERIVED_TYPES


async def test_a_guard_arrival_before_its_alarm_is_accepted_with_a_warning(
    path: Path, clock: Clock
) -> None:
    def guard(**fields: object) -> dict[str, object]:
        return {"action": "guard_arrived", "account": "1", **fields}

    async with (
        await Journal.open(path, fsync=False) as journal,
        running(journal, clock) as runner,
    ):
        clock.set(100)
        alarm = await journal.append(message("1", burglary(1), when=at(100)))
        await eventually(lambda: runner.position >= alarm.journal_seq)
        clock.set(200)
        named = await runner.command(guard(journal_seq=alarm.journal_seq, at=at(74.6).isoformat()))
        assert named["ok"] is True
        expected = f"before the alarm of record {alarm.journal_seq} was received"
        assert expected in named["warning"]
        latest = await runner.command(guard(at=at(99).isoformat()))  # the latest alarm's
        assert latest["ok"] is True and expected in latest["warning"]
        fine = await runner.command(guard(journal_seq=alarm.journal_seq))
        assert fine == {"ok": True, "journal_seq": fine["journal_seq"]}
        alerted = {"action": "alerted", "account": "1", "at": at(99).isoformat()}
        assert "warning" not in await runner.command(alerted)


async def test_every_appended_conclusion_is_logged_once(path: Path, clock: Clock) -> None:
    with structlog.testing.capture_logs() as logged:
        async with (
            await Journal.open(path, fsync=False) as journal,
            running(journal, clock),
        ):
            clock.set(50)
            await journal.append(message("1", burglary(1), when=at(50)))
            await journal.append(message("1", burglary(2), when=at(55)))
            await wait_derived(journal, "alarm.verified")
            appended = await derived(journal)
            await eventually(
                lambda: sum(e["event"] == "derived_recorded" for e in logged) >= len(appended)
            )
    lines = [
        {k: e[k] for k in ("type", "account", "journal_seq", "refs", "test", "log_level")}
        for e in logged
        if e["event"] == "derived_recorded"
    ]
    assert lines == [
        {
            "type": r.body["type"],
            "account": r.account,
            "journal_seq": r.journal_seq,
            "refs": r.body["refs"],
            "test": False,
            "log_level": "info",
        }
        for r in appended
    ]


async def test_without_event_lines_only_the_dispatch_advice_is_logged_at_debug_level(
    path: Path, clock: Clock
) -> None:
    with structlog.testing.capture_logs() as logged:
        async with (
            await Journal.open(path, fsync=False) as journal,
            running(journal, clock, log_derived=False) as runner,
        ):
            clock.set(50)
            await journal.append(message("1", burglary(1), when=at(50)))
            await journal.append(message("1", burglary(2), when=at(55)))
            await wait_derived(journal, "alarm.verified")
            appended = await derived(journal)
            # the runner reads its own records back only after the step that logged them
            await eventually(lambda: runner.position >= appended[-1].journal_seq)
    levels = {(e["type"], e["log_level"]) for e in logged if e["event"] == "derived_recorded"}
    types = {str(record.body["type"]) for record in appended}
    assert {"alarm.verified", "dispatch.advice"} <= types
    expected = {(t, "debug" if t == "dispatch.advice" else "info") for t in types}
    assert levels == expected


class FailingOnceJournal(Journal):
    """A real journal whose first wait for new records fails."""

    failed = False

    async def wait_for(self, journal_seq: int) -> None:
        if not self.failed:
            self.failed = True
            raise JournalError("the reader failed once")
        await super().wait_for(journal_seq)


async def test_a_failed_wait_for_records_does_not_stop_the_following(
    path: Path, clock: Clock
) -> None:
    async with (
        await FailingOnceJournal.open(path, fsync=False) as journal,
        running(journal, clock) as runner,
    ):
        assert isinstance(journal, FailingOnceJournal)
        await eventually(lambda: journal.failed)
        clock.set(50)
        first = await journal.append(message("1", burglary(1), when=at(50)))
        second = await journal.append(message("1", burglary(2), when=at(55)))
        # folded as they come, well before the runner's longest sleep (``MAX_SLEEP_S``)
        await eventually(lambda: runner.position >= second.journal_seq, within_s=5.0)
        (verified,) = await wait_derived(journal, "alarm.verified")
        assert verified.body["refs"] == [first.journal_seq, second.journal_seq]
