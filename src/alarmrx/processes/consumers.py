"""The consumers process: the rules, the MQTT publisher, the control socket, anchors and
retention, each tailing the journal with its own cursor through ``journal.remote``.

The rules and the publisher share one process because the MQTT command topic and the control
socket hand commands to the rules directly; each still reads at its own pace. It is
``app.Daemon`` without the receiver and without the metrics endpoint (the supervisor serves
``/metrics`` for every process): link tests arrive over the link channel. Nothing goes back to
the workers: the rules' conclusions, test mode included, are journal records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Coroutine
from typing import Any

from alarmrx.app import Daemon
from alarmrx.config import ListenAddress, Settings
from alarmrx.journal import Journal
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability.http import MetricsServer
from alarmrx.processes.links import bind_datagrams, receive_links
from alarmrx.processes.runtime import WRITER_BACK, Runtime
from alarmrx.receiver import Receiver

YOUNG_OBJECTS = 10_000  # the collector's first threshold in this process (Python's is 700)
# Added to the process's nice value: when the cores are busy, the panels' path (workers,
# writer) runs first and the consumers catch up in the slack; they answer no panel, and each
# tails the journal at its own pace (docs/architecture.md, "Processes").
NICENESS = 10


class ConsumersDaemon(Daemon):
    """``Daemon`` reading and writing the journal through the writer process."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        listen: tuple[ListenAddress, ...],
    ) -> None:
        super().__init__(settings)
        self._runtime = runtime
        self._listen = listen
        self._links = bind_datagrams(runtime.links_socket)  # before READY=1: none is lost

    @property
    def listeners(self) -> list[str]:
        """The workers' addresses (the supervisor bound them), as host:port."""
        return [
            f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}" for a in self._listen
        ]

    async def _open_journal(self) -> Journal | RemoteJournal:
        journal = await RemoteJournal.connect(
            self.settings.journal.path, self._runtime.writer_socket, records=True
        )
        # the supervisor says when a restarted writer is ready: connect then, not at the retry
        asyncio.get_running_loop().add_signal_handler(WRITER_BACK, journal.reconnect_now)
        return journal

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
        ]

    async def run(self) -> int:
        os.nice(NICENESS)
        # What start-up built (modules, settings, plans) lives as long as the process: kept
        # out of the collector's full passes, which would otherwise walk it again and again.
        gc.freeze()
        # Nearly everything a record allocates is freed by reference counting within its
        # step; a young generation collected every ``YOUNG_OBJECTS`` allocations rather than
        # every 700 walks the few survivors (the state kept) far less often.
        gc.set_threshold(YOUNG_OBJECTS)
        try:
            return await super().run()
        finally:
            with contextlib.suppress(OSError):
                self._links.close()
