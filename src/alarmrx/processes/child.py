"""The entry point of every child: ``python -m alarmrx.processes.child ROLE --config FILE``.

The supervisor starts each child with ``NOTIFY_SOCKET`` naming a socket of its own, so a
child speaks ``sd_notify`` (READY=1, WATCHDOG=1) to the supervisor exactly as the whole
speaks it to systemd. A child dies with the supervisor (``PR_SET_PDEATHSIG``): nothing keeps
running that no one supervises. SIGTERM drains and stops it, SIGHUP reloads its settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import structlog

from alarmrx.config import ConfigError, ListenAddress, Settings, load_settings
from alarmrx.observability import sdnotify
from alarmrx.observability.logs import configure
from alarmrx.processes.loop import run_loop
from alarmrx.processes.runtime import Runtime

log = structlog.get_logger("alarmrx.processes.child")

PR_SET_PDEATHSIG = 1
EX_SOFTWARE = 70


class Part(Protocol):
    """A child's work: what ``serve`` starts, reloads and stops."""

    async def start(self) -> None: ...
    def reload(self, settings: Settings) -> None: ...
    async def stop(self) -> None: ...


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the supervisor goes (Linux); exit if it already went."""
    libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols: libc's prctl
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit(EX_SOFTWARE)


async def serve(part: Part, config: Path) -> int:
    """Start ``part``, say READY=1, keep the watchdog fed until SIGTERM, then stop it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def reload() -> None:
        try:
            settings = load_settings(config)
        except ConfigError as err:
            log.error("reload_refused", problems=str(err).splitlines())
            return
        part.reload(settings)
        log.info("config_reloaded", accounts=len(settings.accounts))

    await part.start()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    sdnotify.notify("READY=1")
    watchdog = asyncio.create_task(_watchdog())
    try:
        await stop.wait()
    finally:
        sdnotify.notify("STOPPING=1")
        watchdog.cancel()
        await part.stop()
    return 0


async def _watchdog() -> None:
    interval = sdnotify.watchdog_interval()
    if interval is None:
        return
    while True:
        sdnotify.notify("WATCHDOG=1")
        await asyncio.sleep(interval / 2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alarmrx-child")
    parser.add_argument("role", choices=("writer", "consumers", "worker"))
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--parent", required=True, type=int)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--listen", action="append", default=[], type=ListenAddress.parse)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _die_with_parent(args.parent)
    settings = load_settings(args.config)
    configure(settings.logging.level, settings.logging.format)
    structlog.contextvars.bind_contextvars(process=_name(args))
    runtime = Runtime.from_env()
    with contextlib.suppress(KeyboardInterrupt):
        return run_loop(_role(args, settings, runtime))
    return 0


def _name(args: argparse.Namespace) -> str:
    return f"worker-{args.index}" if args.role == "worker" else str(args.role)


async def _role(args: argparse.Namespace, settings: Settings, runtime: Runtime) -> int:
    # The imports of the one role this process plays, and no other.
    if args.role == "consumers":
        from alarmrx.processes.consumers import ConsumersDaemon  # noqa: PLC0415

        listen = tuple(args.listen)
        if settings.journal.backend == "postgresql":
            from alarmrx.processes.cluster import ClusterConsumers  # noqa: PLC0415

            return await ClusterConsumers(settings, runtime, listen).run()
        return await ConsumersDaemon(settings, runtime, listen).run()
    if args.role == "writer":
        from alarmrx.processes.writer import WriterProcess  # noqa: PLC0415

        return await serve(WriterProcess(settings, runtime), args.config)
    from alarmrx.processes.worker import WorkerProcess  # noqa: PLC0415

    return await serve(
        WorkerProcess(settings, runtime, args.index, tuple(args.listen)), args.config
    )


if __name__ == "__main__":
    sys.exit(main())
