"""The writer thread: group commit of everything queued, one transaction and one fsync each.

The event loop puts requests on a queue, each with a waiter: a future to await, or a callback
(the receiver's hot path, no future per frame). The thread takes the first request, then
everything else already waiting (up to ``MAX_BATCH`` records), encodes, hashes and writes
them in one transaction, commits, and hands the outcome back to the loop in one
``call_soon_threadsafe``, with the new records' rows as stored. A failed commit
fails every request of its batch and drops the connection; the next batch reconnects,
re-reads the head and tries again. The WAL is checkpointed beside the thread, not in its
COMMIT (``checkpoint.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.chain import (
    Encoded,
    Head,
    Prepared,
    checked_head,
    link_row,
    prepare,
    read_head,
)
from alarmrx.journal.checkpoint import PASSIVE, Checkpointer
from alarmrx.journal.dedupe import DedupeIndex
from alarmrx.journal.errors import InvalidRecordError, JournalError, JournalWriteError
from alarmrx.journal.prune import prune_on
from alarmrx.journal.records import AppendResult, NewRecord
from alarmrx.journal.rows import StoredRow
from alarmrx.journal.schema import INSERT_RECORD, SET_HEAD, connect_writer

MAX_BATCH = 1000
# Commits after which the writer checkpoints itself even if the checkpoint thread never asked
# (``checkpoint.py``): the WAL stays bounded whatever that thread does.
MAX_COMMITS_UNCHECKPOINTED = 2000

_UPSERT_REPEAT = (
    "INSERT INTO repeats (journal_seq, count, last_received_at) VALUES (?, 1, ?) "
    "ON CONFLICT (journal_seq) DO UPDATE SET count = count + 1, "
    "last_received_at = excluded.last_received_at"
)
_UPSERT_CURSOR = (
    "INSERT INTO cursors (name, journal_seq) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET journal_seq = excluded.journal_seq"
)
_RECENT_KEYS = (
    "SELECT dedupe_key, journal_seq, received_at FROM records "
    "WHERE dedupe_key IS NOT NULL AND received_at >= ? ORDER BY journal_seq"
)


# Called on the event loop with the request's result, or with the JournalError it failed with.
Callback = Callable[[Any], None]
Waiter = asyncio.Future[Any] | Callback


@dataclass(slots=True)
class AppendRequest:
    records: Sequence[NewRecord | Encoded]
    waiter: Waiter


@dataclass(slots=True)
class CursorRequest:
    name: str
    journal_seq: int
    waiter: Waiter


@dataclass(slots=True)
class PruneRequest:
    """Retention (``prune.prune_on``), checked beforehand (``prune.check_prune``)."""

    before: datetime
    now: datetime
    waiter: Waiter


Request = AppendRequest | CursorRequest | PruneRequest


@dataclass(frozen=True, slots=True)
class WriterHooks:
    """Test seams, called on the writer thread. ``before_commit`` runs after the batch is
    written and before COMMIT; whatever it raises fails the batch like a disk error."""

    before_commit: Callable[[sqlite3.Connection], None] | None = None


@dataclass(slots=True)
class Outcome:
    """What one batch did, handed to the event loop. ``error`` is None when it committed."""

    settled: list[tuple[Waiter, Any]] = field(default_factory=list)
    failed: list[tuple[Waiter, JournalError]] = field(default_factory=list)
    rows: list[StoredRow] = field(default_factory=list)  # committed, as stored
    repeated: list[int] = field(default_factory=list)  # journal_seq whose repeats grew
    head_seq: int = 0
    error: str | None = None
    committed: bool = False
    seconds: float = 0.0
    served: int = 0
    kinds: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Plan:
    """The rows of one transaction, worked out before any of it is written; ``seq`` and
    ``hash`` are the head as the last planned row leaves it."""

    seq: int
    hash: str
    outcome: Outcome
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    repeats: list[tuple[int, str]] = field(default_factory=list)
    cursors: list[tuple[str, int]] = field(default_factory=list)
    keys: dict[bytes, tuple[int, datetime]] = field(default_factory=dict)


class Writer:
    """Owns the only read-write connection of this process and the dedupe index."""

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool,
        dedupe_window: timedelta,
        hooks: WriterHooks,
        deliver: Callable[[Outcome], None],
    ) -> None:
        self._path, self._fsync, self._window = path, fsync, dedupe_window
        self._hooks, self._deliver = hooks, deliver
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._index = DedupeIndex(dedupe_window)
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._checkpointer = Checkpointer(path, fsync=fsync)
        self._uncheckpointed = 0  # commits since this thread last checkpointed

    def connect(self) -> Head:
        """Open (or reopen) the file, check the head and rebuild the dedupe index."""
        conn = connect_writer(self._path, fsync=self._fsync)
        try:
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpoint thread's work
            head = checked_head(conn)
            self._index = self._recent_keys(conn, head)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return head

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _recent_keys(self, conn: sqlite3.Connection, head: Head) -> DedupeIndex:
        index = DedupeIndex(self._window)
        if head.received_at is None:
            return index
        cutoff = datetime.fromisoformat(head.received_at) - self._window
        for key, seq, received_at in conn.execute(_RECENT_KEYS, (format_received_at(cutoff),)):
            index.add(bytes(key), seq, datetime.fromisoformat(received_at))
        return index

    def start(self) -> None:
        self._checkpointer.start()
        self._thread.start()

    def submit(self, request: Request) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        """Ask the thread to finish what is queued, close the connection and exit."""
        self._queue.put(None)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = self._take()
            stopping = batch[-1] is None
            requests = [r for r in batch if r is not None]
            if requests:
                self._deliver(self._serve(requests))
                self._restart_wal()
        self._checkpointer.stop()
        if self._conn is not None:
            # Move every record into journal.db itself, so the file alone is the whole journal
            # after a clean stop (a copy of it restores; docs/operations.md, "Backup").
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
        self._checkpointer.release()

    def _restart_wal(self) -> None:
        """After a batch is answered: copy what the checkpoint thread left in a WAL it found
        long (or after ``MAX_COMMITS_UNCHECKPOINTED``), so the next commit restarts it."""
        checkpointer = self._checkpointer
        overdue = self._uncheckpointed >= MAX_COMMITS_UNCHECKPOINTED
        if self._conn is None or not (checkpointer.due or overdue):
            return
        if not checkpointer.lock.acquire(blocking=overdue):
            return  # the checkpoint thread is at it: next batch
        try:
            self._conn.execute(PASSIVE).fetchone()
        except sqlite3.Error:
            # A disk error here fails the next commit, which reconnects (``_commit``).
            return
        finally:
            checkpointer.lock.release()
        checkpointer.due = False
        self._uncheckpointed = 0

    def _take(self) -> list[Request | None]:
        first = self._queue.get()
        batch, count = [first], _size(first)
        while first is not None and count < MAX_BATCH:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(request)
            if request is None:
                break
            count += _size(request)
        return batch

    def _serve(self, requests: list[Request]) -> Outcome:
        """Never raises: the thread must outlive any one batch."""
        prunes = [r for r in requests if isinstance(r, PruneRequest)]
        appends: list[Request] = [r for r in requests if not isinstance(r, PruneRequest)]
        try:
            outcome = self._commit(appends)
        except Exception as err:  # noqa: BLE001 - thread root: a bug fails the batch, not the thread
            outcome = _failed([(r, []) for r in appends], Outcome(), err)
        for prune in prunes:
            self._prune(prune, outcome)
        return outcome

    def _prune(self, request: PruneRequest, outcome: Outcome) -> None:
        """Retention on this connection, after the batch: the checkpoint it chains moves the
        head like any commit."""
        try:
            conn = self._conn if self._conn is not None else self._reconnect()
            report = prune_on(conn, before=request.before, now=request.now)
        except Exception as err:  # noqa: BLE001 - thread root: the failure reaches the caller
            self._drop_connection()
            outcome.failed += _failed([(request, [])], Outcome(), err).failed
            return
        outcome.settled.append((request.waiter, report))
        if report.checkpoint_seq is not None:
            self._committed()
            outcome.head_seq = max(outcome.head_seq, report.checkpoint_seq)
            outcome.committed = True

    def _commit(self, requests: list[Request]) -> Outcome:
        outcome = Outcome()
        work = self._prepare_all(requests, outcome)
        if not work:
            return outcome
        started = time.perf_counter()
        try:
            conn = self._conn if self._conn is not None else self._reconnect()
            plan = self._transact(conn, work, outcome)
        except Exception as err:  # noqa: BLE001 - thread root: every failure reaches the callers
            self._drop_connection()
            return _failed(work, outcome, err)
        self._index.add_commit(plan.keys)
        self._committed()
        outcome.seconds = time.perf_counter() - started
        outcome.head_seq = plan.seq
        outcome.committed = True
        return outcome

    def _committed(self) -> None:
        self._uncheckpointed += 1
        self._checkpointer.committed()

    def _prepare_all(
        self, requests: list[Request], outcome: Outcome
    ) -> list[tuple[Request, list[Prepared]]]:
        work: list[tuple[Request, list[Prepared]]] = []
        for request in requests:
            if not isinstance(request, AppendRequest):
                work.append((request, []))
                continue
            try:
                work.append((request, [prepare(r) for r in request.records]))
            except InvalidRecordError as err:
                outcome.failed.append((request.waiter, err))
        return work

    def _reconnect(self) -> sqlite3.Connection:
        self.connect()
        assert self._conn is not None  # noqa: S101 - connect() sets it or raises
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _transact(
        self,
        conn: sqlite3.Connection,
        work: list[tuple[Request, list[Prepared]]],
        outcome: Outcome,
    ) -> _Plan:
        conn.execute("BEGIN IMMEDIATE")
        try:
            head = read_head(conn)
            plan = _Plan(head.journal_seq, head.hash, outcome)
            for request, prepared in work:
                self._plan_request(plan, request, prepared)
            _write(conn, plan)
            if self._hooks.before_commit is not None:
                self._hooks.before_commit(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return plan

    def _plan_request(self, plan: _Plan, request: Request, prepared: list[Prepared]) -> None:
        if isinstance(request, CursorRequest):
            plan.cursors.append((request.name, request.journal_seq))
            plan.outcome.settled.append((request.waiter, None))
            return
        results = [self._plan_record(plan, p) for p in prepared]
        plan.outcome.settled.append((request.waiter, results))
        plan.outcome.served += len(results)

    def _plan_record(self, plan: _Plan, prepared: Prepared) -> AppendResult:
        key = prepared.key
        if key is not None:
            original = self._original(plan, key, prepared.at)
            if original is not None:
                plan.repeats.append((original, prepared.content.received_at))
                plan.outcome.repeated.append(original)
                return AppendResult(journal_seq=original, duplicate=True)
        plan.seq += 1
        row = link_row(plan.hash, plan.seq, prepared)
        plan.hash = row[11]
        plan.rows.append(row)
        # What SQLite holds for it; repeats counted later make the tails forget it.
        plan.outcome.rows.append(row[:12])
        plan.outcome.kinds.append(prepared.content.kind)
        if key is not None:
            plan.keys[key] = (plan.seq, prepared.at)
        return AppendResult(journal_seq=plan.seq)

    def _original(self, plan: _Plan, key: bytes, at: datetime) -> int | None:
        pending = plan.keys.get(key)
        if pending is not None and abs(at - pending[1]) <= self._window:
            return pending[0]
        return self._index.find(key, at)


def _size(request: Request | None) -> int:
    return len(request.records) if isinstance(request, AppendRequest) else 1


def _write(conn: sqlite3.Connection, plan: _Plan) -> None:
    if plan.rows:
        conn.executemany(INSERT_RECORD, plan.rows)
        conn.execute(SET_HEAD, (plan.seq, plan.hash))
    if plan.repeats:
        conn.executemany(_UPSERT_REPEAT, plan.repeats)
    if plan.cursors:
        conn.executemany(_UPSERT_CURSOR, plan.cursors)


def _failed(
    work: list[tuple[Request, list[Prepared]]], outcome: Outcome, err: Exception
) -> Outcome:
    """Every request of the batch fails, each with its own exception instance."""
    kind = type(err) if isinstance(err, JournalError) else JournalWriteError
    message = str(err) if isinstance(err, JournalError) else f"{type(err).__name__}: {err}"
    failed = [(request.waiter, kind(message)) for request, _ in work]
    return Outcome(failed=outcome.failed + failed, error=message)
