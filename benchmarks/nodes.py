"""``--section nodes``: receiver nodes on SQLite and on PostgreSQL, side by side, and the time a
takeover of the consumers takes.

    python -m benchmarks.run --section nodes                       # about 4 minutes
    python -m benchmarks.run --section nodes --duration 3 --connections 100 --repetitions 1

Each cell starts 1 or 2 alarmrx nodes afresh and spreads the panels' connections over them
(link ``i`` dials node ``i mod n``), closed loop, as the matrix does (benchmarks/load.py):

- ``sqlite``: every node on its own SQLite journal (fsync on), as today's single machine;
  two nodes are two independent receivers.
- ``postgresql``: every node on one PostgreSQL journal, the server a primary with a
  synchronous streaming standby on this machine (tests/postgres.py: ``synchronous_commit =
  on``, ``synchronous_standby_names`` naming the standby), so an ACK means the record was
  flushed on two servers, as docs/deployment.md recommends. A fresh database per cell.

The takeover: two PostgreSQL nodes publishing to a local mosquitto, a probe panel sending to
one of them every ``PROBE_EVERY_S``; the node running the consumers (``alarmrx_consumers_active
1`` on its ``/metrics``) is SIGKILLed, and the takeover is the time from the kill until the
first event the probe had ACKed after the kill arrives over MQTT (another node won the lock,
rebuilt its rules and resumed publishing from the cursor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from benchmarks.accounts import BenchAccount, make_accounts
from benchmarks.broker import Broker, BrokerError
from benchmarks.clients import open_link
from benchmarks.frames import MIX, FrameSource
from benchmarks.load import LinkPlan, SharePlan
from benchmarks.receivers import (
    ALARMRX,
    ReceiverError,
    RunningReceiver,
    Setup,
    alarmrx_config,
    free_port,
)
from benchmarks.stats import percentile
from benchmarks.workers import LoadError, raise_fd_limit, run_load

BACKENDS = ("sqlite", "postgresql")
NODE_COUNTS = (1, 2)
CONNECTIONS = (100, 1000)
DURATION_S = 10.0
TAKEOVERS = 3
PROBE_EVERY_S = 0.05
PROBE_REPLY_S = 5.0
TAKEOVER_LIMIT_S = 60.0
ACTIVE_TIMEOUT_S = 60.0
_JOURNAL = re.compile(r"^\[journal\]\n(?:.+\n)*", re.MULTILINE)
_ACTIVE = re.compile(r"^alarmrx_consumers_active(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodesOptions:
    """The section's parameters (the command line, parsed)."""

    backends: tuple[str, ...] = BACKENDS
    nodes: tuple[int, ...] = NODE_COUNTS
    connections: tuple[int, ...] = CONNECTIONS
    duration: float = DURATION_S
    takeovers: int = TAKEOVERS
    mode: str = "aes128"
    accounts: int = 1000
    processes: int = 2
    reply_timeout: float = 5.0
    workdir: Path
    alarmrx_source: Path | None = None
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class NodesCell:
    backend: str
    nodes: int
    connections: int


@dataclass(frozen=True, slots=True)
class NodesMeasurement:
    """One cell: frames ACKed per second over all nodes, the p99 a panel waited."""

    cell: NodesCell
    frames_per_s: float
    p50: float
    p99: float
    acked: int
    failed: int


@dataclass(slots=True)
class NodesResult:
    measurements: list[NodesMeasurement] = field(default_factory=list)
    takeovers: list[float] = field(default_factory=list)  # seconds
    notes: list[str] = field(default_factory=list)
    unavailable: bool = False  # the daemon refused the PostgreSQL journal


