"""Which node runs the consumers: the one whose session holds an advisory lock.

Every node's consumers process keeps a connection of its own for this and nothing else. A
standby tries ``pg_try_advisory_lock`` every ``retry_s``; the holder asks its session
``SELECT 1`` as often. The lock is PostgreSQL's two-key form, whose keys never meet the
one-key lock ``alarmrx journal migrate`` takes.

When the holder's node dies, its session ends and the lock is free: at once when the kernel
closed the socket (a killed process), else once the server's TCP keepalives, set on this
connection from ``takeover_s``, gave the peer up (after about ``SERVER_SHARE`` of it). The
holder gives up sooner: when no probe answered for ``LEASE_SHARE`` of ``takeover_s``, it
stops consuming and drops the connection, so it has stopped before another node can win.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from alarmrx.journal.postgres.writer import Conn, connect

log = structlog.get_logger("alarmrx.election")

_TRY = "SELECT pg_try_advisory_lock(hashtext('alarmrx'), hashtext('consumers'))"
_PROBE = "SELECT 1"
LEASE_SHARE = 0.4  # of takeover_s: the holder steps down after this long without an answer
SERVER_SHARE = 0.6  # of takeover_s: the server gives a silent holder up after about this
CLOSE_S = 1.0


def lock_conninfo(conninfo: str, takeover_s: float, application_name: str) -> str:
    """``conninfo`` for the lock's connection: the server's keepalives and
    ``tcp_user_timeout`` (settable per session) sized from ``takeover_s``."""
    given = conninfo_to_dict(conninfo)
    silent_s = takeover_s * SERVER_SHARE  # idle, then one probe a second, then given up
    idle = max(1, math.floor(silent_s / 2))
    probes = max(1, math.floor(silent_s - idle))
    server = (
        f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval=1 "
        f"-c tcp_keepalives_count={probes} -c tcp_user_timeout={int(silent_s * 1000)}"
    )
    options = f"{given['options']} {server}" if given.get("options") else server
    return make_conninfo(conninfo, options=options, application_name=application_name)


class Election:
    """Holds the lock when it can; ``on_change(True/False)`` when that changes."""

    def __init__(
        self, conninfo: str, *, takeover_s: float, on_change: Callable[[bool], None]
    ) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self.retry_s = min(1.0, takeover_s / 4)
        self._lease_s = takeover_s * LEASE_SHARE
        self.held = False
        self.last_error: str | None = None

    async def run(self) -> None:
        """Until cancelled: connect, try or probe every ``retry_s``; on any failure step
        down, drop the connection and start again."""
        try:
            while True:
                await self._session()
                await asyncio.sleep(self.retry_s)
        finally:
            self._set(held=False)

    async def _session(self) -> None:
        """One connection: a turn every ``retry_s``; the holder's must answer within
        ``LEASE_SHARE`` of ``takeover_s`` of the last answer."""
        loop = asyncio.get_running_loop()
        conn: Conn | None = None
        try:
            conn = await connect(self._conninfo)  # libpq's connect_timeout, per host
            answered = loop.time()
            while True:
                deadline = answered + self._lease_s if self.held else loop.time() + self._lease_s
                async with asyncio.timeout_at(deadline):
                    await self._turn(conn)
                answered = loop.time()
                self.last_error = None
                await asyncio.sleep(self.retry_s)
        except (psycopg.Error, OSError, TimeoutError) as err:
            self.last_error = str(err) or type(err).__name__
            if self.held:
                log.error("consumers_lock_lost", error=self.last_error)
            self._set(held=False)
        finally:
            if conn is not None:
                await _close(conn)

    async def _turn(self, conn: Conn) -> None:
        if self.held:
            await conn.execute(_PROBE)
            return
        row = await (await conn.execute(_TRY)).fetchone()
        if row is not None and row[0]:
            self._set(held=True)

    def _set(self, *, held: bool) -> None:
        if held != self.held:
            self.held = held
            self._on_change(held)


async def _close(conn: Conn) -> None:
    """Close without waiting long on a server that does not answer."""
    with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_S):
            await conn.close()
