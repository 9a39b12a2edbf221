"""The supervisor's view of a PostgreSQL journal: can this node reach a primary?

Each worker commits on its own connection and refuses the ACK when its COMMIT fails; the
supervisor, which serves ``/healthz`` and ``/readyz``, asks the database itself every
``EVERY_S`` on a connection of its own (the same ``dsn``: with
``target_session_attrs=read-write`` only a primary answers). A failed or late answer makes
both endpoints say ``journal: postgresql unreachable: <error>`` until an answer comes.

The question also writes (the node's ``probe:<receiver.id>`` row of ``shared_state``, the
time), so its ``COMMIT`` waits for the synchronous standbys exactly as the workers' do: when
none confirms (the standby is down and ``synchronous_standby_names`` still names it), the
workers ACK nothing, and the endpoints say ``journal: postgresql commits not confirmed
within 5 s`` instead of staying ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import psycopg
import structlog

from alarmrx.journal.errors import JournalError
from alarmrx.journal.postgres.schema import check_version
from alarmrx.journal.postgres.shared import PUT
from alarmrx.journal.postgres.writer import Conn, connect

log = structlog.get_logger("alarmrx.supervisor")

EVERY_S = 1.0
TIMEOUT_S = 5.0
_WRITABLE = "SELECT NOT pg_is_in_recovery()"


class DatabaseProbe:
    """``healthy`` and ``last_error``, as ``RemoteJournal`` has them for the SQLite writer."""

    def __init__(self, conninfo: str, node: str) -> None:
        self._conninfo = conninfo
        self._row = f"probe:{node}"
        self._conn: Conn | None = None
        self.healthy = False
        self.last_error: str | None = "not checked yet"

    async def check(self) -> None:
        """One question to the database; ``healthy`` says how it went."""
        try:
            fresh = self._conn is None
            if self._conn is None:  # libpq's connect_timeout, per host of the dsn
                self._conn = await connect(self._conninfo)
            async with asyncio.timeout(TIMEOUT_S):
                if fresh:
                    await check_version(self._conn)
                row = await (await self._conn.execute(_WRITABLE)).fetchone()
            if not (row and row[0]):
                raise JournalError("connected to a standby (read-only)")
        except (psycopg.Error, OSError, TimeoutError, JournalError) as err:
            await self._drop()
            self._report(f"unreachable: {str(err) or type(err).__name__}")
            return
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await self._conn.execute(PUT, (self._row, datetime.now(UTC).isoformat().encode()))
        except TimeoutError:
            await self._drop()
            self._report(f"commits not confirmed within {TIMEOUT_S:g} s")
            return
        except (psycopg.Error, OSError) as err:
            await self._drop()
            self._report(f"unreachable: {str(err) or type(err).__name__}")
            return
        self._report(None)

    async def run(self) -> None:
        """``check`` every ``EVERY_S`` until cancelled."""
        try:
            while True:
                await self.check()
                await asyncio.sleep(EVERY_S)
        finally:
            await self._drop()

    def _report(self, error: str | None) -> None:
        if error != self.last_error:
            if error is None:
                log.info("journal_reachable")
            else:
                log.error("journal_unreachable", error=error)
        self.healthy, self.last_error = error is None, error

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await conn.close()