def last_line(err: Exception) -> str:
    """The last line of an error that quotes a log."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else repr(err)


class Database:
    """Where the PostgreSQL nodes write: a primary with a synchronous standby (started on
    first use, from tests/postgres.py) and a fresh database per cell."""

    def __init__(self) -> None:
        self._pair: Any = None

    def journal_toml(self, workdir: Path) -> str:
        """A ``[journal]`` table for a fresh database of the pair."""
        if self._pair is None:
            from tests.postgres import Replicated  # the test suite's own servers

            self._pair = Replicated()
        database = self._pair.create_database()
        quote = json.dumps
        dsn = self._pair.dsn(database)
        return (
            f'[journal]\nbackend = "postgresql"\ndsn = {quote(dsn)}\n'
            f"password_file = {quote(str(database.password_file))}\n"
        )

    def close(self) -> None:
        if self._pair is not None:
            self._pair.destroy()


def run_nodes(options: NodesOptions, progress: Callable[[NodesMeasurement], None]) -> NodesResult:
    """Measure every cell, then the takeovers (when PostgreSQL is among the backends)."""
    result, database = NodesResult(), Database()
    try:
        for cell in cells(options):
            if cell.backend == "postgresql" and result.unavailable:
                continue
            try:
                result.measurements.append(run_cell(cell, options, database))
            except ReceiverError as err:
                if cell.backend != "postgresql":
                    raise
                result.unavailable = True
                result.notes.append(f"PostgreSQL was not measured: {last_line(err)}")
                continue
            progress(result.measurements[-1])
        if "postgresql" in options.backends and options.takeovers and not result.unavailable:
            result.takeovers = measure_takeovers(options, database)
    finally:
        database.close()
    return result


def cells(options: NodesOptions) -> Iterator[NodesCell]:
    for connections in options.connections:
        for nodes in options.nodes:
            for backend in options.backends:
                yield NodesCell(backend, nodes, connections)


def run_cell(cell: NodesCell, options: NodesOptions, database: Database) -> NodesMeasurement:
    """Start the cell's nodes, load them for ``duration``, stop them."""
    workdir = options.workdir / f"{cell.backend}-{cell.nodes}-{cell.connections}"
    accounts = make_accounts(options.accounts, options.mode)
    journal = database.journal_toml(workdir) if cell.backend == "postgresql" else None
    with running_nodes(cell.nodes, workdir, options, accounts, journal) as nodes:
        ports = [node.setup.port for node in nodes]
        load = run_load(share_plans(cell, options, ports, accounts), lambda _connected: None)
        for node in nodes:
            node.check_alive()
    latencies = sorted(load.latencies)
    return NodesMeasurement(
        cell=cell,
        frames_per_s=load.acked / load.elapsed if load.elapsed > 0 else 0.0,
        p50=percentile(latencies, 0.50),
        p99=percentile(latencies, 0.99),
        acked=load.acked,
        failed=sum(load.failures.values()),
    )


@contextlib.contextmanager
def running_nodes(
    count: int,
    workdir: Path,
    options: NodesOptions,
    accounts: tuple[BenchAccount, ...],
    journal: str | None,
    *,
    mqtt_url: str | None = None,
) -> Iterator[list[RunningReceiver]]:
    """``count`` alarmrx nodes (``bench-1``…), each in its own directory; ``journal`` is
    their shared ``[journal]`` table (None: each its own SQLite file). The schema is made
    first (``alarmrx journal migrate``)."""
    nodes = [
        _node(
            index, workdir, options=options, accounts=accounts, journal=journal, mqtt_url=mqtt_url
        )
        for index in range(count)
    ]
    if journal is not None:
        _migrate(nodes[0].setup.workdir / "alarmrx.toml")
    with contextlib.ExitStack() as stack:
        for node in nodes:
            stack.enter_context(node)
        yield nodes


def _node(
    index: int,
    workdir: Path,
    *,
    options: NodesOptions,
    accounts: tuple[BenchAccount, ...],
    journal: str | None,
    mqtt_url: str | None,
) -> RunningReceiver:
    directory = workdir / f"node{index + 1}"
    directory.mkdir(parents=True, exist_ok=True)
    setup = Setup(
        workdir=directory,
        host=options.host,
        port=free_port(options.host),
        metrics_port=free_port(options.host),
        transport="tcp",
        accounts=accounts,
        mqtt_url=mqtt_url,
        alarmrx_source=options.alarmrx_source,
    )
    node = RunningReceiver("alarmrx", setup)  # writes the matrix's config; replaced here
    (directory / "alarmrx.toml").write_text(node_config(setup, index, journal), encoding="utf-8")
    return node


def node_config(setup: Setup, index: int, journal: str | None) -> str:
    """The matrix's alarmrx config with its own ``receiver.id`` and, when given, the shared
    ``[journal]`` table in place of the SQLite file."""
    text = alarmrx_config(setup).replace('id = "bench"', f'id = "bench-{index + 1}"', 1)
    return text if journal is None else _JOURNAL.sub(lambda _m: journal, text, count=1)


