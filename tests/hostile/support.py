"""What the hostile battery needs around ``tests.daemon``: the scale (CI or full), the HTTP
endpoint, metrics, the daemon's memory and log lines, and a well-behaved panel to time.

``ALARMRX_HOSTILE=full`` runs the counts the issue names; CI runs smaller ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.daemon import Daemon, children, frame, read_reply

FULL = os.environ.get("ALARMRX_HOSTILE") == "full"


def scale(ci: int, full: int) -> int:
    """``ci`` normally, ``full`` under ``ALARMRX_HOSTILE=full``."""
    return full if FULL else ci


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of ``GET http://127.0.0.1:port/path``."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metric(daemon: Daemon, name: str, **labels: str) -> float:
    """The value of one sample on ``/metrics`` (0.0 when absent)."""
    _status, text = http_get(daemon.metrics_port, "/metrics")
    return sample(text, name, **labels)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of ``name{labels}`` in a Prometheus text exposition (0.0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text exposition."""
    return sum(
        float(found.value)
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name
    )


def rss_kib(pid: int) -> int:
    """The resident set of a process and its children (the daemon's supervisor, writer,
    consumers and workers), from ``/proc/<pid>/status``."""
    return sum(_own_rss_kib(p) for p in (pid, *children(pid)))


def _own_rss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0  # exited meanwhile
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None, text
    return int(match[1])


def log_events(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon's JSON log lines, decoded (other lines are skipped)."""
    events = []
    for line in daemon.log().splitlines():
        with contextlib.suppress(ValueError):
            decoded = json.loads(line)
            if isinstance(decoded, dict):
                events.append(decoded)
    return events


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 50 ms; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def raise_open_files(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (the daemon child inherits it); the soft limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def connect_from(source: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to the daemon from the loopback address ``source`` (127.x.y.z), so
    per-peer limits count it apart from the well-behaved panel on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def journal_query(config: Path) -> str:
    """``alarmrx journal query --config`` output (JSON lines)."""
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "journal", "query", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@dataclass
class Panel:
    """A well-behaved panel: one frame every ``interval_s`` on a persistent connection from
    127.0.0.1, each ACK timed. Runs in a thread until ``stop``."""

    port: int
    account: str = "1234"
    interval_s: float = 0.1
    latencies: list[float] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)  # time.monotonic() of each ACK
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Panel:
        self._thread = threading.Thread(target=self._run, name="panel", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                for n in range(1, 1_000_000):
                    if self._stop.wait(self.interval_s):
                        return
                    self._exchange(sock, n)
        except OSError as err:  # a dead connection is a failure, not a quiet end
            self.failures.append(f"connection: {err!r}")

    def _exchange(self, sock: socket.socket, n: int) -> None:
        data = frame(
            self.account, f"#{self.account}|Nri1/BA{n % 999 + 1:03d}", sequence=n % 9999 + 1
        )
        started = time.monotonic()
        sock.sendall(data)
        reply = read_reply(sock)
        now = time.monotonic()
        self.latencies.append(now - started)
        self.acked_at.append(now)
        if b'"ACK"' not in reply:
            self.failures.append(f"frame {n}: {reply!r}")


@contextlib.contextmanager
def panel_running(port: int, **options: Any) -> Iterator[Panel]:
    """A ``Panel`` for the duration of the block."""
    panel = Panel(port, **options).start()
    try:
        yield panel
    finally:
        panel.stop()
