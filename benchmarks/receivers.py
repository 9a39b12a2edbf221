"""Starting, probing and stopping the receivers under test, each as its own process.

Every receiver gets the same accounts and keys and listens on a fresh loopback port. It is
ready when a NULL link test over the transport under test gets a valid ACK (and, for
alarmrx, when ``/readyz`` answers 200, if the metrics endpoint is there).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from benchmarks.accounts import BenchAccount
from benchmarks.clients import open_link
from benchmarks.frames import LINK_TESTS, FrameSource
from benchmarks.interpreters import pysiaalarm_python
from benchmarks.replies import check_reply

PEERS = Path(__file__).resolve().parent / "peers"
ALARMRX = Path(sys.executable).parent / "alarmrx"
SOURCE = Path(__file__).resolve().parent.parent / "src"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ReceiverError(RuntimeError):
    """A receiver did not start, did not become ready, or died."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """What every receiver is started with."""

    workdir: Path
    host: str
    port: int
    metrics_port: int
    transport: str
    accounts: tuple[BenchAccount, ...]
    mqtt_url: str | None = None  # alarmrx publishes here when set
    alarmrx_source: Path | None = None  # a copy of src/ to run alarmrx from
    extra_config: str = ""  # TOML appended to alarmrx's config (e.g. an ``[alarms]`` table)
    workers: int = 0  # [receiver] workers for alarmrx; 0: leave the key out (its default)


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """How to run one receiver, and what its replies look like."""

    command: list[str]
    encrypted_acks: bool = True
    readyz: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def _alarmrx(setup: Setup) -> Launch:
    config = setup.workdir / "alarmrx.toml"
    config.write_text(alarmrx_config(setup), encoding="utf-8")
    source = setup.alarmrx_source
    return Launch(
        command=[str(ALARMRX), "run", "--config", str(config)],
        readyz=f"http://{setup.host}:{setup.metrics_port}/readyz",
        env={} if source is None else {"PYTHONPATH": str(source)},
    )


def snapshot_source(directory: Path) -> Path:
    """Copy ``src/alarmrx`` into ``directory/src``; return the directory to import it from.

    The working tree is shared and changes while a long run goes on; every cell of a run
    imports this one copy (``PYTHONPATH`` comes before the editable install's path).
    """
    target = directory / "src"
    shutil.copytree(
        SOURCE / "alarmrx", target / "alarmrx", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


# [receiver] limits sized for real panels; here they all share one address and each
# connection carries far more than a panel sends.
ALARMRX_LIMITS = {
    "max_connections": 100_000,
    "max_connections_per_ip": 100_000,
    "connection_rate": 1e9,
    "connection_burst": 1_000_000,
    "peer_rate": 1e9,
    "peer_burst": 1_000_000,
}


def alarmrx_config(setup: Setup) -> str:
    """The daemon's TOML: one listen address (TCP and UDP), a journal on disk, metrics.

    Every simulated panel dials from the same few loopback addresses and sends far more
    than a panel, so the rate and connection limits are lifted; fsync stays on, as in
    production. The per-event log lines (each message's, each dispatch advice's) are off, as
    in the runs docs/performance.md records; docs/performance.md gives their cost apart.
    """
    quote = json.dumps  # a JSON string of ASCII text is a TOML basic string
    lines = [
        "[receiver]",
        'id = "bench"',
        f"listen = [{quote(f'{setup.host}:{setup.port}')}]",
        *(f"{name} = {value}" for name, value in ALARMRX_LIMITS.items()),
        *([f"workers = {setup.workers}"] if setup.workers else []),
        "",
        "[journal]",
        f"path = {quote(str(setup.workdir / 'journal.db'))}",
        "fsync = true",
        "",
        "[metrics]",
        f"listen = {quote(f'{setup.host}:{setup.metrics_port}')}",
        "",
        "[logging]",
        "events = false  # its cost is measured apart (benchmarks/log_cost.py)",
    ]
    if setup.mqtt_url is not None:
        lines += ["", "[mqtt]", f"url = {quote(setup.mqtt_url)}"]
    for account in setup.accounts:
        lines += ["", "[[accounts]]", f"account = {quote(account.account)}"]
        if account.key_hex is not None:
            lines.append(f"key = {quote(account.key_hex)}")
    return "\n".join(lines) + "\n" + setup.extra_config


def _pysiaalarm(setup: Setup) -> Launch:
    accounts = setup.workdir / "accounts.json"
    entries = [{"account": a.account, "key": a.key_text} for a in setup.accounts]
    accounts.write_text(json.dumps(entries), encoding="utf-8")
    script = PEERS / "pysiaalarm_server.py"
    return Launch(
        command=[
            str(pysiaalarm_python()),
            str(script),
            *_listen_args(setup),
            "--accounts",
            str(accounts),
        ]
    )


def _stub(setup: Setup) -> Launch:
    script = PEERS / "stub_receiver.py"
    return Launch(command=[sys.executable, str(script), *_listen_args(setup)], encrypted_acks=False)


def _listen_args(setup: Setup) -> list[str]:
    return ["--host", setup.host, "--port", str(setup.port), "--transport", setup.transport]


LAUNCHERS: dict[str, Callable[[Setup], Launch]] = {
    "alarmrx": _alarmrx,
    "pysiaalarm": _pysiaalarm,
    "stub": _stub,
}


def alarmrx_available() -> bool:
    """True once the daemon exists: ``alarmrx run --help`` exits 0."""
    try:
        done = subprocess.run(
            [ALARMRX, "run", "--help"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def free_port(host: str) -> int:
    """A port free for both TCP and UDP on ``host``."""
    for _ in range(100):
        with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    msg = "no free port for both TCP and UDP"
    raise ReceiverError(msg)


class RunningReceiver:
    """A receiver process: started on enter, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, name: str, setup: Setup) -> None:
        self.name, self.setup = name, setup
        self.launch = LAUNCHERS[name](setup)
        self.log_path = setup.workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The receiver's process id."""
        if self.process is None:
            msg = f"{self.name} is not running"
            raise ReceiverError(msg)
        return self.process.pid

    def __enter__(self) -> RunningReceiver:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.launch.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.setup.workdir,
                env={**os.environ, **self.launch.env},
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def check_alive(self) -> None:
        """Raise if the process has exited, quoting the end of its log."""
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-800:]
            msg = f"{self.name} exited with status {self.process.returncode}: {tail}"
            raise ReceiverError(msg)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not asyncio.run(self._probe()):
            self.check_alive()
            if time.monotonic() > deadline:
                msg = f"{self.name} did not acknowledge a NULL within {READY_TIMEOUT:.0f} s"
                raise ReceiverError(msg)
            time.sleep(0.1)
        if self.launch.readyz is not None:
            self._wait_readyz(self.launch.readyz, deadline)

    async def _probe(self) -> bool:
        setup = self.setup
        frames = FrameSource(setup.accounts[:1], seed=0, mix=LINK_TESTS)
        try:
            link = await open_link(setup.transport, setup.host, setup.port)
        except OSError:
            return False
        try:
            outgoing = frames.next(datetime.now(UTC))
            async with asyncio.timeout(0.5):
                reply = await link.exchange(outgoing.frame)
        except (OSError, TimeoutError):
            return False
        finally:
            link.close()
        now = datetime.now(UTC)
        return (
            check_reply(reply, outgoing, now=now, encrypted_acks=self.launch.encrypted_acks) is None
        )

    def _wait_readyz(self, url: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback URL we built
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        msg = f"{self.name}: {url} did not answer 200 within {READY_TIMEOUT:.0f} s"
        raise ReceiverError(msg)

    def stop(self) -> int | None:
        """Stop the process; return its exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode
