"""``PostgresJournal``: the SQLite ``Journal``'s interface over PostgreSQL.

Appends go to this node's writer (``writer.py``: group commit of the node's own chain);
each caller's ``await`` (or ``submit``'s callback) returns only once ``COMMIT`` returned.
Reads, cursors and the read horizon (``horizon.py``) use a second connection. ``last_seq``
is the horizon: the highest ``journal_seq`` below which every node's records are committed
or gone, so ``read_after`` never skips a record another node commits later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Self

import msgspec
import psycopg
import structlog

from alarmrx.journal.callers import AppendingJournal, CursorStore, release, report_outcome
from alarmrx.journal.errors import InvalidRecordError, JournalClosedError, JournalError
from alarmrx.journal.heads import ChainHead
from alarmrx.journal.metrics import JournalMetrics
from alarmrx.journal.postgres.heads import HEADS, proven_heads
from alarmrx.journal.postgres.horizon import Horizon
from alarmrx.journal.postgres.prune import prune_chains
from alarmrx.journal.postgres.rows import SELECT_RECORDS, record_from_row
from alarmrx.journal.postgres.schema import SCHEMA, SEQUENCE, check_version
from alarmrx.journal.postgres.writer import Conn, PgWriter, connect
from alarmrx.journal.prune import DEFAULT_MIN_AGE, PruneReport
from alarmrx.journal.records import NewRecord, Record, RecordKind
from alarmrx.journal.writer import AppendRequest, Outcome, Waiter

log = structlog.get_logger("alarmrx.journal")


class JournalReadError(JournalError):
    """A read failed: the database is unreachable or refused it. Retried on the next read."""


POLL_S = 0.05  # how often ``wait_for`` looks for other nodes' commits

_READ_AFTER = (
    f"{SELECT_RECORDS} WHERE r.journal_seq > %s AND r.journal_seq <= %s "
    "ORDER BY r.journal_seq LIMIT %s"
)
_ALLOCATED = f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {SEQUENCE}"
_SNAPSHOT = (
    "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
    "FROM pg_current_snapshot() AS s"
)


class PostgresJournal(AppendingJournal[NewRecord], CursorStore):
    """One node's view of the shared journal. Build with ``open``."""

    _writer: PgWriter
    _LOAD_CURSOR = f"SELECT journal_seq FROM {SCHEMA}.cursors WHERE name = %s"

    def __init__(
        self,
        conninfo: str,
        *,
        chain: str,
        dedupe_window: timedelta,
        metrics: JournalMetrics | None,
        poll_s: float,
    ) -> None:
        self._conninfo, self._chain, self._poll_s = conninfo, chain, poll_s
        self._loop = asyncio.get_running_loop()
        self._metrics = metrics
        self._writer = PgWriter(
            conninfo, chain=chain, dedupe_window=dedupe_window, deliver=self._settle
        )
        self._reader: Conn | None = None
        self._reading = asyncio.Lock()
        self._horizon = Horizon()
        self._advanced = asyncio.Event()
        self._healthy = True
        self._last_error: str | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        conninfo: str,
        *,
        chain: str,
        dedupe_window_s: float = 120.0,
        metrics: JournalMetrics | None = None,
        poll_s: float = POLL_S,
        reachable: bool = True,
        follow: bool = True,
    ) -> Self:
        """Connect, check the schema and this node's chain head (``chain`` is the node's
        ``receiver.id``), and find the read horizon. With ``reachable=False`` a database
        that cannot be reached now is no error: the journal opens unhealthy and the first
        batch (or read) connects; a schema it refuses still is. With ``follow=False`` (a
        process that only appends, like a receiver worker) no read connection is opened
        until something is read."""
        journal = cls(
            conninfo,
            chain=chain,
            dedupe_window=timedelta(seconds=dedupe_window_s),
            metrics=metrics,
            poll_s=poll_s,
        )
        await journal._start(chain, metrics, reachable=reachable, follow=follow)
        return journal

    async def _start(
        self, chain: str, metrics: JournalMetrics | None, *, reachable: bool, follow: bool
    ) -> None:
        """Connect (and, following, find the read horizon), then start the writer; as
        ``open`` says for a database that cannot be reached."""
        try:
            await self._writer.connect()
            if follow:
                await self._refresh()
        except (psycopg.Error, OSError, JournalError) as err:
            unreachable = not isinstance(err, JournalError) or isinstance(err, JournalReadError)
            if reachable or not unreachable:
                await self._fail_open()
                if isinstance(err, JournalError):
                    raise
                raise JournalError(f"cannot open the PostgreSQL journal: {err}") from err
            self._healthy, self._last_error = False, str(err)
            log.warning("journal_unreachable_at_open", error=str(err), chain=chain)
        self._writer.start()
        if metrics is not None:
            metrics.set_healthy(self._healthy)

    async def _fail_open(self) -> None:
        await self._writer.stop()
        await self._drop_reader()

    @property
    def chain(self) -> str:
        return self._chain

    @property
    def last_seq(self) -> int:
        """The read horizon: every record up to it is committed (or will never be)."""
        return self._horizon.safe

    @property
    def chain_seq(self) -> int:
        """The last ``chain_seq`` this node committed in its own chain."""
        return self._writer.head.journal_seq

    def submit(self, records: Sequence[NewRecord], done: Waiter) -> None:
        """``append_many`` with a callback, run with the results once committed or with the
        ``JournalError`` the commit failed with."""
        self._queue(records, done)

    def _queue(self, records: Sequence[NewRecord], waiter: Waiter) -> None:
        self._ensure_open()
        for record in records:
            if record.received_at.tzinfo is None:
                raise InvalidRecordError("received_at must carry a time zone")
        self._writer.submit(AppendRequest(tuple(conclusion_keyed(r) for r in records), waiter))

    async def read_after(self, journal_seq: int, *, limit: int = 500) -> list[Record]:
        """Up to ``limit`` records with a ``journal_seq`` above the given one and up to the
        horizon, in order, from every chain."""
        await self._refresh()
        if self.last_seq <= journal_seq:
            return []
        rows = await self._read(_READ_AFTER, (journal_seq, self.last_seq, limit))
        return [record_from_row(row) for row in rows]

    async def wait_for(self, journal_seq: int) -> None:
        """Return once ``last_seq > journal_seq``; raise ``JournalClosedError`` on close.
        Wakes on this node's commits and polls for the other nodes'; while the database is
        unreachable it keeps waiting (the writer reports the outage through ``healthy``)."""
        while self.last_seq <= journal_seq:
            self._ensure_open()
            advanced = self._advanced
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(advanced.wait(), self._poll_s)
            self._ensure_open()
            with contextlib.suppress(JournalReadError):
                await self._refresh()

    async def chain_heads(self) -> list[ChainHead]:
        """Every chain's head, proven against its last record, for anchors (``heads.py``)."""
        return proven_heads(await self._read(HEADS, ()))

    async def prune(
        self, *, before: datetime, now: datetime, min_age: timedelta = DEFAULT_MIN_AGE
    ) -> PruneReport:
        """Retention of every chain on a helper thread (``prune.py``): the records pruned
        in all chains, through and checkpoint of this node's. Raises ``JournalError``."""
        self._ensure_open()
        try:
            pruned = await asyncio.to_thread(
                prune_chains, self._conninfo, before=before, now=now, min_age=min_age
            )
        except psycopg.Error as err:
            raise JournalError(f"pruning the PostgreSQL journal: {err}") from err
        return pruned.summary(self._chain)

    async def close(self) -> None:
        """Commit what is queued, then close both connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._writer.stop()
        self._wake()
        async with self._reading:
            await self._drop_reader()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise JournalClosedError(f"journal (chain {self._chain}) is closed")

    async def _refresh(self) -> None:
        """One probe of the horizon: the sequence first, then a snapshot."""
        rows = await self._read(_ALLOCATED, ())
        snapshot = await self._read(_SNAPSHOT, ())
        before = self._horizon.safe
        xmin, xmax = snapshot[0]
        self._horizon.observe(int(rows[0][0]), int(xmin), int(xmax))
        if self._horizon.safe > before:
            self._wake()

    def _wake(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def _read(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self._ensure_open()
        async with self._reading:
            try:
                if self._reader is None:
                    self._reader = await connect(self._conninfo)
                    await check_version(self._reader)
                cur = await self._reader.execute(query, params)
                return await cur.fetchall()
            except psycopg.Error as err:
                await self._drop_reader()
                raise JournalReadError(f"reading the PostgreSQL journal: {err}") from err

    async def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await reader.close()

    def _settle(self, outcome: Outcome) -> None:
        """Health, metrics, then release the callers (on the loop, after COMMIT)."""
        self._note_health(outcome)
        if outcome.error is not None:
            log.warning("journal_commit_failed", error=outcome.error, chain=self._chain)
        if outcome.committed:
            self._wake()
        report_outcome(self._metrics, outcome)
        release(outcome)


def conclusion_keyed(record: NewRecord) -> NewRecord:
    """A DERIVED record with the rule's idempotent ``key`` in its body gets a dedupe key
    made from it, so the same conclusion appended by two nodes' rules (the one that died,
    the one that took over) is one record across chains, the second counted as a repeat
    (docs/journal.md, "Several nodes")."""
    key = record.body.get("key") if record.kind is RecordKind.DERIVED else None
    if record.dedupe_key is not None or not isinstance(key, str):
        return record
    digest = hashlib.sha256(f"derived|{key}".encode()).digest()
    return msgspec.structs.replace(record, dedupe_key=digest)
