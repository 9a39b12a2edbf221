"""The PostgreSQL writer: group commit of one node's chain, on the event loop.

One task takes the first request, then everything else already queued (up to
``MAX_BATCH`` records), and serves them in one transaction of two round trips:

1. ``BEGIN``, ``pg_current_xact_id()`` (the transaction has its id before it takes any
   ``journal_seq``, which the read horizon relies on, see ``horizon.py``), the chain's head
   row locked (``FOR UPDATE``: every process of a node writes the node's chain, one
   transaction at a time; a new chain's row is made first), and the claim of
   the batch's dedupe keys: ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE`` the stored key is
   outside the window ``RETURNING key``. A key another node holds within the window is not
   returned: that record is a retransmission, counted on the original (found by its key).
   A key whose first claim is still uncommitted on another node waits for that commit.
2. The new records chained onto this node's head, the head, the repeats, the cursors and
   ``COMMIT``, sent as one pipeline.

Waiters are released only after ``COMMIT`` returned. A failed batch fails every request in
it and drops the connection; the next batch reconnects (libpq's multi-host ``dsn`` finds the
new primary), re-reads the head and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import psycopg

from alarmrx.journal.canonical import GENESIS_HASH
from alarmrx.journal.chain import EMPTY, Head, Prepared, link, prepare, proven_head
from alarmrx.journal.errors import InvalidRecordError, JournalError, JournalWriteError
from alarmrx.journal.postgres.rows import SELECT_CONTENT
from alarmrx.journal.postgres.schema import SCHEMA, check_version
from alarmrx.journal.records import AppendResult
from alarmrx.journal.writer import (
    MAX_BATCH,
    AppendRequest,
    CursorRequest,
    Outcome,
)

Conn = psycopg.AsyncConnection[tuple[Any, ...]]
# What this writer is asked: no pruning on PostgreSQL yet (docs/journal.md, "PostgreSQL").
Request = AppendRequest | CursorRequest

_READ_HEAD = f"SELECT chain_seq, hash FROM {SCHEMA}.chain_heads WHERE chain = %s"
_NEW_HEAD = (
    f"INSERT INTO {SCHEMA}.chain_heads (chain, chain_seq, hash) VALUES (%s, 0, %s) "
    "ON CONFLICT (chain) DO NOTHING"
)
_LOCK_HEAD = f"{_READ_HEAD} FOR UPDATE"
_LAST = f"{SELECT_CONTENT} WHERE chain = %s ORDER BY chain_seq DESC LIMIT 1"
_CLAIM = (
    f"INSERT INTO {SCHEMA}.dedupe_keys AS d (key, received_at) "
    "SELECT * FROM unnest(%b::bytea[], %b::timestamptz[]) ORDER BY 1 "
    "ON CONFLICT (key) DO UPDATE SET received_at = excluded.received_at "
    "WHERE abs(extract(epoch FROM excluded.received_at - d.received_at)) > %s "
    "RETURNING key"
)
_ORIGINALS = (
    f"SELECT DISTINCT ON (dedupe_key) dedupe_key, journal_seq FROM {SCHEMA}.records "
    "WHERE dedupe_key = ANY(%s) ORDER BY dedupe_key, journal_seq DESC"
)
INSERT_RECORDS = (
    f"INSERT INTO {SCHEMA}.records (chain, chain_seq, received_at, kind, account, peer, "
    "transport, reply, priority, body, raw, prev_hash, hash, dedupe_key) "
    "SELECT %s, * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::integer[], %b::text[], %b::bytea[], %b::text[], %b::text[], "
    "%b::bytea[]) ORDER BY 1 RETURNING chain_seq, journal_seq"
)
_SET_HEAD = (
    f"INSERT INTO {SCHEMA}.chain_heads (chain_seq, hash, chain) VALUES (%s, %s, %s) "
    "ON CONFLICT (chain) DO UPDATE SET chain_seq = excluded.chain_seq, hash = excluded.hash"
)
_REPEATS = (
    f"INSERT INTO {SCHEMA}.repeats AS p (journal_seq, count, last_received_at) "
    "SELECT * FROM unnest(%b::bigint[], %b::integer[], %b::text[]) ORDER BY 1 "
    "ON CONFLICT (journal_seq) DO UPDATE SET count = p.count + excluded.count, "
    "last_received_at = greatest(p.last_received_at, excluded.last_received_at)"
)
_REPEATS_PENDING = (
    f"INSERT INTO {SCHEMA}.repeats AS p (journal_seq, count, last_received_at) "
    f"SELECT r.journal_seq, x.count, x.at FROM {SCHEMA}.records AS r "
    "JOIN unnest(%b::bigint[], %b::integer[], %b::text[]) AS x (chain_seq, count, at) "
    "ON r.chain_seq = x.chain_seq WHERE r.chain = %s ORDER BY 1 "
    "ON CONFLICT (journal_seq) DO UPDATE SET count = p.count + excluded.count, "
    "last_received_at = greatest(p.last_received_at, excluded.last_received_at)"
)
_CURSORS = (
    f"INSERT INTO {SCHEMA}.cursors (name, journal_seq) "
    "SELECT * FROM unnest(%b::text[], %b::bigint[]) ORDER BY 1 "
    "ON CONFLICT (name) DO UPDATE SET journal_seq = excluded.journal_seq"
)


async def connect(conninfo: str) -> Conn:
    """A connection in autocommit mode (the writer says ``BEGIN`` and ``COMMIT`` itself)."""
    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)


async def chain_head(conn: Conn, chain: str) -> Head:
    """The chain's head after proving it (``proven_head``); EMPTY for a new chain."""
    stated = await (await conn.execute(_READ_HEAD, (chain,))).fetchone()
    last = await (await conn.execute(_LAST, (chain,))).fetchone()
    head = Head(int(stated[0]), str(stated[1])) if stated else EMPTY
    return proven_head(head, last)


