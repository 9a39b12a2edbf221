"""The composition root: builds the daemon's parts from the settings and runs them.

Order at start: journal open -> listeners bound -> metrics endpoint -> READY=1 (MQTT need
not be connected; the journal absorbs outages). SIGTERM: STOPPING=1, stop accepting, let
in-flight commits finish and their replies go out, stop the publisher, close the journal.
SIGHUP: reload accounts and keys; a config with problems is refused and the old one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from alarmrx import __version__
from alarmrx.config import AccountTable, ConfigError, Settings, load_settings
from alarmrx.control import ControlServer, socket_path
from alarmrx.evidence.anchorer import ACTION as ANCHOR_ACTION
from alarmrx.evidence.anchorer import Anchorer
from alarmrx.journal import Journal
from alarmrx.journal.accounts import follow as follow_accounts
from alarmrx.journal.errors import JournalError
from alarmrx.journal.remote import RemoteJournal
from alarmrx.observability import sdnotify
from alarmrx.observability.clock import ClockStatus, clock_status, sync_change
from alarmrx.observability.http import MetricsServer
from alarmrx.observability.metrics import Metrics
from alarmrx.observability.receiver import PrometheusReceiverMetrics
from alarmrx.receiver import FrameHandler, Receiver
from alarmrx.rules import RulePlans, RulesRunner, plans_from

log = structlog.get_logger("alarmrx.app")

CLOCK_CHECK_S = 60.0
RETENTION_FIRST_S = 600.0
RETENTION_EVERY_S = 86400.0
STOP_GRACE_S = 10.0
ACCOUNT_INDEX_RETRY_S = 30.0


def utc_now() -> datetime:
    """The receiver's clock: aware UTC with microseconds."""
    return datetime.now(UTC)


class Daemon:
    """One running alarmrx: journal, receiver, metrics endpoint and publisher."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self._stop = asyncio.Event()
        self._clock: dict[str, Any] = {"synchronised": None, "error_s": None}
        self._clock_known: bool | None = None  # the last synchronised state read, for its log
        self._ready = False
        self._journal: Journal | RemoteJournal | None = None
        self._receiver: Receiver | None = None
        self._rules: RulesRunner
        self._anchorer: Anchorer
        self._accounts_by_id = {a.account: a for a in settings.accounts}

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        journal = await self._open_journal()
        self._journal = journal
        self.metrics.track_journal_last_seq(lambda: journal.last_seq)
        self.metrics.track_journal_disk(self.settings.journal.path)
        try:
            return await self._serve(journal)
        finally:
            await journal.close()

    async def _open_journal(self) -> Journal | RemoteJournal:
        settings = self.settings
        return await Journal.open(
            settings.journal.path,
            fsync=settings.journal.fsync,
            dedupe_window_s=settings.journal.dedupe_window_s,
            metrics=self.metrics,
        )

    async def _serve(self, journal: Journal | RemoteJournal) -> int:
        self._build_consumers(journal)
        receiver = await self._start_receiving(journal)
        http = await self._start_http()
        control = await self._start_control()
        self._install_signals()
        self._check_clock()
        self._ready = True
        sdnotify.notify(f"READY=1\nSTATUS={self._status(http)}")
        log.info("daemon_ready", version=__version__, listeners=self.listeners)
        try:
            await self._run_tasks(journal)
        finally:
            sdnotify.notify("STOPPING=1")
            log.info("daemon_stopping")
            if receiver is not None:
                await receiver.stop(STOP_GRACE_S)
            if control is not None:
                await control.close()
            if http is not None:
                await http.close()
        log.info("daemon_stopped")
        return 0

    def _build_consumers(self, journal: Journal | RemoteJournal) -> None:
        """The rules runner and the anchorer, fresh (``processes.cluster`` builds them again
        each time its node becomes the active one)."""
        self._rules = RulesRunner(
            journal,
            _plans(self.settings),
            clock=utc_now,
            metrics=self.metrics,
            log_derived=self.settings.logging.events,
        )
        self._anchorer = Anchorer(journal, utc_now)

    async def _start_control(self) -> ControlServer | None:
        """The operator command socket; without it alarms are still received, so a failure
        to bind it (path too long, directory not writable) is logged, never fatal."""
        control = ControlServer(socket_path(self.settings.journal.path), self._control)
        try:
            await control.start()
        except OSError as err:
            log.error("control_socket_unavailable", path=str(control.path), error=str(err))
            return None
        return control

    async def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        """A control request: ``anchor`` is the daemon's own, the rest the account card's."""
        if request.get("action") == ANCHOR_ACTION:
            return await self._anchorer.request(request)
        return await self.command(request)

    def _status(self, http: MetricsServer | None) -> str:
        """``receiving dc09=host:port,… metrics=host:port`` (tests read the ports here)."""
        dc09 = ",".join(f"dc09={address}" for address in self.listeners)
        listen = self.settings.metrics.listen
        metrics = f" metrics={listen.host}:{http.port}" if http and listen else ""
        return f"receiving {dc09}{metrics}"

    async def command(self, cmd: object) -> dict[str, Any]:
        """An operator's command (control socket, MQTT command topic) to the rules, answered
        once the rules folded it: what they concluded (``test.started``, …) is in the journal
        before anything the operator sends after the answer."""
        reply = await self._rules.command(cmd)
        seq = reply.get("journal_seq")
        if reply.get("ok") and isinstance(seq, int):
            await self._rules.folded(seq)
        return reply

    async def _start_receiving(self, journal: Journal | RemoteJournal) -> Receiver | None:
        receiver = self._build_receiver(journal)
        self._receiver = receiver
        await receiver.start(self.settings.receiver.listen)
        return receiver

    def _build_receiver(self, journal: Journal | RemoteJournal) -> Receiver:
        metrics = PrometheusReceiverMetrics(self.metrics)
        handler = FrameHandler(
            settings=self.settings.receiver,
            accounts=AccountTable(self.settings),
            sink=journal,
            metrics=metrics,
            clock=utc_now,
            clock_state=lambda: self._clock,
            reject_samples_per_minute=self.settings.journal.reject_samples_per_minute,
            on_link=self._rules.observe_link,
            log_events=self.settings.logging.events,
        )
        return Receiver(handler, metrics, utc_now)

    @property
    def listeners(self) -> list[str]:
        """The bound addresses, as host:port."""
        bound = self._receiver.bound if self._receiver else []
        return [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in bound]

    async def _start_http(self) -> MetricsServer | None:
        listen = self.settings.metrics.listen
        if listen is None:
            return None
        server = MetricsServer(
            listen.host, listen.port, self.registry, health=self.health, ready=lambda: self._ready
        )
        await server.start()
        log.info("metrics_bound", host=listen.host, port=server.port)
        return server

    def health(self) -> tuple[bool, str]:
        """``/healthz``: unhealthy while the journal cannot commit (nothing is ACKed then)."""
        journal = self._journal
        if journal is None or not journal.healthy:
            error = journal.last_error if journal is not None else "not open"
            return False, f"journal cannot commit: {error}"
        return True, "ok"

    def _tasks(
        self, journal: Journal | RemoteJournal
    ) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        tasks = [
            self._watchdog,
            self._clock_loop,
            self._rules.run,
            self._anchorer.run,
            lambda: self._retention_loop(journal),
        ]
        if self.settings.journal.backend == "sqlite":
            tasks.append(lambda: self._account_index(journal))
        return tasks

    async def _account_index(self, journal: Journal | RemoteJournal) -> None:
        """Keep the per-account index beside the SQLite journal (``journal.accounts``). It
        is derived: a failure is logged and the index started afresh a moment later, while
        per-account reads scan the journal meanwhile."""
        path = self.settings.journal.path
        while True:
            try:
                await follow_accounts(journal, path, self.metrics.account_index_at)
            except (sqlite3.Error, OSError, JournalError) as err:
                log.error("account_index_failed", path=str(path), error=str(err))
                await asyncio.sleep(ACCOUNT_INDEX_RETRY_S)

    async def _run_tasks(self, journal: Journal | RemoteJournal) -> None:
        tasks = self._tasks(journal)
        publisher = self._build_publisher(journal)
        if publisher is not None:
            tasks.append(publisher.run)
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(task()) for task in tasks]
            await self._stop.wait()
            for task in running:
                task.cancel()

    def _build_publisher(
        self, journal: Journal | RemoteJournal, *, event_ids: str | None = None
    ) -> Any:
        mqtt = self.settings.mqtt
        if mqtt is None:
            log.warning("mqtt_not_configured", detail="events stay in the journal")
            return None
        from alarmrx.mqtt.publish import MQTTPublisher  # noqa: PLC0415 - optional part

        return MQTTPublisher(
            mqtt,
            receiver_id=self.settings.receiver.id,
            journal=journal,
            accounts=lambda: self._accounts_by_id,
            metrics=self.metrics,
            version=__version__,
            listeners=self.listeners,
            commands=self.command,  # the command topic (docs/mqtt.md, docs/commands.md)
            event_ids=event_ids,
        )

    def stop(self) -> None:
        """End ``run()`` in order, as SIGTERM does."""
        self._stop.set()

    @property
    def rules(self) -> RulesRunner:
        """The rules' runner (once ``run()`` started serving)."""
        return self._rules

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def reload(self) -> None:
        """SIGHUP: new accounts and keys, or the old ones if the new config has problems."""
        settings = reloaded(self.settings)
        if settings is None:
            return
        self.settings = settings
        self._accounts_by_id = {a.account: a for a in settings.accounts}
        if self._receiver is not None:
            self._receiver.reload(settings.receiver, AccountTable(settings))
        self._rules.reload(_plans(settings))
        log.info("config_reloaded", accounts=len(settings.accounts))

    async def _watchdog(self) -> None:
        """WATCHDOG=1 from the event loop itself, so a blocked loop trips systemd."""
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:
            sdnotify.notify("WATCHDOG=1")
            await asyncio.sleep(interval / 2)

    async def _retention_loop(self, journal: Journal | RemoteJournal) -> None:
        """Once a day, prune records older than ``journal.retention_days`` (never younger
        than six weeks) through the journal's writer; a checkpoint keeps the remaining chain
        verifiable."""
        await asyncio.sleep(RETENTION_FIRST_S)
        while True:
            days = self.settings.journal.retention_days
            now = utc_now()
            try:
                report = await journal.prune(before=now - timedelta(days=days), now=now)
            except JournalError as err:
                log.error("retention_failed", error=str(err))
            else:
                if report.pruned:
                    log.info("journal_pruned", records=report.pruned, through=report.through_seq)
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _clock_loop(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_CHECK_S)
            self._check_clock()

    def _check_clock(self) -> None:
        status: ClockStatus = clock_status()
        self._clock = {"synchronised": status.synchronised, "error_s": status.estimated_error_s}
        self.metrics.set_clock(status)
        change = sync_change(self._clock_known, status.synchronised)
        if status.synchronised is not None:
            self._clock_known = status.synchronised
        if change == "clock_not_synchronised":
            detail = "receipt times may be wrong; check NTP (chrony/systemd-timesyncd)"
            log.warning(change, detail=detail)
        elif change is not None:
            log.info(change, estimated_error_s=status.estimated_error_s)


def reloaded(current: Settings) -> Settings | None:
    """The config file read again for SIGHUP, or None (logged) when it has problems; listen
    addresses change only on restart."""
    try:
        settings = load_settings(current.source)
    except ConfigError as err:
        log.error("reload_refused", problems=str(err).splitlines())
        return None
    if settings.receiver.listen != current.receiver.listen:
        log.warning("reload_listen_unchanged", detail="listen addresses change on restart")
    return settings


def run(config: Path) -> int:
    """``alarmrx run``: load, then run the supervisor and its processes until stopped
    (``alarmrx.processes``); ``Daemon`` is the same parts in one process."""
    settings = load_settings(config)
    from alarmrx.observability.logs import configure  # noqa: PLC0415
    from alarmrx.processes.loop import run_loop  # noqa: PLC0415
    from alarmrx.processes.supervisor import Supervisor  # noqa: PLC0415 - imports a cycle

    configure(settings.logging.level, settings.logging.format)
    structlog.contextvars.bind_contextvars(process="supervisor")
    with contextlib.suppress(KeyboardInterrupt):
        return run_loop(Supervisor(settings).run())
    return 0


def _plans(settings: Settings) -> RulePlans:
    """The rules' plans: the accounts, and how long an alarm stays open."""
    max_age = timedelta(seconds=settings.alarms.open_max_age_s)
    return plans_from(settings.accounts, open_max_age=max_age)
