"""The daemon as a subprocess for integration tests: a config in a temporary directory, a
NOTIFY_SOCKET to learn when it is READY and which ports it bound, and frames to send it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from alarmrx.protocols import FrameHeader, encode_message, parse_key

READY_TIMEOUT_S = 20.0
_BOUND = re.compile(r"dc09=(?P<host>[^ ,]+):(?P<port>\d+)")
_METRICS = re.compile(r"metrics=(?P<host>[^ ,]+):(?P<port>\d+)")
_WORKERS = re.compile(r"workers=(?P<count>\d+)")


def write_config(
    directory: Path,
    *,
    accounts: Iterable[str] = (),
    receiver: str = "",
    journal: str = "",
    mqtt: str | None = None,
    extra: str = "",
    journal_path: Path | None = None,
    log_level: str = "debug",
    shipped_limits: bool = False,
    logging: str = "",
    receiver_id: str = "rx-test",
) -> Path:
    """A config listening on a kernel-chosen port, metrics on another, journal in ``directory``
    (or at ``journal_path``), logging at ``log_level`` (more ``[logging]`` keys in ``logging``).

    Load tests send many frames on one connection, so the per-connection rate limit is
    lifted unless ``receiver`` sets it or ``shipped_limits`` asks for the defaults."""
    if "connection_rate" not in receiver and not shipped_limits:
        receiver += "\nconnection_rate = 1000000.0\nconnection_burst = 1000000"
    text = f"""
[receiver]
id = "{receiver_id}"
listen = ["127.0.0.1:0"]
{receiver}

[journal]
path = "{journal_path or directory / "journal.db"}"
{journal}

[metrics]
listen = "127.0.0.1:0"

[logging]
format = "json"
level = "{log_level}"
{logging}
"""
    if mqtt is not None:
        text += f"\n[mqtt]\n{mqtt}\n"
    text += "".join(f"\n[[accounts]]\n{a}\n" for a in accounts) + extra
    path = directory / "alarmrx.toml"
    path.write_text(text)
    return path


class Daemon:
    """``alarmrx run --config`` as a child process."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.directory = config.parent
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.metrics_port = 0
        self.workers = 0
        self.notifications: list[str] = []
        self.log_path = self.directory / "daemon.log"
        self._notify: socket.socket | None = None

    def start(self) -> Daemon:
        """Start and wait for READY=1; raise with the log if it does not come."""
        notify_path = self.directory / f"notify-{time.monotonic_ns()}.sock"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alarmrx", "run", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                env=env,
            )
        status = self.wait_for("READY=1", READY_TIMEOUT_S)
        bound = _BOUND.search(status)
        metrics = _METRICS.search(status)
        assert bound is not None, f"no dc09 address in {status!r}"
        self.port = int(bound["port"])
        self.metrics_port = int(metrics["port"]) if metrics else 0
        workers = _WORKERS.search(status)
        self.workers = int(workers["count"]) if workers else 1
        return self

    def wait_for(self, state: str, timeout: float) -> str:
        """The first notification containing ``state``."""
        assert self._notify is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.log()}")
            self._notify.settimeout(0.2)
            try:
                message = self._notify.recv(4096).decode()
            except TimeoutError:
                continue
            self.notifications.append(message)
            if state in message:
                return message
        raise AssertionError(f"no {state} within {timeout} s:\n{self.log()}")

    def child_pids(self, role: str) -> list[int]:
        """The running children of the daemon's supervisor playing ``role`` (``writer``,
        ``consumers``, ``worker``)."""
        assert self.process is not None
        return [
            pid
            for pid in children(self.process.pid)
            if f"alarmrx.processes.child\0{role}\0".encode() in _cmdline(pid)
        ]

    def log(self) -> str:
        """Everything the daemon wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop_complaints(self) -> list[str]:
        """The lines logged from the first ``daemon_stopping`` on that are not info or
        debug events: warnings, errors, or anything that is not a JSON event (a
        traceback). Needs ``format = "json"`` (``write_config``'s)."""
        lines = self.log().splitlines()
        start = next((i for i, line in enumerate(lines) if '"daemon_stopping"' in line), None)
        assert start is not None, f"no daemon_stopping in:\n{self.log()}"
        return [line for line in lines[start:] if _level(line) not in ("debug", "info")]

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; the exit status."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, as far as the daemon can tell."""
        return self._signal(signal.SIGKILL, 10.0)

    def hup(self) -> None:
        """SIGHUP: reload."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        return code

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def _level(line: str) -> str | None:
    """The ``level`` of a JSON log line; None for any other line."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event.get("level") if isinstance(event, dict) else None


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def frame(
    account: str,
    data: str,
    *,
    sequence: int = 1,
    token: str = "SIA-DCS",
    key: str | None = None,
    now: datetime | None = None,
    line: str | None = "0",
    receiver: str | None = None,
) -> bytes:
    """A valid frame as a panel sends it (timestamp always on; encrypted when ``key``)."""
    header = FrameHeader(
        token=token,
        encrypted=key is not None,
        sequence=f"{sequence:04d}",
        receiver=receiver,
        line=line,
        account=account,
    )
    return encode_message(
        header=header,
        data=data,
        timestamp=now or datetime.now(UTC),
        key=parse_key(key) if key else None,
        random_bytes=os.urandom,
    )


def exchange_tcp(port: int, frames: Iterable[bytes], timeout: float = 5.0) -> list[bytes]:
    """Send frames one at a time on one connection, reading each reply (b"" = none)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for data in frames:
            sock.sendall(data)
            replies.append(read_reply(sock))
    return replies


def read_reply(sock: socket.socket) -> bytes:
    """One reply frame, or b"" on timeout/close."""
    buf = b""
    try:
        while not buf.endswith(b"\r"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    except TimeoutError:
        pass
    return buf


def read_replies(sock: socket.socket, count: int) -> bytes:
    """Bytes until ``count`` replies (CR-terminated) are in, or the peer closed."""
    received = b""
    while received.count(b"\r") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def exchange_udp(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """One datagram and its reply (b"" when none came)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b""
