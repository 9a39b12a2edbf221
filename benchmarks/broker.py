"""A mosquitto broker for the end-to-end run: own config, loopback, a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

BINARY_PATHS = ("/usr/sbin/mosquitto", "mosquitto")
START_TIMEOUT = 10.0


class BrokerError(RuntimeError):
    """mosquitto is missing or did not start."""


def find_mosquitto() -> Path | None:
    """The broker binary, or None when it is not installed."""
    for name in BINARY_PATHS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


class Broker:
    """One mosquitto process, started on enter and stopped on exit."""

    def __init__(self, directory: Path, port: int) -> None:
        binary = find_mosquitto()
        if binary is None:
            msg = "mosquitto is not installed (apt-get install mosquitto)"
            raise BrokerError(msg)
        self.binary, self.directory, self.port = binary, directory, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL alarmrx's ``[mqtt] url`` takes."""
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> Broker:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nmax_queued_messages 1000000\n",
            encoding="utf-8",
        )
        with (self.directory / "mosquitto.log").open("wb") as log:
            self.process = subprocess.Popen([self.binary, "-c", config], stdout=log, stderr=log)
        self._wait_accepting()
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.02)
                continue
            return
        msg = f"mosquitto did not listen on port {self.port} within {START_TIMEOUT:.0f} s"
        raise BrokerError(msg)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
