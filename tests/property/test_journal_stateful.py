"""The journal against a model: appends, retransmissions, batches, reopening, cursors.

Invariants after every step: every committed record is stored as appended (also after a
reopen), ``journal_seq`` runs 1..N without a gap, repeats are counted, the chain verifies.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alarmrx.journal import AppendResult, Journal, NewRecord, RecordKind, verify_chain

T = TypeVar("T")
T0 = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=120)
KEYS = st.none() | st.sampled_from([b"a", b"b", b"c"])
ACCOUNTS = st.sampled_from(["1234", "5678", None])
STEPS = st.integers(min_value=0, max_value=200)


@dataclass(frozen=True)
class Appended:
    seq: int
    record: NewRecord


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="journal-machine-"))
        self.path = self.dir / "journal.db"
        self.loop = asyncio.new_event_loop()
        self.journal = self.run(Journal.open(self.path, fsync=False))
        self.stored: list[Appended] = []
        self.repeats: dict[int, int] = {}
        self.last_by_key: dict[bytes, Appended] = {}
        self.cursors: dict[str, int] = {}
        self.clock = T0

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.journal.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_record(self, step: int, key: bytes | None, account: str | None) -> NewRecord:
        self.clock += timedelta(seconds=step)
        n = len(self.stored)
        return NewRecord(
            kind=RecordKind.MESSAGE,
            received_at=self.clock,
            account=account,
            body={"n": n, "text": "zone\u00e9 1"},
            raw=bytes([n % 256, 10, 13, 0]),
            dedupe_key=key,
        )

    def expect(self, record: NewRecord) -> AppendResult:
        """The model: a key seen within the window of its original is a repeat."""
        key = record.dedupe_key
        original = self.last_by_key.get(key) if key is not None else None
        if original is not None and abs(record.received_at - original.record.received_at) <= WINDOW:
            self.repeats[original.seq] = self.repeats.get(original.seq, 0) + 1
            return AppendResult(journal_seq=original.seq, duplicate=True)
        appended = Appended(len(self.stored) + 1, record)
        self.stored.append(appended)
        if key is not None:
            self.last_by_key[key] = appended
        return AppendResult(journal_seq=appended.seq)

    @rule(step=STEPS, key=KEYS, account=ACCOUNTS)
    def append(self, step: int, key: bytes | None, account: str | None) -> None:
        record = self.new_record(step, key, account)
        assert self.run(self.journal.append(record)) == self.expect(record)

    @precondition(lambda self: bool(self.last_by_key))
    @rule(data=st.data(), step=st.integers(min_value=0, max_value=150))
    def retransmit(self, data: st.DataObject, step: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.last_by_key)))
        record = self.new_record(step, key, self.last_by_key[key].record.account)
        assert self.run(self.journal.append(record)) == self.expect(record)

    @rule(batch=st.lists(st.tuples(st.integers(0, 60), KEYS, ACCOUNTS), min_size=1, max_size=6))
    def append_many(self, batch: list[tuple[int, bytes | None, str | None]]) -> None:
        records = [self.new_record(*item) for item in batch]
        expected = [self.expect(record) for record in records]
        assert self.run(self.journal.append_many(records)) == expected

    @rule(concurrent=st.lists(st.tuples(STEPS, KEYS, ACCOUNTS), min_size=2, max_size=8))
    def append_concurrently(self, concurrent: list[tuple[int, bytes | None, str | None]]) -> None:
        records = [self.new_record(*item) for item in concurrent]
        expected = [self.expect(record) for record in records]
        assert self.run(self._gather(records)) == expected  # queued, and chained, in call order

    async def _gather(self, records: list[NewRecord]) -> list[AppendResult]:
        return list(await asyncio.gather(*(self.journal.append(r) for r in records)))

    @rule()
    def reopen(self) -> None:
        self.run(self.journal.close())
        self.journal = self.run(Journal.open(self.path, fsync=False))
        assert self.journal.last_seq == len(self.stored)

    @rule(name=st.sampled_from(["mqtt", "legacy"]), data=st.data())
    def save_cursor(self, name: str, data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, len(self.stored)))
        self.run(self.journal.save_cursor(name, seq))
        self.cursors[name] = seq

    @rule(after=st.integers(0, 40), limit=st.integers(1, 10))
    def read_after(self, after: int, limit: int) -> None:
        records = self.run(self.journal.read_after(after, limit=limit))
        assert [r.journal_seq for r in records] == [
            a.seq for a in self.stored[after : after + limit]
        ]

    @invariant()
    def everything_committed_is_stored(self) -> None:
        records = self.run(self.journal.read_after(0, limit=10_000))
        assert [r.journal_seq for r in records] == list(range(1, len(self.stored) + 1))
        for record, appended in zip(records, self.stored, strict=True):
            assert record.received_at == appended.record.received_at
            assert (record.account, record.raw) == (appended.record.account, appended.record.raw)
            assert record.body == appended.record.body
            assert record.repeats == self.repeats.get(appended.seq, 0)

    @invariant()
    def cursors_hold(self) -> None:
        for name, seq in self.cursors.items():
            assert self.run(self.journal.load_cursor(name)) == seq

    @invariant()
    def chain_verifies(self) -> None:
        report = verify_chain(self.path)
        assert report.ok, report
        assert report.records == len(self.stored)


JournalMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_journal_machine = JournalMachine.TestCase
