"""A receiver worker process: framing, parsing, decryption, records and the reply. Nothing else.

Every worker binds every listen address with ``SO_REUSEPORT``, so the kernel spreads new TCP
connections and UDP datagrams over the workers. Records go to the journal writer process
(``journal.remote``) and a frame is ACKed once the writer answered that it is durable; on
PostgreSQL each worker commits its own (``journals.py``) and ACKs once its COMMIT returned. Link
tests go to supervision over the link channel (``links``). A worker asks the rules nothing:
whether an account was in test mode, the readers of its records learn from the rules' own
``test.started`` and ``test.ended`` records (``rules/state.py``).

A worker that cannot reach the writer answers no frame, so it tells the supervisor each time
its connection to the writer is made or lost (``sdnotify.JOURNAL_CONNECTED``, ``JOURNAL_LOST``):
the supervisor counts it ready only while it is connected. The supervisor signals the workers
(``runtime.WRITER_BACK``) once a restarted writer is ready, and they connect at once instead of
at their next retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from alarmrx.config import AccountTable, ListenAddress, Settings
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability import sdnotify
from alarmrx.observability.clock import clock_status
from alarmrx.observability.metrics import Metrics
from alarmrx.observability.receiver import PrometheusReceiverMetrics
from alarmrx.processes.journals import open_journal
from alarmrx.processes.links import LinkSender
from alarmrx.processes.runtime import WRITER_BACK, Runtime
from alarmrx.receiver import FrameHandler, Receiver
from alarmrx.receiver.randomness import RandomPool

if TYPE_CHECKING:
    from alarmrx.journal.postgres import PostgresJournal

CLOCK_CHECK_S = 60.0
# How often the per-frame counters reach the metrics files /metrics reads (docs/operations.md,
# "Metrics"): a scrape may miss the frames of the last interval.
METRICS_FLUSH_S = 0.5
STOP_GRACE_S = 10.0


# The receiver's clock: aware UTC with microseconds. A partial rather than a function: it is
# read two or three times a frame, and a function adds an interpreter frame to each reading.
utc_now: Callable[[], datetime] = functools.partial(datetime.now, UTC)


def _tell_supervisor(connected: bool) -> None:
    sdnotify.notify(sdnotify.JOURNAL_CONNECTED if connected else sdnotify.JOURNAL_LOST)


class WorkerProcess:
    """Start, reload and stop, as ``child`` drives every role."""

    def __init__(
        self, settings: Settings, runtime: Runtime, index: int, listen: tuple[ListenAddress, ...]
    ) -> None:
        self.settings = settings
        self._runtime = runtime
        self._index = index
        self._listen = listen
        self._metrics = Metrics(CollectorRegistry())
        self._clock: dict[str, Any] = {"synchronised": None, "error_s": None}
        self._tasks: list[asyncio.Task[None]] = []
        self._journal: RemoteJournal | PostgresJournal | None = None
        self._receiver: Receiver | None = None
        self._links = LinkSender(runtime.links_socket, self._metrics.link_report_dropped)
        self._receiver_metrics = PrometheusReceiverMetrics(self._metrics, batched=True)

    async def start(self) -> None:
        settings = self.settings
        journal = await open_journal(
            settings,
            self._runtime,
            role=f"worker-{self._index}",
            metrics=self._metrics,
            subscribe=False,
            within_s=None,
            on_connection=_tell_supervisor,
        )
        self._journal = journal
        if isinstance(journal, RemoteJournal):
            asyncio.get_running_loop().add_signal_handler(WRITER_BACK, journal.reconnect_now)
        self._tasks.append(asyncio.create_task(self._clock_loop()))
        self._tasks.append(asyncio.create_task(self._flush_loop()))
        metrics = self._receiver_metrics
        handler = FrameHandler(
            settings=settings.receiver,
            accounts=AccountTable(settings),
            sink=journal,
            metrics=metrics,
            clock=utc_now,
            random_bytes=RandomPool(),  # built here, in the worker's own process
            clock_state=lambda: self._clock,
            reject_samples_per_minute=settings.journal.reject_samples_per_minute,
            on_link=self._links,
            log_events=settings.logging.events,
        )
        self._receiver = Receiver(handler, metrics, utc_now, reuse_port=True)
        await self._receiver.start(self._listen)

    def reload(self, settings: Settings) -> None:
        """New accounts and keys for the next frame; open connections stay up."""
        self.settings = settings
        if self._receiver is not None:
            self._receiver.reload(settings.receiver, AccountTable(settings))

    async def _clock_loop(self) -> None:
        while True:
            status = clock_status()
            self._clock = {
                "synchronised": status.synchronised,
                "error_s": status.estimated_error_s,
            }
            await asyncio.sleep(CLOCK_CHECK_S)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(METRICS_FLUSH_S)
            self._receiver_metrics.flush()

    async def stop(self) -> None:
        """Stop accepting, let in-flight commits answer, then close."""
        if self._receiver is not None:
            await self._receiver.stop(STOP_GRACE_S)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._receiver_metrics.flush()
        if self._journal is not None:
            await self._journal.close()
        self._links.close()
