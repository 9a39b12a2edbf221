"""Clock trouble: the wall clock stepped back and forward under the running daemon.

The daemon runs in this process with ``alarmrx.app.utc_now`` replaced by a clock the test
steps (the receiver, the rules and the ACK timestamps all read that one clock).

- Receipt times in the journal never go backwards: a record whose clock reading is earlier
  than the journal's latest receipt time is stamped with that latest time instead, and keeps
  what the clock said in ``received_at_raised`` (receiver/receipts.py).
- Supervision does not fire because the clock jumped: silence is measured on a monotonic
  time base (rules/timebase.py); tests/unit/rules/test_clock_steps.py covers the
  loss that is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.daemon import frame, write_config

from alarmrx import app
from alarmrx.config import load_settings
from alarmrx.journal.query import query
from alarmrx.journal.records import Record, RecordKind
from alarmrx.receiver.receipts import ReceiptClock

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
SUPERVISED = """account = "1234"
[accounts.supervision]
interval_s = 60.0
grace_s = 10.0"""


class SteppedClock:
    """The real clock plus an offset the test steps."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Running:
    daemon: app.Daemon
    clock: SteppedClock
    port: int
    journal: Path

    async def send(self, data: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            async with asyncio.timeout(5):
                return await reader.readuntil(b"\r")
        finally:
            writer.close()

    def records(self, kind: RecordKind) -> list[Record]:
        return [r for r in query(self.journal) if r.kind is kind]


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    clock = SteppedClock()
    monkeypatch.setattr(app, "utc_now", clock)
    config = write_config(tmp_path, accounts=[SUPERVISED, 'account = "5678"'], log_level="info")
    daemon = app.Daemon(load_settings(config))
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(20):
        while not daemon.listeners:  # noqa: ASYNC110 - the daemon offers no event to wait on
            await asyncio.sleep(0.01)
    port = int(daemon.listeners[0].rsplit(":", 1)[1])
    try:
        yield Running(daemon, clock, port, tmp_path / "journal.db")
    finally:
        daemon.stop()  # what SIGTERM does
        await asyncio.wait_for(task, 20)


async def test_receipt_times_stay_ordered_when_the_clock_steps(running: Running) -> None:
    steps = [timedelta(0), -HOUR, -HOUR, HOUR, timedelta(0), -2 * HOUR]
    for n, offset in enumerate(steps, start=1):
        running.clock.offset = offset
        reply = await running.send(frame("5678", f"#5678|Nri1/BA{n:02d}", sequence=n))
        assert b'"ACK"' in reply
    running.clock.offset = -HOUR
    assert b'"DUH"' in await running.send(frame("9999", "#9999|NBA1"))  # a reject sample
    for _ in range(100):  # the sample is committed behind the DUH, which does not wait for it
        if running.records(RecordKind.REJECTED):
            break
        await asyncio.sleep(0.05)

    journal = [
        r for r in query(running.journal) if r.kind in {RecordKind.MESSAGE, RecordKind.REJECTED}
    ]
    times = [r.received_at for r in journal]
    assert times == sorted(times)
    raised = [r for r in journal if "received_at_raised" in r.body]
    assert len(raised) == 5  # every record after the first step back, until the clock caught up
    for record in raised:
        clock_read = datetime.fromisoformat(record.body["received_at_raised"]["clock_read"])
        assert clock_read < record.received_at


async def test_supervision_does_not_fire_when_the_clock_jumps(running: Running) -> None:
    assert b'"ACK"' in await running.send(frame("1234", "", token="NULL", sequence=0))
    for n, offset in enumerate((HOUR, -HOUR), start=1):  # forward, then back past the start
        running.clock.offset = offset
        running.daemon.rules.wake()  # it wakes at least every 30 s anyway
        assert b'"ACK"' in await running.send(frame("5678", f"#5678|Nri1/BA{n:02d}"))
        assert b'"ACK"' in await running.send(frame("1234", "", token="NULL", sequence=n))
        seq = running.records(RecordKind.MESSAGE)[-1].journal_seq  # ACKed: in the file
        async with asyncio.timeout(10):  # the rules read the message: they ran after the step
            while running.daemon.rules.position < seq:  # noqa: ASYNC110 - polls state
                await asyncio.sleep(0.01)
    derived = [r.body.get("type") for r in running.records(RecordKind.DERIVED)]
    assert "supervision.lost" not in derived
    assert len(running.records(RecordKind.MESSAGE)) == 2  # the rules ran over both
    assert running.daemon.rules.position >= 2


def test_receipt_clock_raises_only_readings_behind_the_latest() -> None:
    receipts = ReceiptClock()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamped = [receipts.stamp(start + timedelta(seconds=s)) for s in (0, 5, -3595, 6, 4)]
    assert [r.at - start for r in stamped] == [timedelta(seconds=s) for s in (0, 5, 5, 6, 6)]
    assert [r.body() != {} for r in stamped] == [False, False, True, False, True]
    assert stamped[2].body()["received_at_raised"]["by_s"] == 3600.0
