"""Running the matrix: each cell starts its receiver afresh, loads it, reads it, stops it.

Receivers alternate within each point of the matrix (and their order rotates with each
repetition), so slow drift of the machine does not favour one of them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.accounts import BenchAccount, make_accounts
from benchmarks.broker import Broker
from benchmarks.frames import LINK_TESTS, MIX
from benchmarks.load import LinkPlan, ProbePlan, SharePlan
from benchmarks.procstat import (
    cpu_by_role,
    cpu_seconds,
    open_files,
    peak_rss,
    rss,
    udp_receive_buffer_errors,
)
from benchmarks.receivers import RunningReceiver, Setup, free_port
from benchmarks.stats import Cell, Measurement, Readings, measure, with_arrivals
from benchmarks.subscriber import Subscriber
from benchmarks.workers import run_load

ACCEPT_TIMEOUT = 60.0
SOURCES_FROM = 10_000  # past this many connections, spread them over several source addresses
SOURCE_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Everything a run is parameterised by (the command line, parsed)."""

    receivers: tuple[str, ...]
    transports: tuple[str, ...]
    modes: tuple[str, ...]
    connections: tuple[int, ...]
    repetitions: int
    duration: float
    accounts: int
    processes: int
    reply_timeout: float
    rate: float | None
    link_tests_only: bool
    probe_rate: float | None  # frames/s of the one measuring panel; None: no such panel
    mqtt: bool
    workdir: Path
    workers: tuple[int, ...] = (0,)  # alarmrx's [receiver] workers; 0: its default
    alarmrx_source: Path | None
    keep: bool
    host: str = "127.0.0.1"


def cells(options: Options) -> Iterator[tuple[Cell, int]]:
    """Every (cell, repetition) in run order."""
    for repetition in range(options.repetitions):
        shift = repetition % len(options.receivers)
        order = options.receivers[shift:] + options.receivers[:shift]
        for transport in options.transports:
            for mode in options.modes:
                for connections in options.connections:
                    for receiver in order:
                        for workers in options.workers if receiver == "alarmrx" else (0,):
                            cell = Cell(
                                receiver=receiver,
                                transport=transport,
                                mode=mode,
                                connections=connections,
                                workers=workers,
                            )
                            yield cell, repetition


def run_matrix(options: Options, progress: Callable[[Measurement], None]) -> list[Measurement]:
    """Measure every cell; ``progress`` sees each measurement as it is made."""
    results = []
    for cell, repetition in cells(options):
        result = run_cell(cell, repetition, options)
        progress(result)
        results.append(result)
    return results


