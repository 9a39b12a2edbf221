"""CPU per record of the rules: the engine's fold, the runner's start-up replay and the
per-frame hooks the receiver calls (``observe_link``, ``in_test``).

A real journal in a temporary directory is filled with MESSAGE records as the receiver
writes them: frames of ``benchmarks.frames.MIX`` (Contact ID and SIA DCS, NULL link tests
left out as the receiver never journals them) built for 1 000 accounts, parsed with
``parse_frame`` and stored with ``receiver.body.message_body``. Every account is supervised
(every fourth on two paths), has a verification chain over zones 3, 4 and 7, and every
fourth has a weekly schedule; with ``--bare``, the accounts are configured as
``benchmarks.run`` configures them (an account alone: no supervision, verification or
schedule), and every measure but the hooks' runs on them. Then:

- ``fold``: ``RuleEngine.fold`` over the records read back, live (supervision time given),
  with ``on_timer`` every 100 records as the runner's steps call it: µs of the thread's CPU
  per record;
- ``replay``: a ``RulesRunner`` started on the journal with no cursor, until it is ready
  (cursor 0 to the head, journal reads, derived appends and the cursor save included):
  records/s and µs of the process's CPU per record;
- ``follow``: a ready runner following the journal while records are appended in batches
  of 10 (as the receiver's commits group them at about 1 000 frames/s): the event-loop
  thread's CPU per record, less that of the same appends without a runner;
- ``observe_link`` and ``in_test``: µs per call, best of several repeats.

A/B against another copy of the source tree (run both in one session, alternating)::

    .venv/bin/python -m benchmarks.rules_cost
    PYTHONPATH=/tmp/src_before/src .venv/bin/python -m benchmarks.rules_cost
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

import alarmrx.rules
from alarmrx.config.model import (
    AccountSettings,
    OpenPeriod,
    PathSettings,
    ScheduleSettings,
    SupervisionSettings,
    VerificationSettings,
)
from alarmrx.journal import Journal, NewRecord, Record, RecordKind
from alarmrx.protocols import AccountPolicy, FrameHeader, parse_frame
from alarmrx.receiver.body import dedupe_key, message_body
from alarmrx.rules import RulesRunner, plans_from
from alarmrx.rules.engine import RuleEngine
from benchmarks.accounts import make_accounts
from benchmarks.frames import MIX, FrameSource

T0 = datetime(2025, 6, 2, 6, 0, 0, tzinfo=UTC)  # a Monday morning
SPACING = timedelta(milliseconds=50)  # between two records' receipt times
EVENTS = tuple(item for item in MIX if item[0] != "NULL")
FOLLOW_BATCH = 10
WEEKDAYS = tuple(OpenPeriod(weekday=d, start=8 * 60, end=17 * 60) for d in range(5))


def settings(count: int) -> tuple[AccountSettings, ...]:
    """``count`` accounts with supervision, verification and (every fourth) a schedule."""
    return tuple(_account(f"{index + 1:06d}", index) for index in range(count))


def bare(count: int) -> tuple[AccountSettings, ...]:
    """``count`` accounts as ``benchmarks.run`` configures them: the account alone."""
    return tuple(AccountSettings(account=f"{index + 1:06d}") for index in range(count))


def _account(account: str, index: int) -> AccountSettings:
    dual = index % 4 == 1
    paths = (PathSettings(name="ip", transport="tcp"), PathSettings(name="udp", transport="udp"))
    schedule = ScheduleSettings(
        timezone="Europe/Copenhagen",
        open=WEEKDAYS,
        evening_check=(22 * 60, 23 * 60),
        rearm_after_alarm_s=600.0,
    )
    return AccountSettings(
        account=account,
        paths=paths if dual else (),
        supervision=SupervisionSettings(interval_s=3600.0, grace_s=60.0),
        verification=VerificationSettings(chains=((3, 4, 7),)),
        schedule=schedule if index % 4 == 0 else None,
    )


def messages(count: int, accounts: int) -> Iterator[NewRecord]:
    """``count`` MESSAGE records over ``accounts`` accounts, as the receiver appends them."""
    source = FrameSource(make_accounts(accounts, "plain"), seed=0, mix=EVENTS)
    policy = AccountPolicy()

    def lookup(_header: FrameHeader, _account: str | None) -> AccountPolicy:
        return policy

    for n in range(count):
        at = T0 + n * SPACING
        out = source.next(at)
        message = parse_frame(out.frame, accounts=lookup, now=at)
        body = message_body(message, {"synchronised": True})
        yield NewRecord(
            kind=RecordKind.MESSAGE,
            received_at=at,
            account=message.account,
            body=body,
            raw=out.frame,
            peer="127.0.0.1:40000",
            transport="tcp",
            reply="ACK",
            priority=3,
            dedupe_key=dedupe_key(message),
        )


async def fill(journal: Journal, records: list[NewRecord]) -> None:
    """Append ``records`` in transactions of 500."""
    for start in range(0, len(records), 500):
        await journal.append_many(records[start : start + 500])


class Clock:
    """The runner's wall and monotonic clocks, standing at the last record's receipt."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return 1000.0


def fold_cost(plans: alarmrx.rules.RulePlans, records: list[Record]) -> float:
    """µs per record of ``RuleEngine.fold``, live, with ``on_timer`` every 100 records."""
    engine = RuleEngine(plans)
    engine.supervision.start(records[0].received_at)
    started = time.thread_time()
    for index, record in enumerate(records):
        engine.fold(record, record.received_at)
        if index % 100 == 99:
            engine.on_timer(record.received_at, record.received_at)
    return (time.thread_time() - started) / len(records) * 1e6


