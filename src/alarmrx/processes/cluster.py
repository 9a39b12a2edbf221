"""The consumers process of a node on a PostgreSQL journal shared with other nodes.

Every node runs it; one at a time is active (``journal.postgres.election``): that one runs
the rules, the MQTT publisher and the anchorer, each from its cursor in PostgreSQL, and the
others stand by. A standby that wins the lock builds a fresh rules engine from the journal
(start-up pass 2 drops what the previous holder already concluded: docs/rules.md), so a
takeover never doubles a derived record. Losing the lock's connection stops the active part
at once; it starts again, rebuilt, when the lock is won again.

Whatever its role, the process passes its workers' link tests on (``shared.py``: one upsert
a second), and hands its workers the accounts in test mode: the active one publishes them in
``shared_state``, a standby reads them from there. It tells the supervisor its role as
``STATUS=consumers active`` or ``STATUS=consumers standby`` (``/readyz`` shows it) and sets
``alarmrx_consumers_active``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
import structlog

from alarmrx.app import utc_now
from alarmrx.config import ListenAddress, Settings
from alarmrx.journal import Journal
from alarmrx.journal.errors import JournalError
from alarmrx.journal.postgres.election import Election, lock_conninfo
from alarmrx.journal.postgres.shared import LinkTest, SharedTables
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability import sdnotify
from alarmrx.processes.consumers import ConsumersDaemon
from alarmrx.processes.journals import open_journal, postgres_conninfo
from alarmrx.processes.links import RESEND_S, TestSessions, receive_links
from alarmrx.processes.runtime import Runtime

log = structlog.get_logger("alarmrx.consumers")

SHARE_S = 1.0  # link tests written, read, and the test-mode sessions read, this often
SESSIONS = "test_sessions"
STANDBY_REPLY = "this node's consumers are on standby: send commands to the active node"
Sessions = dict[str, tuple[datetime, datetime]]
_encoder = msgspec.msgpack.Encoder()
_sessions_decoder = msgspec.msgpack.Decoder(TestSessions)
_SHARED_ERRORS = (psycopg.Error, OSError, JournalError)


class ClusterConsumers(ConsumersDaemon):
    """``ConsumersDaemon`` whose rules and publisher run only while this node holds the lock."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        workers: int,
        listen: tuple[ListenAddress, ...],
    ) -> None:
        super().__init__(settings, runtime, workers, listen)
        takeover_s = settings.journal.takeover_s
        lock = lock_conninfo(
            postgres_conninfo(settings, "consumers"), takeover_s, _name(settings, "lock")
        )
        self._election = Election(lock, takeover_s=takeover_s, on_change=self._on_change)
        self._shared_tables = SharedTables(postgres_conninfo(settings, "shared"))
        self._held = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._active_since: datetime | None = None
        self._unsent: dict[tuple[str, str, str, str], LinkTest] = {}
        self._seen: dict[tuple[str, str, str, str], datetime] = {}
        self._in_test: Sessions = {}

    @property
    def active(self) -> bool:
        return self._election.held

    async def _open_journal(self) -> Journal | RemoteJournal:
        # ``PostgresJournal`` has the interface ``Daemon``'s parts use (docs/journal.md).
        return await open_journal(  # type: ignore[return-value]
            self.settings, self._runtime, role="consumers", metrics=self.metrics
        )

    # -- the lock ------------------------------------------------------------------------

    def _on_change(self, held: bool) -> None:
        (self._held.set if held else self._held.clear)()
        (self._released.clear if held else self._released.set)()
        self.metrics.consumers_active.set(1 if held else 0)
        role = "active" if held else "standby"
        sdnotify.notify(f"STATUS=consumers {role}")
        log.info(f"consumers_{role}", node=self.settings.receiver.id)

    async def _run_tasks(self, journal: Journal | RemoteJournal) -> None:
        """The parts every node runs, and the active part whenever the lock is held."""
        self._on_change(held=False)
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(task()) for task in self._always()]
            while not self._stop.is_set():
                if await self._first(self._held.wait()):
                    await self._hold(journal)
            for task in running:
                task.cancel()
        await self._shared_tables.close()

    def _always(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [
            self._watchdog,
            self._clock_loop,
            self._election.run,
            lambda: receive_links(self._links, self._link_heard),
            self._write_links,
            self._share_sessions,
        ]

    async def _first(self, awaitable: Coroutine[Any, Any, Any]) -> bool:
        """Wait for ``awaitable`` or the stop; True when it came first."""
        waited = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait({waited, stop}, return_when=asyncio.FIRST_COMPLETED)
        for future in (waited, stop):
            future.cancel()
        return waited in done and not self._stop.is_set()

    async def _hold(self, journal: Journal | RemoteJournal) -> None:
        """Run the active part until the lock is lost or the daemon stops; a part that
        fails by itself ends the process (the supervisor restarts it, the lock goes)."""
        active = asyncio.create_task(self._active(journal))
        released = asyncio.ensure_future(self._released.wait())
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({active, released, stop}, return_when=asyncio.FIRST_COMPLETED)
        released.cancel()
        stop.cancel()
        if active.done():
            active.result()
        active.cancel()
        try:
            await active
        except asyncio.CancelledError:
            pass
        except Exception as err:  # noqa: BLE001 - stopping after the lock went: log, go on
            log.warning("consumers_stop_failed", error=repr(err))

    async def _active(self, journal: Journal | RemoteJournal) -> None:
        self._build_consumers(journal)
        self._active_since = utc_now()
        self._seen = {}
        tasks = [self._rules.run, self._anchorer.run, self._read_links]
        publisher = self._build_publisher(journal)
        if publisher is not None:
            tasks.append(publisher.run)
        async with asyncio.TaskGroup() as group:
            for task in tasks:
                group.create_task(task())

    async def command(self, cmd: object) -> dict[str, Any]:
        """Commands go to the active node's rules; a standby refuses them."""
        if not self.active:
            return {"ok": False, "error": STANDBY_REPLY}
        return await super().command(cmd)

    # -- link tests across nodes -------------------------------------------------------

    def _link_heard(  # noqa: PLR0917 - links.LinkObserver calls it positionally
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str,
        peer: str,
        at: datetime,
    ) -> None:
        """A frame a worker of this node accepted: to the table, and to the rules here
        when they run here."""
        link = LinkTest(account, receiver or "", line or "", transport, self._node, peer, at)
        self._unsent[link.path] = link
        if self.active:
            self._rules.observe_link(account, receiver, line, transport, peer, at)

    @property
    def _node(self) -> str:
        return self.settings.receiver.id

    async def _write_links(self) -> None:
        while True:
            await asyncio.sleep(SHARE_S)
            batch, self._unsent = self._unsent, {}
            try:
                await self._shared_tables.put_links(list(batch.values()))
            except _SHARED_ERRORS as err:
                log.warning("link_tests_not_shared", links=len(batch), error=str(err))
                self._unsent = {**batch, **self._unsent}

    async def _read_links(self) -> None:
        """The other nodes' link tests, each path's newer than what was fed, to the rules."""
        since: datetime | None = None
        while True:
            try:
                links, since = await self._shared_tables.links_since(since, self._node)
            except _SHARED_ERRORS as err:
                log.warning("link_tests_not_read", error=str(err))
            else:
                self._feed(links)
            await asyncio.sleep(SHARE_S)

    def _feed(self, links: list[LinkTest]) -> None:
        start = self._active_since or datetime.now(UTC)
        for link in links:
            if link.heard_at <= self._seen.get(link.path, start):
                continue
            self._seen[link.path] = link.heard_at
            self._rules.observe_link(
                link.account,
                link.receiver or None,
                link.line or None,
                link.transport,
                link.peer,
                link.heard_at,
            )

    # -- test mode, for every node's workers ---------------------------------------------

    async def _share_sessions(self) -> None:
        """Active: the rules' sessions, published when they change. Standby: the
        published ones, read every ``SHARE_S``. Either way to this node's workers when
        they change and every ``RESEND_S``."""
        loop = asyncio.get_running_loop()
        sent = read = loop.time() - RESEND_S
        while True:
            if not self.active and loop.time() - read >= SHARE_S:
                read = loop.time()
                await self._read_sessions()
            if self._share(force=loop.time() - sent >= RESEND_S):
                sent = loop.time()
            await asyncio.sleep(0.1)

    def _share(self, *, force: bool) -> bool:
        if self.active and self._rules.ready:
            self._in_test = {
                account: (session.started_at, session.until)
                for account, session in self._rules.engine.test_mode.sessions().items()
            }
        sessions = self._in_test
        if not force and sessions == self._shared:
            return False
        changed = sessions != self._shared
        self._shared = sessions
        self._sessions.send(sessions)
        if changed and self.active:
            asyncio.get_running_loop().create_task(self._publish_sessions(sessions))
        return True

    async def _publish_sessions(self, sessions: Sessions) -> None:
        try:
            await self._shared_tables.put(SESSIONS, _encoder.encode(TestSessions(sessions)))
        except _SHARED_ERRORS as err:
            log.warning("test_sessions_not_shared", error=str(err))
            self._shared = None  # try again on the next turn

    async def _read_sessions(self) -> None:
        try:
            value = await self._shared_tables.get(SESSIONS)
        except _SHARED_ERRORS as err:
            log.warning("test_sessions_not_read", error=str(err))
            return
        if value is not None:
            with contextlib.suppress(msgspec.DecodeError):
                self._in_test = _sessions_decoder.decode(value).sessions


def _name(settings: Settings, role: str) -> str:
    return f"alarmrx-{settings.receiver.id}-{role}"