class _NotBegunError(JournalWriteError):
    """The connection failed in round trip 1: nothing of the batch can have been stored."""


class Place(Enum):
    """Where a record of a batch went, and what the number beside it is."""

    NEW = "new"  # chained: its chain_seq
    REPEAT = "repeat"  # a retransmission of a committed record: that record's journal_seq
    PENDING = "pending"  # a retransmission of a record new in this batch: its chain_seq


@dataclass(slots=True)
class _Plan:
    """One batch: which records are new, which repeat which original."""

    head: Head
    outcome: Outcome
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    places: list[tuple[Request, list[tuple[Place, int]]]] = field(default_factory=list)
    repeats: Counter[int] = field(default_factory=Counter)
    last_at: dict[int, str] = field(default_factory=dict)  # journal_seq -> latest repeat
    repeat_pending: Counter[int] = field(default_factory=Counter)  # by chain_seq
    pending_at: dict[int, str] = field(default_factory=dict)  # chain_seq -> latest repeat
    cursors: dict[str, int] = field(default_factory=dict)


class PgWriter:
    """Owns this node's write connection and its chain head."""

    def __init__(
        self,
        conninfo: str,
        *,
        chain: str,
        dedupe_window: timedelta,
        deliver: Callable[[Outcome], None],
    ) -> None:
        self._conninfo, self._chain, self._window = conninfo, chain, dedupe_window
        self._deliver = deliver
        self._queue: deque[Request] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._conn: Conn | None = None
        self._head = EMPTY
        self._task: asyncio.Task[None] | None = None

    @property
    def head(self) -> Head:
        return self._head

    async def connect(self) -> Head:
        """Open (or reopen) the connection, check the schema, prove the chain head."""
        conn = await connect(self._conninfo)
        try:
            await check_version(conn)
            self._head = await chain_head(conn, self._chain)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return self._head

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-writer")

    def submit(self, request: Request) -> None:
        self._queue.append(request)
        self._wake.set()

    async def stop(self) -> None:
        """Serve what is queued, close the connection."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._drop_connection()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                self._deliver(await self._serve(self._take()))
            if self._stopping:
                return

    def _take(self) -> list[Request]:
        batch: list[Request] = []
        count = 0
        while self._queue and count < MAX_BATCH:
            request = self._queue.popleft()
            batch.append(request)
            count += len(request.records) if isinstance(request, AppendRequest) else 1
        return batch

    async def _serve(self, requests: list[Request]) -> Outcome:
        """Never raises: the task must outlive any one batch."""
        outcome = Outcome()
        work = _prepare_all(requests, outcome)
        if not work:
            return outcome
        started = time.perf_counter()
        try:
            plan = await self._attempt(work, outcome)
        except Exception as err:  # noqa: BLE001 - task root: every failure reaches the callers
            await self._drop_connection()
            return _failed(work, outcome, err)
        self._head = plan.head
        outcome.seconds = time.perf_counter() - started
        outcome.committed = True
        return outcome

    async def _attempt(self, work: list[tuple[Request, list[Prepared]]], outcome: Outcome) -> _Plan:
        """The batch's transaction; once more on a new connection when a connection that
        sat idle turns out dead before anything was sent for ``COMMIT`` (the server
        restarted, or the primary changed, since the last batch)."""
        if self._conn is None:
            return await self._transact(await self._reconnect(), work, outcome)
        try:
            return await self._transact(self._conn, work, outcome)
        except _NotBegunError:
            await self._drop_connection()
            return await self._transact(await self._reconnect(), work, outcome)

    async def _reconnect(self) -> Conn:
        await self.connect()
        assert self._conn is not None  # noqa: S101 - connect() sets it or raises
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def _transact(
        self, conn: Conn, work: list[tuple[Request, list[Prepared]]], outcome: Outcome
    ) -> _Plan:
        try:
            try:
                claimed, originals = await self._begin(conn, work)
            except psycopg.OperationalError as err:
                raise _NotBegunError(str(err)) from err
            plan = self._plan(work, outcome, claimed, originals)
            await self._finish(conn, plan)
        except BaseException:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.execute("ROLLBACK")
            raise
        return plan

    async def _begin(
        self, conn: Conn, work: list[tuple[Request, list[Prepared]]]
    ) -> tuple[set[bytes], dict[bytes, int]]:
        """Round trip 1: the transaction, its id, the chain's head (locked, when the batch
        has records: the node's other processes wait for this commit), the claim of the
        batch's keys. The head is locked before any key, so two batches never deadlock."""
        keys: dict[bytes, Any] = {}
        for _, prepared in work:
            for p in prepared:
                if p.key is not None:
                    keys.setdefault(p.key, p.at)
        head = None
        async with conn.pipeline():
            await conn.execute("BEGIN")
            await conn.execute("SELECT pg_current_xact_id()")
            if any(prepared for _, prepared in work):
                await conn.execute(_NEW_HEAD, (self._chain, GENESIS_HASH))
                head = await conn.execute(_LOCK_HEAD, (self._chain,))
            claim = await conn.execute(
                _CLAIM, (list(keys), list(keys.values()), self._window.total_seconds())
            )
        if head is not None:
            row = await head.fetchone()
            if row is not None:
                self._head = Head(int(row[0]), str(row[1]))
        claimed = {bytes(row[0]) for row in await claim.fetchall()}
        unclaimed = [k for k in keys if k not in claimed]
        if not unclaimed:
            return claimed, {}
        found = await (await conn.execute(_ORIGINALS, (unclaimed,))).fetchall()
        return claimed, {bytes(key): int(seq) for key, seq in found}

    def _plan(
        self,
        work: list[tuple[Request, list[Prepared]]],
        outcome: Outcome,
        claimed: set[bytes],
        originals: dict[bytes, int],
    ) -> _Plan:
        plan = _Plan(self._head, outcome)
        pending: dict[bytes, tuple[int, Any]] = {}  # key -> (chain_seq, at) new in this batch
        for request, prepared in work:
            if isinstance(request, CursorRequest):
                plan.cursors[request.name] = request.journal_seq
                plan.places.append((request, []))
                continue
            places = [self._place(plan, p, claimed, originals, pending) for p in prepared]
            plan.places.append((request, places))
        return plan

    def _place(
        self,
        plan: _Plan,
        prepared: Prepared,
        claimed: set[bytes],
        originals: dict[bytes, int],
        pending: dict[bytes, tuple[int, Any]],
    ) -> tuple[Place, int]:
        key, at = prepared.key, prepared.content.received_at
        if key is not None:
            first = pending.get(key)
            if first is not None and abs(prepared.at - first[1]) <= self._window:
                plan.repeat_pending[first[0]] += 1
                plan.pending_at[first[0]] = max(plan.pending_at.get(first[0], at), at)
                return (Place.PENDING, first[0])
            if first is None and key not in claimed and key in originals:
                seq = originals[key]
                plan.repeats[seq] += 1
                plan.last_at[seq] = max(plan.last_at.get(seq, at), at)
                return (Place.REPEAT, seq)
        row, plan.head = link(plan.head, prepared)
        plan.rows.append(row)
        plan.outcome.kinds.append(prepared.content.kind)
        if key is not None and key not in pending:
            pending[key] = (plan.head.journal_seq, prepared.at)
        return (Place.NEW, plan.head.journal_seq)

    async def _finish(self, conn: Conn, plan: _Plan) -> None:
        """Round trip 2: rows, head, repeats, cursors and COMMIT in one pipeline."""
        inserted = None
        async with conn.pipeline():
            if plan.rows:
                inserted = await conn.execute(INSERT_RECORDS, (self._chain, *_columns(plan.rows)))
                await conn.execute(_SET_HEAD, (plan.head.journal_seq, plan.head.hash, self._chain))
            if plan.repeats:
                seqs = sorted(plan.repeats)
                at = [plan.last_at[s] for s in seqs]
                await conn.execute(_REPEATS, (seqs, [plan.repeats[s] for s in seqs], at))
            if plan.repeat_pending:
                places = sorted(plan.repeat_pending)
                counts = [plan.repeat_pending[p] for p in places]
                at = [plan.pending_at[p] for p in places]
                await conn.execute(_REPEATS_PENDING, (places, counts, at, self._chain))
            if plan.cursors:
                names = sorted(plan.cursors)
                await conn.execute(_CURSORS, (names, [plan.cursors[n] for n in names]))
            await conn.execute("COMMIT")
        new_seqs: dict[int, int] = dict(await inserted.fetchall()) if inserted else {}
        _settle(plan, new_seqs)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """``link`` rows (chain_seq first) as one array per column, for ``unnest``."""
    return [list(column) for column in zip(*rows, strict=True)]