def _migrate(config: Path) -> None:
    done = subprocess.run(
        [str(ALARMRX), "journal", "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        msg = f"alarmrx journal migrate failed: {done.stderr.strip() or done.stdout.strip()}"
        raise RuntimeError(msg)


def share_plans(
    cell: NodesCell, options: NodesOptions, ports: list[int], accounts: tuple[BenchAccount, ...]
) -> list[SharePlan]:
    """Link ``i`` dials node ``i mod n``; each node's links split over the generator
    processes (at least one per node)."""
    links = [
        LinkPlan(i, _accounts_of(i, cell.connections, accounts)) for i in range(cell.connections)
    ]
    per_node = max(1, options.processes // len(ports))
    plans = []
    for node, port in enumerate(ports):
        mine = links[node :: len(ports)]
        for share in range(min(per_node, len(mine))):
            plans.append(
                SharePlan(
                    transport="tcp",
                    host=options.host,
                    port=port,
                    links=tuple(mine[share::per_node]),
                    duration=options.duration,
                    reply_timeout=options.reply_timeout,
                    encrypted_acks=True,
                    mix=MIX,
                )
            )
    return plans


def _accounts_of(
    index: int, connections: int, accounts: tuple[BenchAccount, ...]
) -> tuple[BenchAccount, ...]:
    """Link ``index`` sends for every ``connections``-th account."""
    return accounts[index::connections] or (accounts[index % len(accounts)],)


def measure_takeovers(options: NodesOptions, database: Database) -> list[float]:
    """``options.takeovers`` takeovers, each with two fresh nodes on a fresh database."""
    seconds = []
    accounts = make_accounts(options.accounts, options.mode)
    for repetition in range(options.takeovers):
        workdir = options.workdir / f"takeover-{repetition}"
        workdir.mkdir(parents=True, exist_ok=True)
        journal = database.journal_toml(workdir)
        with (
            Broker(workdir, free_port(options.host)) as broker,
            running_nodes(2, workdir, options, accounts, journal, mqtt_url=broker.url) as nodes,
        ):
            active = wait_active(nodes)
            survivor = nodes[1 - nodes.index(active)]
            takeover = _takeover(active, survivor, broker.port, accounts[0], options.host)
            seconds.append(asyncio.run(takeover))
    return seconds


def wait_active(nodes: list[RunningReceiver]) -> RunningReceiver:
    """The node whose ``/metrics`` says it runs the consumers, once exactly one does."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        active = [node for node in nodes if consumers_active(node)]
        if len(active) == 1:
            return active[0]
        time.sleep(0.1)
    msg = f"no single node ran the consumers within {ACTIVE_TIMEOUT_S:.0f} s"
    raise RuntimeError(msg)


def consumers_active(node: RunningReceiver) -> bool:
    """``alarmrx_consumers_active`` is 1 on the node's ``/metrics``."""
    url = f"http://{node.setup.host}:{node.setup.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return False
    found = _ACTIVE.search(text)
    return found is not None and float(found[1]) == 1.0


async def _takeover(
    active: RunningReceiver,
    survivor: RunningReceiver,
    broker_port: int,
    account: BenchAccount,
    host: str,
) -> float:
    """SIGKILL ``active`` while a probe panel sends to ``survivor``; seconds from the kill
    until an event sent after it arrives over MQTT (only the new holder can publish it)."""
    sent_after: set[str] = set()
    killed = asyncio.Event()
    async with aiomqtt.Client(host, broker_port) as client:
        await client.subscribe(f"alarmrx/v1/events/{account.account}", qos=1)
        probe = asyncio.create_task(_probe(survivor, account, killed, sent_after))
        try:
            await _published(client, None)  # the active node publishes the probe's events
            os.kill(active.pid, signal.SIGKILL)  # its children die with it
            killed_at = time.monotonic()
            killed.set()
            async with asyncio.timeout(TAKEOVER_LIMIT_S):
                await _published(client, sent_after)
            return time.monotonic() - killed_at
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe


async def _published(client: aiomqtt.Client, wanted: set[str] | None) -> None:
    """Return once an event arrives whose sequence is in ``wanted`` (None: any event)."""
    async for message in client.messages:
        payload = message.payload if isinstance(message.payload, bytes) else b"{}"
        if wanted is None or str(json.loads(payload).get("sequence")) in wanted:
            return
    msg = "the broker closed the subscription"
    raise RuntimeError(msg)


async def _probe(
    node: RunningReceiver, account: BenchAccount, killed: asyncio.Event, sent_after: set[str]
) -> None:
    """One panel sending an event to ``node`` every ``PROBE_EVERY_S``; the sequences of
    those sent after ``killed`` go into ``sent_after``."""
    frames = FrameSource((account,), seed=0, mix=MIX[:2])
    link = await open_link("tcp", node.setup.host, node.setup.port)
    try:
        while True:
            sent = frames.at(time.time())
            if killed.is_set():
                sent_after.add(sent.sequence)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_REPLY_S):
                    await link.exchange(sent.frame)
            await asyncio.sleep(PROBE_EVERY_S)
    finally:
        link.close()


def render_nodes(
    result: NodesResult,
    options: NodesOptions,
    *,
    command: str,
    when: str,
    machine: str,
    version: str,
) -> str:
    """The section of docs/performance.md."""
    lines = [
        "## Receiver nodes: SQLite and PostgreSQL",
        "",
        f"`{command}` — {when}; {machine}; {version}. Panels over TCP, {options.mode}, closed "
        f"loop, {options.duration:g} s per cell; PostgreSQL: a primary with a synchronous "
        "standby on this machine (an ACK means flushed on both).",
        "",
        "| journal | nodes | connections | frames/s | p50 | p99 | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in result.measurements:
        c = m.cell
        lines.append(
            f"| {c.backend} | {c.nodes} | {_spaced(c.connections)} | {_spaced(m.frames_per_s)} | "
            f"{m.p50 * 1e3:.1f} ms | {m.p99 * 1e3:.1f} ms | {m.failed} |"
        )
    if result.takeovers:
        values = ", ".join(f"{s:.2f}" for s in result.takeovers)
        lines += [
            "",
            "Takeover (SIGKILL of the node running the consumers, until an event a panel sent "
            f"to the other node after the kill is published): median "
            f"{statistics.median(result.takeovers):.2f} s, max {max(result.takeovers):.2f} s "
            f"over {len(result.takeovers)} ({values} s).",
        ]
    lines += ["", *result.notes] if result.notes else []
    return "\n".join(lines) + "\n"


def _spaced(value: float) -> str:
    """``1 000`` as the page writes thousands."""
    return f"{value:,.0f}".replace(",", " ")


def nodes_main(args: Any, argv: list[str] | None) -> int:
    """``python -m benchmarks.run --section nodes``: run, print, write the section."""
    from benchmarks.machine import describe
    from benchmarks.receivers import snapshot_source
    from benchmarks.report import write_section
    from benchmarks.run import DOC, PREAMBLE, alarmrx_version

    raise_fd_limit()
    workdir = args.workdir / datetime.now(UTC).strftime("nodes-%Y%m%dT%H%M%S")
    options = NodesOptions(
        connections=args.connections or CONNECTIONS,
        duration=args.duration or DURATION_S,
        takeovers=args.repetitions if args.repetitions is not None else TAKEOVERS,
        mode=args.modes[0] if args.modes else "aes128",
        accounts=args.accounts,
        processes=args.processes,
        reply_timeout=args.reply_timeout,
        workdir=workdir,
        alarmrx_source=snapshot_source(workdir),
    )
    command = shlex.join(
        ["python", "-m", "benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
    )
    started, version, load = time.time(), alarmrx_version(), os.getloadavg()[0]
    try:
        result = run_nodes(options, _progress)
    except (ReceiverError, LoadError, BrokerError, RuntimeError) as err:
        print(f"nodes failed: {err}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    machine = describe(args.workdir)
    text = render_nodes(
        result,
        options,
        command=command,
        when=datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{machine.cpu}, {machine.cores} cores, {machine.memory}, load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        version=version,
    )
    output = args.output or DOC
    write_section(output, "nodes", text, preamble=PREAMBLE)
    if args.json is not None:
        payload = {
            "command": command,
            "measurements": [asdict(m) for m in result.measurements],
            "takeovers": result.takeovers,
            "notes": result.notes,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    print(f"wrote section 'nodes' of {output}")
    return 0


def _progress(m: NodesMeasurement) -> None:
    c = m.cell
    print(
        f"{c.backend:10} {c.nodes} node(s) {c.connections:>6}: {m.frames_per_s:9,.0f} frames/s  "
        f"p50 {m.p50 * 1e3:7.2f} ms  p99 {m.p99 * 1e3:7.2f} ms  failed {m.failed}",
        flush=True,
    )
