"""The consumers process: the rules, the MQTT publisher, the control socket, anchors and
retention, each tailing the journal with its own cursor through ``journal.remote``.

The rules and the publisher share one process because the MQTT command topic and the control
socket hand commands to the rules directly; each still reads at its own pace. It is
``app.Daemon`` without the receiver and without the metrics endpoint (the supervisor serves
``/metrics`` for every process): link tests arrive over the link channel, and the accounts in
test mode go to every worker whenever they change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from alarmrx.app import Daemon
from alarmrx.config import ListenAddress, Settings
from alarmrx.journal import Journal
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability.http import MetricsServer
from alarmrx.processes.links import (
    RESEND_S,
    SessionsSender,
    bind_datagrams,
    receive_links,
)
from alarmrx.processes.runtime import Runtime
from alarmrx.receiver import Receiver

SESSIONS_CHECK_S = 0.1


class ConsumersDaemon(Daemon):
    """``Daemon`` reading and writing the journal through the writer process."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        workers: int,
        listen: tuple[ListenAddress, ...],
    ) -> None:
        super().__init__(settings)
        self._runtime = runtime
        self._listen = listen
        self._sessions = SessionsSender(runtime.worker_socket(i) for i in range(workers))
        self._shared: dict[str, tuple[datetime, datetime]] | None = None
        self._links = bind_datagrams(runtime.links_socket)  # before READY=1: none is lost

    @property
    def listeners(self) -> list[str]:
        """The workers' addresses (the supervisor bound them), as host:port."""
        return [
            f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}" for a in self._listen
        ]

    async def _open_journal(self) -> Journal | RemoteJournal:
        return await RemoteJournal.connect(self.settings.journal.path, self._runtime.writer_socket)

    async def _start_receiving(self, journal: Journal | RemoteJournal) -> Receiver | None:
        return None

    async def _start_http(self) -> MetricsServer | None:
        return None

    def _tasks(
        self, journal: Journal | RemoteJournal
    ) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [
            *super()._tasks(journal),
            lambda: receive_links(self._links, self._rules.observe_link),
            self._share_sessions,
        ]

    async def command(self, cmd: object) -> dict[str, Any]:
        """A command, answered once the rules folded it, so that the workers already know
        an account put in test mode when the operator hears back."""
        reply = await super().command(cmd)
        seq = reply.get("journal_seq")
        if reply.get("ok") and isinstance(seq, int) and await self._rules.folded(seq):
            self._share(force=True)
        return reply

    async def _share_sessions(self) -> None:
        """The sessions to the workers when they change, and every ``RESEND_S`` (a worker
        that restarted learns them then)."""
        loop = asyncio.get_running_loop()
        sent = loop.time()
        while True:
            force = loop.time() - sent >= RESEND_S
            if self._share(force=force):
                sent = loop.time()
            await asyncio.sleep(SESSIONS_CHECK_S)

    def _share(self, *, force: bool) -> bool:
        sessions = {
            account: (session.started_at, session.until)
            for account, session in self._rules.engine.test_mode.sessions().items()
        }
        if not force and sessions == self._shared:
            return False
        self._shared = sessions
        self._sessions.send(sessions)
        return True

    async def run(self) -> int:
        try:
            return await super().run()
        finally:
            with contextlib.suppress(OSError):
                self._sessions.close()
                self._links.close()
