"""Where the processes of one daemon meet: sockets in one private runtime directory.

Under systemd, ``RuntimeDirectory=alarmrx`` gives ``$RUNTIME_DIRECTORY``; otherwise the
supervisor makes a temporary directory (mode 0700) and removes it when it stops.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

RUNTIME_ENV = "ALARMRX_RUNTIME_DIR"
# The supervisor to the receiver workers: the restarted journal writer is ready, connect now.
WRITER_BACK = signal.SIGUSR1


@dataclass(frozen=True, slots=True)
class Runtime:
    """The paths in one daemon's runtime directory."""

    directory: Path

    @classmethod
    def from_env(cls) -> Runtime:
        """In a child: the directory the supervisor named."""
        return cls(Path(os.environ[RUNTIME_ENV]))

    @property
    def writer_socket(self) -> Path:
        """The journal writer's ``ipc`` socket."""
        return self.directory / "writer.sock"

    @property
    def links_socket(self) -> Path:
        """Datagrams of link tests, workers to the consumers process."""
        return self.directory / "links.sock"

    def notify_socket(self, name: str) -> Path:
        """A child's ``sd_notify`` socket, read by the supervisor."""
        return self.directory / f"notify-{name}.sock"

    @property
    def metrics_directory(self) -> Path:
        """``PROMETHEUS_MULTIPROC_DIR``: every child's metric values."""
        return self.directory / "metrics"
