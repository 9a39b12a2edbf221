"""``alarmrx run``: the supervisor of the writer, the consumers and the receiver workers.

systemd sees one ``Type=notify`` service. Each child gets its own ``NOTIFY_SOCKET`` here and
says READY=1 and WATCHDOG=1 to the supervisor; a receiver worker on SQLite also says when its
connection to the journal writer is made and lost (``X_JOURNAL=connected|lost``) and counts as
ready only while connected, since a worker without the writer answers no frame. The supervisor
says READY=1 to systemd once every child is ready; afterwards ``/readyz`` and ``STATUS=`` name
the children not ready (a restarted writer, the workers not reconnected to it yet: they are
told to connect, ``runtime.WRITER_BACK``, once it is ready). It says WATCHDOG=1 only while
every child keeps its watchdog fed (a child that stops feeding it is killed and restarted). A
child that dies is logged, counted in ``alarmrx_child_restarts_total{role}`` and started again
after a backoff; nothing ACKed is lost, because a worker ACKs only what the writer reported
durable. ``/metrics`` serves every process's values (prometheus-client's multiprocess mode,
``PROMETHEUS_MULTIPROC_DIR``).

Start: writer, then the consumers and the workers. On PostgreSQL there is no writer: every
worker and the consumers commit on their own connections (``journals.py``), the consumers
of one node at a time are active (``cluster.py``), and the supervisor asks the database
itself for ``/healthz`` and ``/readyz`` (``probe.py``). SIGHUP: the config is checked here, then
every child reloads it. SIGTERM: the workers drain first (their last commits answered), then
the consumers (their last cursors and derived records go through the writer), the writer last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Counter, Info
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from alarmrx import __version__
from alarmrx.app import reloaded
from alarmrx.config import ListenAddress, Settings
from alarmrx.journal.errors import JournalError
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability import sdnotify
from alarmrx.observability.http import MetricsServer
from alarmrx.processes.journals import on_postgresql, postgres_conninfo
from alarmrx.processes.links import bind_datagrams
from alarmrx.processes.process_metrics import ChildProcessCollector
from alarmrx.processes.runtime import RUNTIME_ENV, WRITER_BACK, Runtime

if TYPE_CHECKING:
    from alarmrx.processes.probe import DatabaseProbe

log = structlog.get_logger("alarmrx.supervisor")

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
BACKOFF_S, BACKOFF_MAX_S = 0.5, 30.0
ROLES = frozenset({"writer", "consumers", "worker"})


@dataclass(slots=True)
class Child:
    """One child process and what it last told us."""

    name: str
    role: str
    argv: list[str]
    notify: socket.socket
    tells_journal: bool = False  # says X_JOURNAL=connected|lost: a worker on SQLite
    reconnects: bool = False  # connects to a restarted writer on WRITER_BACK (SQLite)
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # said_ready and connected
    said_ready: bool = False  # READY=1 from this process
    connected: bool = True  # to the journal writer, as it last said (if it tells)
    fed_at: float = 0.0  # time.monotonic() of the last WATCHDOG=1 (or of the start)
    failures: int = 0
    role_status: str = ""  # the consumers' STATUS=consumers active|standby (PostgreSQL)

    def forget(self) -> None:
        """A new process (or none): nothing heard from it yet."""
        self.said_ready = False
        self.connected = not self.tells_journal
        self.ready.clear()

    def heard(self, message: str) -> None:
        for line in message.splitlines():
            if line == "READY=1":
                self.said_ready = True
                self.failures = 0
            if line in {"READY=1", "WATCHDOG=1"}:
                self.fed_at = time.monotonic()
            self.connected = _CONNECTED.get(line, self.connected)
            if line.startswith("STATUS=consumers "):
                self.role_status = line.removeprefix("STATUS=")
        if self.said_ready and self.connected:
            self.ready.set()
        else:
            self.ready.clear()


_CONNECTED = {sdnotify.JOURNAL_CONNECTED: True, sdnotify.JOURNAL_LOST: False}


def worker_count(settings: Settings) -> int:
    """``[receiver] workers``; 0: one per CPU core this process may use but one, which the
    journal writer and the consumers share (every ACK waits on the writer: with a worker on
    every core, a flood of bad input on the workers starved it), at least one."""
    configured = settings.receiver.workers
    return configured if configured > 0 else max(1, len(os.sched_getaffinity(0)) - 1)


class Supervisor:
    """Starts, watches, restarts, reloads and stops the children."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = _runtime_directory()
        self.workers = worker_count(settings)
        self.children: list[Child] = []
        self.registry = CollectorRegistry()
        self._restarts = Counter(
            "alarmrx_child_restarts_total",
            "Child processes restarted after they exited or hung",
            ["role"],
            registry=self.registry,
        )
        self._started = False  # every child was ready once: READY=1 went to systemd
        self._told_ready = False  # what the last STATUS= to systemd said
        self._http: MetricsServer | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self._journal: RemoteJournal | None = None
        self._probe: DatabaseProbe | None = None
        self._holders: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.listen: tuple[ListenAddress, ...] = ()

    def _process_ids(self) -> list[tuple[str, int]]:
        """The supervisor and every live child, as (name, pid), for ``process_*``."""
        live = [
            (child.name, child.process.pid)
            for child in self.children
            if child.process is not None and child.process.returncode is None
        ]
        return [("supervisor", os.getpid()), *live]

    # -- start -------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        metrics_dir = self.runtime.metrics_directory
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(mode=0o700, parents=True)
        try:
            return await self._run()
        finally:
            for holder in self._holders:
                holder.close()
            await self._stop_children()
            if self._journal is not None:
                await self._journal.close()
            if not os.environ.get("RUNTIME_DIRECTORY"):
                shutil.rmtree(self.runtime.directory, ignore_errors=True)

    async def _run(self) -> int:
        self.listen = self._hold_listen_ports()
        for role in ROLES:
            self._restarts.labels(role)
        multiprocess = str(self.runtime.metrics_directory)
        MultiProcessCollector(self.registry, path=multiprocess)  # type: ignore[no-untyped-call]
        self.registry.register(ChildProcessCollector(self._process_ids))
        Info("alarmrx_build", "alarmrx version", registry=self.registry).info(
            {"version": __version__}
        )
        await self._start_all()
        for holder in self._holders:  # every worker bound its own sockets by now
            holder.close()
        self._holders = []
        await self._watch_journal()
        http = self._http = await self._start_http()
        self._install_signals()
        self._started = self._told_ready = True
        sdnotify.notify(f"READY=1\nSTATUS={self._status()}\nMAINPID={os.getpid()}")
        log.info("daemon_ready", version=__version__, workers=self.workers, listeners=self.bound)
        self._tasks.append(asyncio.create_task(self._watchdog()))
        try:
            await self._stop.wait()
        finally:
            sdnotify.notify("STOPPING=1")
            log.info("daemon_stopping")
            self._stopping = True
            for task in self._tasks:
                task.cancel()
            await self._stop_children()
            if http is not None:
                await http.close()
        log.info("daemon_stopped")
        return 0

    async def _watch_journal(self) -> None:
        """The writer's client (SQLite), or a probe of the database (PostgreSQL)."""
        if not on_postgresql(self.settings):
            self._journal = await RemoteJournal.connect(
                self.settings.journal.path, self.runtime.writer_socket
            )
            return
        from alarmrx.processes.probe import DatabaseProbe  # noqa: PLC0415 - optional extra

        self._probe = DatabaseProbe(
            postgres_conninfo(self.settings, "supervisor"), self.settings.receiver.id
        )
        await self._probe.check()
        self._tasks.append(asyncio.create_task(self._probe.run()))

    def stop(self) -> None:
        """What SIGTERM does: drain the children in order, then return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once SIGTERM came: children that exit now stay down."""
        return self._stopping

    @property
    def bound(self) -> list[str]:
        """The listen addresses, as host:port."""
        return [
            f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}" for a in self.listen
        ]

    def _hold_listen_ports(self) -> tuple[ListenAddress, ...]:
        """Every address with its port fixed (port 0: one free for TCP and UDP), held by a
        bound, not listening, socket until the workers bound theirs (``SO_REUSEPORT``)."""
        resolved = []
        for address in self.settings.receiver.listen:
            port, holders = _hold_port(address)
            self._holders += holders
            resolved.append(ListenAddress(host=address.host, port=port))
        return tuple(resolved)

    async def _start_all(self) -> None:
        if not on_postgresql(self.settings):
            await self._launch(self._child("writer", "writer"), initial=True)
        others = [self._child("consumers", "consumers", *self._listen_args())]
        others += [
            self._child(f"worker-{i}", "worker", f"--index={i}", *self._listen_args())
            for i in range(self.workers)
        ]
        await asyncio.gather(*(self._launch(child, initial=True) for child in others))
        for child in self.children:
            self._tasks.append(asyncio.create_task(self._supervise(child)))

    def _listen_args(self) -> list[str]:
        return [f"--listen={address}" for address in self.bound]

    def _child(self, name: str, role: str, *args: str) -> Child:
        config = str(self.settings.source)
        argv = [sys.executable, "-m", "alarmrx.processes.child", role, "--config", config]
        argv += [f"--parent={os.getpid()}", *args]
        notify = bind_datagrams(self.runtime.notify_socket(name))
        on_sqlite = not on_postgresql(self.settings)
        tells_journal = role == "worker" and on_sqlite
        reconnects = role in {"worker", "consumers"} and on_sqlite
        child = Child(name, role, argv, notify, tells_journal, reconnects)
        self.children.append(child)
        self._tasks.append(asyncio.create_task(self._listen(child)))
        return child

    async def _launch(self, child: Child, *, initial: bool = False) -> None:
        """Start ``child`` and wait for its READY=1; at start, a child that cannot get
        ready stops the daemon (``JournalError`` for the writer: the journal cannot open)."""
        child.forget()
        child.fed_at = time.monotonic()
        child.process = await asyncio.create_subprocess_exec(
            *child.argv, env=self._environment(child), stdin=asyncio.subprocess.DEVNULL
        )
        log.info("child_started", child=child.name, pid=child.process.pid)
        exited = asyncio.ensure_future(child.process.wait())
        ready = asyncio.ensure_future(child.ready.wait())
        done, _ = await asyncio.wait(
            {exited, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if ready in done or not initial:
            exited.cancel()
            return
        exited.cancel()
        status = child.process.returncode
        detail = f"exited with status {status}" if status is not None else "is not ready"
        message = f"the {child.name} process {detail} before it was ready (see its log above)"
        raise JournalError(message) if child.role == "writer" else RuntimeError(message)

    def _environment(self, child: Child) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_PID"}
        env["NOTIFY_SOCKET"] = str(self.runtime.notify_socket(child.name))
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.runtime.metrics_directory)
        env[RUNTIME_ENV] = str(self.runtime.directory)
        return env

    # -- watching ------------------------------------------------------------------------

    async def _supervise(self, child: Child) -> None:
        """Restart ``child`` whenever it exits, until the daemon stops."""
        while not self._stopping:
            process = child.process
            if process is None:
                return
            status = await process.wait()
            child.forget()
            self._readiness_changed()
            mark_process_dead(process.pid, str(self.runtime.metrics_directory))  # type: ignore[no-untyped-call]
            if self.stopping:
                return
            child.failures += 1
            delay = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (child.failures - 1))
            log.error("child_exited", child=child.name, pid=process.pid, status=status, delay=delay)
            self._restarts.labels(child.role).inc()
            await asyncio.sleep(delay)
            if not self.stopping:  # SIGTERM may have come during the delay
                await self._launch(child)
            if child.role == "writer" and child.ready.is_set() and not self.stopping:
                self._writer_back()

    def _writer_back(self) -> None:
        """Tell each worker and the consumers, if running (READY=1 said: the handler is in
        place), to connect to the restarted writer now, not at their next retry; the same for
        the supervisor's own client (``/healthz``)."""
        if self._journal is not None:
            self._journal.reconnect_now()
        for child in self.children:
            process = child.process
            if not (child.reconnects and child.said_ready and process is not None):
                continue
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                process.send_signal(WRITER_BACK)

    async def _watchdog(self) -> None:
        """Feed systemd's watchdog while every child feeds ours; kill a child that stopped
        (it is restarted like one that died)."""
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:
            now = time.monotonic()
            for child in self.children:
                process = child.process
                stale = now - child.fed_at > interval
                if stale and process is not None and process.returncode is None:
                    log.error("child_hung", child=child.name, pid=process.pid)
                    child.fed_at = now
                    process.kill()
            sdnotify.notify("WATCHDOG=1")
            await asyncio.sleep(interval / 2)

    # -- the endpoint, signals, stop -----------------------------------------------------

    async def _start_http(self) -> MetricsServer | None:
        listen = self.settings.metrics.listen
        if listen is None:
            return None
        server = MetricsServer(
            listen.host, listen.port, self.registry, health=self.health, ready=self.readiness
        )
        await server.start()
        log.info("metrics_bound", host=listen.host, port=server.port)
        return server

    def health(self) -> tuple[bool, str]:
        """``/healthz``: unhealthy while the journal cannot commit (nothing is ACKed then)."""
        probe = self._probe
        if probe is not None and not probe.healthy:
            return False, f"journal: postgresql {probe.last_error}"
        if probe is not None:
            return True, "ok"
        journal = self._journal
        if journal is None or not journal.healthy:
            error = journal.last_error if journal is not None else "not open"
            return False, f"journal cannot commit: {error}"
        return True, "ok"

    def ready(self) -> bool:
        """Every child ready (a worker on SQLite: also connected to the writer)."""
        children = self.children
        return self._started and not self._stopping and all(c.ready.is_set() for c in children)

    def readiness(self) -> tuple[bool, str]:
        """``/readyz``: ``ready``, or the children it waits for; on PostgreSQL also the
        database reachable (the reason when not), and the answer names the consumers' role on
        this node."""
        if not self.ready():
            return False, self._not_ready()
        healthy, reason = self.health()
        if self._probe is not None and not healthy:
            return False, reason
        roles = [c.role_status for c in self.children if c.role == "consumers" and c.role_status]
        return True, "; ".join(["ready", *roles])

    def _not_ready(self) -> str:
        """``not ready: waiting for writer, worker-0`` (no names while starting or stopping)."""
        waiting = [c.name for c in self.children if not c.ready.is_set()]
        if not waiting or not self._started or self._stopping:
            return "not ready"
        return f"not ready: waiting for {', '.join(waiting)}"

    def _readiness_changed(self) -> None:
        """After the start, systemd's ``STATUS=`` follows ``ready``: the children waited for,
        then the status of the start again."""
        ready = self.ready()
        if not self._started or self._stopping or ready == self._told_ready:
            return
        self._told_ready = ready
        sdnotify.notify(f"STATUS={self._status() if ready else self._not_ready()}")

    def _status(self) -> str:
        """``receiving dc09=host:port,… metrics=host:port`` (tests read the ports here)."""
        dc09 = ",".join(f"dc09={address}" for address in self.bound)
        listen, http = self.settings.metrics.listen, self._http
        metrics = f" metrics={listen.host}:{http.port}" if http and listen else ""
        return f"receiving {dc09}{metrics} workers={self.workers}"

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def reload(self) -> None:
        """SIGHUP: check the config here; if it has no problems, every child reloads it."""
        settings = reloaded(self.settings)
        if settings is None:
            return
        self.settings = settings
        for child in self.children:
            if child.process is not None and child.process.returncode is None:
                child.process.send_signal(signal.SIGHUP)
        log.info("config_reloaded", accounts=len(settings.accounts))

    async def _listen(self, child: Child) -> None:
        """Every ``sd_notify`` message a child sends, to ``child.heard``."""
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(child.notify, 4096)
            child.heard(data.decode("utf-8", "replace"))
            self._readiness_changed()

    async def _stop_children(self) -> None:
        """Workers first, then the consumers, then the writer; each group drained. The
        supervisor's own client of the writer closes before the writer stops: that writer
        going away is the orderly stop, not a lost writer to warn of."""
        self._stopping = True
        await self._stop_role("worker")
        await self._stop_role("consumers")
        if self._journal is not None:
            await self._journal.close()
        await self._stop_role("writer")

    async def _stop_role(self, role: str) -> None:
        group = [c.process for c in self.children if c.role == role and c.process]
        await asyncio.gather(*(_terminate(p) for p in group))


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await process.wait()
    except TimeoutError:
        log.error("child_kill_after_timeout", pid=process.pid)
        process.kill()
        await process.wait()