async def replay(
    path: Path, entries: tuple[AccountSettings, ...], now: datetime
) -> tuple[float, float]:
    """(CPU, wall) seconds of a runner's start-up from cursor 0 to the head."""
    async with await Journal.open(path, fsync=False) as journal:
        clock = Clock(now)
        runner = RulesRunner.from_accounts(journal, entries, clock=clock, monotonic=clock.monotonic)
        cpu, wall = time.process_time(), time.perf_counter()
        task = asyncio.create_task(runner.run())
        await _until(lambda: runner.ready)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return cpu, wall


class Steps:
    """The runner's metrics: each step ends by reporting the accounts offline; this wakes
    the benchmark then (polling would burn the loop thread being measured)."""

    def __init__(self) -> None:
        self.stepped = asyncio.Event()

    def accounts_offline(self, count: int) -> None:
        del count
        self.stepped.set()

    def derived_event(self, event_type: str) -> None:
        del event_type

    def internal_error(self, where: str) -> None:
        raise RuntimeError(where)


async def follow(
    path: Path, entries: tuple[AccountSettings, ...] | None, records: list[NewRecord]
) -> float:
    """Event-loop thread CPU seconds to append ``records`` in batches, with a runner
    following them (``entries``) or without (None)."""
    async with await Journal.open(path, fsync=False) as journal:
        clock, steps = Clock(records[0].received_at), Steps()
        runner = (
            None
            if entries is None
            else RulesRunner.from_accounts(
                journal, entries, clock=clock, metrics=steps, monotonic=clock.monotonic
            )
        )
        task = None if runner is None else asyncio.create_task(runner.run())
        if runner is not None:
            await _until(lambda: runner.ready)
        cpu = time.thread_time()
        for start in range(0, len(records), FOLLOW_BATCH):
            batch = records[start : start + FOLLOW_BATCH]
            clock.now = batch[-1].received_at
            results = await journal.append_many(batch)
            while runner is not None and runner.position < results[-1].journal_seq:
                steps.stepped.clear()
                await steps.stepped.wait()
        cpu = time.thread_time() - cpu
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return cpu


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(600):
        while not condition():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.001)


async def hook_costs(
    path: Path, entries: tuple[AccountSettings, ...], number: int
) -> tuple[float, float]:
    """µs per ``observe_link`` and per ``in_test`` call, cycling over the accounts."""
    async with await Journal.open(path, fsync=False) as journal:
        runner = RulesRunner.from_accounts(journal, entries, clock=lambda: T0)
    runner.engine.supervision.start(T0)
    names = [entry.account for entry in entries]
    ring = iter(names * (number // len(names) + 2))
    observe = runner.observe_link
    in_test = runner.in_test

    def link() -> None:
        observe(next(ring), "1", "1", "tcp", "127.0.0.1:40000", T0)

    def test() -> None:
        in_test(next(ring), T0)

    def best(call: Callable[[], None]) -> float:
        nonlocal ring
        times = []
        for _ in range(5):
            ring = iter(names * (number // len(names) + 2))
            times.append(timeit.timeit(call, number=number))
        return min(times) / number * 1e6

    return best(link), best(test)


async def measure(args: argparse.Namespace) -> None:
    """Build the journal, then print each measure (median of ``--runs``)."""
    entries = bare(args.accounts) if args.bare else settings(args.accounts)
    plans = plans_from(entries)
    records = list(messages(args.records, args.accounts))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.db"
        async with await Journal.open(path, fsync=False) as journal:
            await fill(journal, records)
            stored = await _read_all(journal)
        now = stored[-1].received_at + timedelta(seconds=1)
        folds = [fold_cost(plans, stored) for _ in range(args.runs)]
        replays = []
        for run in range(args.runs):
            copy = Path(tmp) / f"replay{run}.db"
            copy.write_bytes(path.read_bytes())
            replays.append(await replay(copy, entries, now))
        follows = []
        for run in range(args.runs):
            live = records[: args.follow]
            with_runner = await follow(Path(tmp) / f"f{run}.db", entries, live)
            without = await follow(Path(tmp) / f"b{run}.db", None, live)
            follows.append((with_runner - without) / len(live) * 1e6)
        link, test = await hook_costs(Path(tmp) / "hooks.db", settings(args.accounts), args.number)
    n = len(stored)
    replay_cpu = statistics.median(cpu for cpu, _ in replays)
    replay_wall = statistics.median(wall for _, wall in replays)
    print(f"alarmrx from {Path(alarmrx.rules.__file__).parent}")
    print(f"{n} records, {args.accounts} accounts, median of {args.runs} runs")
    print(f"fold     {statistics.median(folds):8.2f} µs per record (engine alone)")
    print(
        f"replay   {n / replay_wall:8.0f} records/s, {replay_cpu / n * 1e6:8.2f} µs of CPU "
        "per record"
    )
    print(f"follow   {statistics.median(follows):8.2f} µs per record (loop thread, runner's share)")
    print(f"observe_link {link:6.3f} µs per call")
    print(f"in_test      {test:6.3f} µs per call")


async def _read_all(journal: Journal) -> list[Record]:
    out: list[Record] = []
    while page := await journal.read_after(out[-1].journal_seq if out else 0, limit=5000):
        out += page
    return out


def main() -> None:
    """Parse the options and run (the runner's info lines are not printed)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="MESSAGE records")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--follow", type=int, default=5000, help="records appended live")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is printed")
    parser.add_argument("--number", type=int, default=100_000, help="hook calls per repeat")
    parser.add_argument(
        "--bare", action="store_true", help="accounts as benchmarks.run configures them"
    )
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
