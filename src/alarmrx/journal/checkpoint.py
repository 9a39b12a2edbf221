"""Moving the WAL into journal.db beside the writer thread, off its commit path.

The writer's connection has SQLite's automatic checkpoint off: it would run inside a COMMIT,
copying pages and syncing journal.db before that batch's callers are answered. This thread
checkpoints instead, a moment after commits, on a connection of its own: a PASSIVE
checkpoint, which never blocks the writer, and whose copying and sync run in SQLite's C code
while the writer thread goes on (WAL mode allows a checkpointer beside the one writer).

SQLite starts the WAL file afresh, rather than growing it, only once every frame in it has
been copied; beside a busy writer a PASSIVE checkpoint always leaves the last commits behind.
So once the WAL has passed ``RESTART_FRAMES`` pages (``due``), the writer thread copies what
is left itself between two batches, after answering the first (``Writer``): the next commit
then writes the WAL from its start again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import structlog

from alarmrx.journal.schema import BUSY_TIMEOUT_MS

log = structlog.get_logger("alarmrx.journal.checkpoint")

# After a commit, the checkpoint waits this long for more commits to share it. Short, so that
# each copy and its sync are short: a commit's WAL sync waits for whatever the disk is still
# writing (docs/performance.md, "Checkpoints every 0.1 s").
DELAY_S = 0.1
RESTART_FRAMES = 5000  # pages (of 4 KiB by default) the WAL may reach before it is restarted

PASSIVE = "PRAGMA wal_checkpoint(PASSIVE)"


class Checkpointer:
    """The checkpoint thread of one writer: ``committed`` after each commit; ``stop``, then
    ``release``, at the end.

    ``lock`` is held by whichever thread is checkpointing, so the two never get in each
    other's way; ``due`` is set here and cleared by the writer once it restarted the WAL.
    """

    def __init__(self, path: Path, *, fsync: bool) -> None:
        self._path, self._fsync = path, fsync
        self.lock = threading.Lock()
        self.due = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._database: int | None = None  # journal.db, kept open: see ``_sync_database``
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        """Writer thread: a commit added frames to the WAL."""
        self._wake.set()

    def stop(self) -> None:
        """Finish a checkpoint under way, close the connection and end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def release(self) -> None:
        """After ``stop``, once the writer's connection is closed: close the descriptor
        ``_sync_database`` kept (closing it earlier would drop the writer's locks)."""
        database, self._database = self._database, None
        if database is not None:
            os.close(database)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()  # before ``_stopping`` is looked at: a ``stop`` is never lost
            if self._stopping.wait(DELAY_S):
                break
            self._checkpoint()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _checkpoint(self) -> None:
        with self.lock:
            try:
                conn = self._conn if self._conn is not None else self._connect()
                _, frames, copied = conn.execute(PASSIVE).fetchone()
                if copied and self._fsync:
                    self._sync_database()
            except (sqlite3.Error, OSError) as err:
                # The writer's own checkpoint (``due``) keeps the WAL bounded meanwhile.
                log.warning("journal_checkpoint_failed", error=str(err))
                self._close()
                self.due = True
                return
        if frames >= RESTART_FRAMES:
            self.due = True

    def _sync_database(self) -> None:
        """Sync the pages a PASSIVE checkpoint copied into journal.db.

        SQLite syncs journal.db only after a checkpoint that copied the whole WAL, which
        beside a busy writer is the writer's own (``Writer``): that sync would then write out
        everything this thread copied since, with the writer's batches waiting on it. Synced
        here, it is left the last few pages. The descriptor stays open until ``release``:
        closing any descriptor of a file drops the process's POSIX locks on it, SQLite's
        included.
        """
        if self._database is None:
            self._database = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        os.fdatasync(self._database)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        # The checkpointing connection's setting decides whether journal.db is synced.
        conn.execute(f"PRAGMA synchronous = {'FULL' if self._fsync else 'OFF'}")
        self._conn = conn
        return conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