def _runtime_directory() -> Runtime:
    given = os.environ.get("RUNTIME_DIRECTORY")
    if given:
        return Runtime(Path(given.split(":")[0]))
    return Runtime(Path(tempfile.mkdtemp(prefix="alarmrx-")))


def _hold_port(address: ListenAddress) -> tuple[int, list[socket.socket]]:
    """A port free for TCP and UDP on ``address.host`` (the given one unless 0), and the
    bound sockets that hold it. A given port is first bound without ``SO_REUSEPORT``, which
    fails while anything holds it: a second daemon must not share a running one's port."""
    family = socket.getaddrinfo(address.host, None, type=socket.SOCK_STREAM)[0][0]
    if address.port != 0:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            _bound(family, kind, address.host, address.port, reuse_port=False).close()
    for _ in range(20):
        holders = [_bound(family, socket.SOCK_STREAM, address.host, address.port)]
        port = int(holders[0].getsockname()[1])
        try:
            holders.append(_bound(family, socket.SOCK_DGRAM, address.host, port))
        except OSError:
            holders[0].close()
            if address.port != 0:
                raise
            continue
        return port, holders
    msg = f"no port free for both TCP and UDP on {address.host}"
    raise OSError(msg)


def _bound(
    family: int, kind: int, host: str, port: int, *, reuse_port: bool = True
) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
