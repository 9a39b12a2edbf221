"""What the nodes share outside the chains: link tests and the active consumers' state.

Link tests are not journaled one by one (docs/rules.md), yet the active rules must hear the
panels that report to any node. Each node's consumers process keeps the last link test of
every account and path its workers heard and writes them in one upsert a second into
``link_tests``; the active one reads what the other nodes wrote since its last read.
``shared_state`` holds small named values the active consumers publish for every node (the
accounts in test mode, which every node's workers need to flag records ``test``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alarmrx.journal.postgres.schema import SCHEMA, check_version
from alarmrx.journal.postgres.writer import Conn, connect

# Rows committed just before a read may carry an ``updated_at`` a little older than that
# read's clock: each read looks back this far, and a row already seen is skipped.
OVERLAP = timedelta(seconds=5)

_UPSERT_LINKS = (
    f"INSERT INTO {SCHEMA}.link_tests AS l "
    "(account, receiver, line, transport, node, peer, heard_at) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::timestamptz[]) ORDER BY 1, 2, 3, 4 "
    "ON CONFLICT (account, receiver, line, transport) DO UPDATE SET node = excluded.node, "
    "peer = excluded.peer, heard_at = excluded.heard_at, updated_at = clock_timestamp() "
    "WHERE excluded.heard_at > l.heard_at"
)
_LINKS_SINCE = (
    "SELECT account, receiver, line, transport, node, peer, heard_at "
    f"FROM {SCHEMA}.link_tests WHERE updated_at > %s AND node <> %s"
)
_NOW = "SELECT clock_timestamp()"
PUT = (  # a named value, stored or replaced
    f"INSERT INTO {SCHEMA}.shared_state (name, value) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = clock_timestamp()"
)
_GET = f"SELECT value FROM {SCHEMA}.shared_state WHERE name = %s"
_CLAIM = (
    f"INSERT INTO {SCHEMA}.shared_state (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class LinkTest:
    """The last frame heard from one account on one path (``""`` for an absent field)."""

    account: str
    receiver: str
    line: str
    transport: str
    node: str
    peer: str
    heard_at: datetime

    @property
    def path(self) -> tuple[str, str, str, str]:
        return (self.account, self.receiver, self.line, self.transport)


class SharedTables:
    """One connection (autocommit, reopened after a failure) for the shared tables; every
    method raises ``psycopg.Error`` or ``OSError`` when the database cannot be reached."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()

    async def put_links(self, links: Sequence[LinkTest]) -> None:
        """Upsert each path's link test, unless a later one is stored."""
        if links:
            columns = [list(c) for c in zip(*(_link_row(link) for link in links), strict=True)]
            await self._execute(_UPSERT_LINKS, tuple(columns))

    async def links_since(
        self, since: datetime | None, node: str
    ) -> tuple[list[LinkTest], datetime]:
        """The link tests other nodes wrote after about ``since`` (all when None), and the
        database's clock to pass as ``since`` next time (``OVERLAP`` earlier)."""
        rows = await self._execute(_NOW, ())
        now = rows[0][0]
        start = since - OVERLAP if since is not None else datetime.min.replace(tzinfo=now.tzinfo)
        found = await self._execute(_LINKS_SINCE, (start, node))
        return [LinkTest(*row) for row in found], now

    async def put(self, name: str, value: bytes) -> None:
        await self._execute(PUT, (name, value))

    async def get(self, name: str) -> bytes | None:
        rows = await self._execute(_GET, (name,))
        return bytes(rows[0][0]) if rows else None

    async def claim(self, name: str, value: bytes) -> bytes:
        """``value`` stored under ``name`` unless one is already: the stored one."""
        await self._execute(_CLAIM, (name, value))
        stored = await self.get(name)
        return value if stored is None else stored

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _execute(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._lock:
            try:
                if self._conn is None:
                    self._conn = await connect(self._conninfo)
                    await check_version(self._conn)
                cur = await self._conn.execute(query, params)
                return await cur.fetchall() if cur.description is not None else []
            except (psycopg.Error, OSError):
                await self._drop()
                raise

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()


def _link_row(link: LinkTest) -> tuple[Any, ...]:
    return (
        link.account,
        link.receiver,
        link.line,
        link.transport,
        link.node,
        link.peer,
        link.heard_at,
    )