def _settle(plan: _Plan, new_seqs: dict[int, int]) -> None:
    """Every request's results, now that COMMIT returned."""
    outcome = plan.outcome
    for request, places in plan.places:
        if isinstance(request, CursorRequest):
            outcome.settled.append((request.waiter, None))
            continue
        results = [_result(kind, number, new_seqs) for kind, number in places]
        outcome.settled.append((request.waiter, results))
        outcome.served += len(results)
    outcome.repeated = sorted(plan.repeats) + sorted(new_seqs[p] for p in plan.repeat_pending)
    outcome.head_seq = max(new_seqs.values(), default=0)


def _result(kind: Place, number: int, new_seqs: dict[int, int]) -> AppendResult:
    if kind is Place.REPEAT:
        return AppendResult(journal_seq=number, duplicate=True)
    return AppendResult(journal_seq=new_seqs[number], duplicate=kind is Place.PENDING)


def _prepare_all(requests: list[Request], outcome: Outcome) -> list[tuple[Request, list[Prepared]]]:
    work: list[tuple[Request, list[Prepared]]] = []
    for request in requests:
        if isinstance(request, CursorRequest):
            work.append((request, []))
            continue
        try:
            work.append((request, [prepare(r) for r in request.records]))
        except InvalidRecordError as err:
            outcome.failed.append((request.waiter, err))
    return work


def _failed(
    work: list[tuple[Request, list[Prepared]]], outcome: Outcome, err: Exception
) -> Outcome:
    """Every request of the batch fails, each with its own exception instance."""
    kind = type(err) if isinstance(err, JournalError) else JournalWriteError
    message = str(err) if isinstance(err, JournalError) else f"{type(err).__name__}: {err}"
    failed = [(request.waiter, kind(message)) for request, _ in work]
    return Outcome(failed=outcome.failed + failed, error=message)