def run_cell(cell: Cell, repetition: int, options: Options) -> Measurement:
    """Start the receiver, load it for ``options.duration``, read it, stop it."""
    workdir = (
        options.workdir
        / f"{cell.receiver}-{cell.transport}-{cell.mode}-{cell.connections}-w{cell.workers}"
        f"-r{repetition}"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    probe_accounts = 1 if options.probe_rate else 0  # the measuring panel's own, last
    accounts = make_accounts(max(options.accounts, 1) + probe_accounts, cell.mode)
    setup = Setup(
        workdir=workdir,
        host=options.host,
        port=free_port(options.host),
        metrics_port=free_port(options.host),
        transport=cell.transport,
        accounts=accounts,
        alarmrx_source=options.alarmrx_source,
        workers=cell.workers,
    )
    try:
        if options.mqtt and cell.receiver == "alarmrx":
            return _run_with_broker(cell, repetition, options, setup)
        with RunningReceiver(cell.receiver, setup) as receiver:
            return _load(cell, repetition, options, receiver)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_with_broker(cell: Cell, repetition: int, options: Options, setup: Setup) -> Measurement:
    """alarmrx publishing to a local mosquitto, a subscriber timing every event."""
    with Broker(setup.workdir, free_port(options.host)) as broker:
        setup = replace(setup, mqtt_url=broker.url)
        with RunningReceiver(cell.receiver, setup) as receiver:
            subscriber = Subscriber(broker.port)
            subscriber.start()
            measurement = _load(cell, repetition, options, receiver)
            arrivals = subscriber.finish()
    return with_arrivals(measurement, arrivals)


def _load(cell: Cell, repetition: int, options: Options, receiver: RunningReceiver) -> Measurement:
    pid, before = receiver.pid, dict[str, float]()
    roles_before: dict[str, float] = {}
    rss_idle = rss(pid)

    def before_start(connected: int) -> None:
        if cell.transport == "tcp":
            _wait_accepted(pid, connected)
        before["rss"] = rss(pid)
        before["cpu"] = cpu_seconds(pid)
        roles_before.update(cpu_by_role(pid))
        before["drops"] = udp_receive_buffer_errors()

    plans = share_plans(
        cell, options, receiver.setup, encrypted_acks=receiver.launch.encrypted_acks
    )
    load = run_load(plans, before_start)
    receiver.check_alive()
    _report_roles(cell, load.acked, roles_before, cpu_by_role(pid))
    readings = Readings(
        cpu_before=before["cpu"],
        cpu_after=cpu_seconds(pid),
        rss_idle=rss_idle,
        rss_connected=int(before["rss"]),
        peak_rss=peak_rss(pid),
        udp_buffer_drops=udp_receive_buffer_errors() - int(before["drops"]),
    )
    return measure(
        cell, repetition, load, readings, rate=options.rate, probe_rate=options.probe_rate
    )


def _report_roles(
    cell: Cell, acked: int, before: dict[str, float], after: dict[str, float]
) -> None:
    """CPU µs per acknowledged frame of each of the receiver's processes, by role (alarmrx's
    supervisor, writer, consumers, workers): what docs/performance.md's capacity model uses."""
    if set(after) <= {"supervisor"} or not acked:
        return
    costs = ", ".join(
        f"{role} {(after[role] - before.get(role, 0.0)) / acked * 1e6:.0f}"
        for role in sorted(after)
    )
    print(f"  {cell.receiver} w{cell.workers} CPU µs/frame by process: {costs}", flush=True)


def _wait_accepted(pid: int, connected: int) -> None:
    """Wait until the receiver has accepted every connection the generator has open.

    A client's connect completes in the kernel's backlog; with thousands of connections the
    receiver may still be accepting, and frames sent meanwhile would wait in the count.
    """
    deadline = time.monotonic() + ACCEPT_TIMEOUT
    while open_files(pid) < connected and time.monotonic() < deadline:
        time.sleep(0.05)


def share_plans(
    cell: Cell, options: Options, setup: Setup, *, encrypted_acks: bool
) -> list[SharePlan]:
    """Split the cell's links over the generator processes; the first one also runs the
    measuring panel, if any, on an account of its own."""
    accounts = setup.accounts[:-1] if options.probe_rate else setup.accounts
    links = [
        LinkPlan(index, _accounts_of(index, cell.connections, accounts), _source(index, cell))
        for index in range(cell.connections)
    ]
    processes = max(1, min(options.processes, cell.connections))
    interval = cell.connections / options.rate if options.rate else None
    return [
        SharePlan(
            transport=cell.transport,
            host=setup.host,
            port=setup.port,
            links=tuple(links[share::processes]),
            duration=options.duration,
            reply_timeout=options.reply_timeout,
            encrypted_acks=encrypted_acks,
            interval=interval,
            mix=LINK_TESTS if options.link_tests_only else MIX,
            probe=_probe(cell, options, setup) if share == 0 else None,
        )
        for share in range(processes)
    ]


def _probe(cell: Cell, options: Options, setup: Setup) -> ProbePlan | None:
    """The measuring panel: one more link, the event mix at ``probe_rate`` frames/s."""
    if not options.probe_rate:
        return None
    index = cell.connections  # after the other links: its own seed and source address
    link = LinkPlan(index, setup.accounts[-1:], _source(index, cell))
    return ProbePlan(link, interval=1 / options.probe_rate)


def _accounts_of(
    index: int, connections: int, accounts: tuple[BenchAccount, ...]
) -> tuple[BenchAccount, ...]:
    """Link ``index`` sends for every ``connections``-th account (one panel may front many)."""
    mine = accounts[index::connections]
    return mine or (accounts[index % len(accounts)],)


def _source(index: int, cell: Cell) -> str | None:
    if cell.connections < SOURCES_FROM:
        return None
    return SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)]


def default_workdir() -> Path:
    """Under the repository, on the real disk (the journal's fsync is the point)."""
    return Path(__file__).resolve().parent / "results"
