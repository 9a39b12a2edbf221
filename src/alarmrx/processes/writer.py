"""The journal writer process: the one read-write connection, served to the other processes.

It owns the ``Journal`` (group commit, fsync, the hash chain, the dedupe index) and answers
appends from every receiver worker and from the consumers over ``journal.ipc``. Nothing else
runs here, so a slow consumer or a busy worker never delays a commit.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alarmrx.config import Settings
from alarmrx.journal import Journal
from alarmrx.journal.ipc import Head
from alarmrx.journal.service import JournalService
from alarmrx.observability.metrics import Metrics
from alarmrx.processes.runtime import Runtime


class WriterProcess:
    """Start, reload and stop, as ``child`` drives every role."""

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self._runtime = runtime
        self._metrics = Metrics(CollectorRegistry())
        self._journal: Journal | None = None
        self._service: JournalService | None = None

    async def start(self) -> None:
        journal_settings = self.settings.journal
        journal = await Journal.open(
            journal_settings.path,
            fsync=journal_settings.fsync,
            dedupe_window_s=journal_settings.dedupe_window_s,
            metrics=self._metrics,
        )
        self._journal = journal
        self._metrics.journal_last_seq.set(journal.last_seq)
        self._service = JournalService(
            journal, self._runtime.writer_socket, on_head=self._head_moved
        )
        await self._service.start()

    def _head_moved(self, head: Head) -> None:
        """``alarmrx_journal_last_seq`` from this process, where the head moves: set with
        the head the subscribers are told, once per turn of the loop (no task per commit)."""
        self._metrics.journal_last_seq.set(head.journal_seq)

    def reload(self, settings: Settings) -> None:
        """The journal's settings take effect on restart; nothing to swap here."""
        self.settings = settings

    async def stop(self) -> None:
        """Answer what is queued, then close the socket and the journal."""
        if self._service is not None:
            await self._service.close()
        if self._journal is not None:
            await self._journal.close()
