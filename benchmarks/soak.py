"""The soak: alarmrx with MQTT on, a realistic event mix over many accounts, long enough for
every bound to fill; the daemon's RSS and the retained state sizes sampled all along.

The mix (``soak_mix``) cycles, per account, through alarms restored and alarms never
restored (hold-up and panic in ever new zones, so every account reaches its open-alarm
limit), burglary alarms closed by the disarm of their area, fire alarms with restores,
openings, closings, a panel cancel, trouble, periodic test reports and NULL link tests.
``[alarms] open_max_age_s`` is scaled down to a third of the run (unless given), so alarms
also age out while it runs.

What it reports: RSS at the end of each third, the plateau (median of the last third) and
the slope over the last third by least squares (goal: flat within noise), and the largest
retained ``state/{account}`` payload seen (goal: a few KB whatever the panels send).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiomqtt

from benchmarks.accounts import make_accounts
from benchmarks.broker import Broker
from benchmarks.load import LinkPlan, LoadResult, SharePlan
from benchmarks.procstat import cpu_seconds, rss
from benchmarks.receivers import RunningReceiver, Setup, free_port
from benchmarks.workers import run_load

ROUNDS = 24  # zones 1..24: each round 5 frames; 24 * 5 + 1 = 121 frames a cycle
_EXTRA = (
    ("ADM-CID", "1401 01 012"),  # opening (disarm) of area 1 by user 12
    ("SIA-DCS", "Nri1/CL012"),  # closing of area 1
    ("SIA-DCS", "Nri2/OP013"),  # opening of area 2
    ("ADM-CID", "1110 01 007"),  # fire, zone 7
    ("ADM-CID", "3110 01 007"),  # its restore
    ("SIA-DCS", "Nri2/CL013"),  # closing of area 2
    ("SIA-DCS", "Nri1/YT002"),  # battery trouble
    ("ADM-CID", "1406 01 012"),  # cancel of area 1
)


def soak_mix() -> tuple[tuple[str, str], ...]:
    """One account's cycle of frames: 121 of them, a number coprime to the accounts per link
    the defaults give (10), so that every account goes through every frame of it."""
    mix: list[tuple[str, str]] = []
    for zone in range(1, ROUNDS + 1):
        mix += [
            ("ADM-CID", f"1120 01 {zone:03d}"),  # panic: never restored
            ("SIA-DCS", f"Nri1/HA{100 + zone:03d}"),  # hold-up: never restored
            ("SIA-DCS", f"Nri{1 + zone % 2}/BA{zone:03d}"),  # burglary: closed by a disarm
            ("NULL", "") if zone % 3 else ("ADM-CID", "1602 00 000"),  # link test, test report
            _EXTRA[zone % len(_EXTRA)],
        ]
    return (*mix, ("NULL", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakOptions:
    """The soak's command line."""

    duration: float
    rate: float
    accounts: int
    connections: int
    processes: int
    sample_every: float
    open_max_age: float | None
    workdir: Path
    alarmrx_source: Path | None
    host: str = "127.0.0.1"
    reply_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the daemon: seconds since the load started, RSS, retained states."""

    at: float
    rss: int
    cpu: float
    states: int
    state_max: int
    state_mean: float
    load: float = 0.0  # the machine's 1-minute load average (other work shares it)


@dataclass(slots=True)
class SoakResult:
    """Everything the soak saw."""

    samples: list[Sample] = field(default_factory=list)
    load: LoadResult | None = None
    state_max_ever: int = 0
    state_max_account: str | None = None
    open_max_age: float = 0.0
    derived: dict[str, float] = field(default_factory=dict)  # derived records by type


class StateWatcher:
    """Subscribes to every retained ``state/{account}`` in a thread of its own and keeps the
    size of each account's latest payload and the largest ever seen."""

    def __init__(self, port: int, topic_root: str = "alarmrx") -> None:
        self.port, self.topic = port, f"{topic_root}/v1/state/+"
        self.sizes: dict[str, int] = {}
        self.largest, self.largest_topic = 0, ""
        self._subscribed, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="state-watcher")
        self.error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start, and return once subscribed."""
        self._thread.start()
        if not self._subscribed.wait(timeout):
            msg = f"the state watcher did not subscribe: {self.error!r}"
            raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        self._thread.join(timeout=10)

    def snapshot(self) -> tuple[int, int, float]:
        """(states seen, the largest latest payload, the mean latest payload) in bytes."""
        sizes = list(self.sizes.values())
        if not sizes:
            return 0, 0, 0.0
        return len(sizes), max(sizes), statistics.fmean(sizes)

    def _run(self) -> None:
        try:
            asyncio.run(self._read())
        except Exception as exc:  # noqa: BLE001 - a thread root: kept for the report
            self.error = exc

    async def _read(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe(self.topic, qos=0)
            self._subscribed.set()
            reader = asyncio.create_task(self._messages(client))
            await asyncio.to_thread(self._stop.wait)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _messages(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            size = len(message.payload)  # bytes: aiomqtt hands them over undecoded
            topic = str(message.topic)
            self.sizes[topic] = size
            if size > self.largest:
                self.largest, self.largest_topic = size, topic


def soak_setup(options: SoakOptions) -> Setup:
    """The receiver's setup: plain accounts, TCP, the scaled ``[alarms]``."""
    return Setup(
        workdir=options.workdir,
        host=options.host,
        port=free_port(options.host),
        metrics_port=free_port(options.host),
        transport="tcp",
        accounts=make_accounts(options.accounts, "plain"),
        alarmrx_source=options.alarmrx_source,
        extra_config=f"\n[alarms]\nopen_max_age_s = {max_age(options)}\n",
    )


def max_age(options: SoakOptions) -> float:
    """``[alarms] open_max_age_s`` for the run: as given, else a third of the duration."""
    return options.open_max_age or max(1.0, round(options.duration / 3, 1))


def share_plans(options: SoakOptions, setup: Setup) -> list[SharePlan]:
    """The links over the generator processes, each link fronting its share of accounts."""
    accounts, count = setup.accounts, options.connections
    links = [
        LinkPlan(index, accounts[index::count] or (accounts[index % len(accounts)],))
        for index in range(count)
    ]
    processes = max(1, min(options.processes, count))
    return [
        SharePlan(
            transport="tcp",
            host=setup.host,
            port=setup.port,
            links=tuple(links[share::processes]),
            duration=options.duration,
            reply_timeout=options.reply_timeout,
            encrypted_acks=True,
            interval=count / options.rate,
            mix=soak_mix(),
        )
        for share in range(processes)
    ]


def run_soak(options: SoakOptions, progress: Callable[[Sample], None]) -> SoakResult:
    """Start mosquitto and alarmrx, load for ``options.duration``, sampling all along."""
    options.workdir.mkdir(parents=True, exist_ok=True)
    result = SoakResult(open_max_age=max_age(options))
    with Broker(options.workdir, free_port(options.host)) as broker:
        setup = replace(soak_setup(options), mqtt_url=broker.url)
        with RunningReceiver("alarmrx", setup) as receiver:
            watcher = StateWatcher(broker.port)
            watcher.start()
            sampler = _Sampler(receiver, watcher, options.sample_every, result, progress)
            try:
                result.load = run_load(share_plans(options, setup), sampler.begin)
                receiver.check_alive()
                result.derived = derived_counts(setup)
            finally:
                sampler.stop()
                watcher.stop()
            result.state_max_ever = watcher.largest
            result.state_max_account = watcher.largest_topic.rsplit("/", 1)[-1] or None
    return result


_DERIVED = re.compile(r'^alarmrx_derived_events_total\{type="([^"]+)"\} ([0-9.e+]+)$', re.M)


def derived_counts(setup: Setup) -> dict[str, float]:
    """The derived records appended so far, by type, from the daemon's ``/metrics``."""
    url = f"http://{setup.host}:{setup.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {kind: float(count) for kind, count in _DERIVED.findall(text)}


class _Sampler:
    """Samples every ``every`` seconds from the load's start (``begin``) until ``stop``."""

    def __init__(
        self,
        receiver: RunningReceiver,
        watcher: StateWatcher,
        every: float,
        result: SoakResult,
        progress: Callable[[Sample], None],
    ) -> None:
        self._receiver, self._watcher, self._every = receiver, watcher, every
        self._result, self._progress = result, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")
        self._started = 0.0

    def begin(self, connected: int) -> None:
        """The load starts now: sample from here on."""
        del connected
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self._every):
                self._sample()
                return

    def _sample(self) -> None:
        pid = self._receiver.pid
        try:
            resident, cpu = rss(pid), cpu_seconds(pid)
        except (OSError, LookupError):
            return  # the daemon is gone: check_alive reports it
        states, largest, mean = self._watcher.snapshot()
        sample = Sample(
            at=time.monotonic() - self._started,
            rss=resident,
            cpu=cpu,
            states=states,
            state_max=largest,
            state_mean=mean,
            load=os.getloadavg()[0],
        )
        self._result.samples.append(sample)
        self._progress(sample)


@dataclass(frozen=True, slots=True)
class Trend:
    """RSS over the run: at the end of each third, the plateau and slope of the last third."""

    thirds: tuple[float, float, float]  # MB
    plateau: float  # MB, the median of the last third
    slope: float  # MB per minute over the last third
    spread: float  # MB, max - min over the last third


def trend(samples: list[Sample]) -> Trend | None:
    """None with fewer than 6 samples."""
    if len(samples) < 6:
        return None
    end = samples[-1].at
    mb = [(s.at, s.rss / 1e6) for s in samples]
    thirds = tuple(next(v for t, v in reversed(mb) if t <= end * part / 3) for part in (1, 2, 3))
    last = [(t, v) for t, v in mb if t >= end * 2 / 3]
    slope = _least_squares([t for t, _ in last], [v for _, v in last]) * 60
    values = [v for _, v in last]
    return Trend(
        thirds=(thirds[0], thirds[1], thirds[2]),
        plateau=statistics.median(values),
        slope=slope,
        spread=max(values) - min(values),
    )


def _least_squares(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def render_soak(
    result: SoakResult, options: SoakOptions, *, command: str, when: str, machine: str, version: str
) -> str:
    """The ``soak`` section of docs/performance.md."""
    load = result.load or LoadResult()
    shape = trend(result.samples)
    lines = [
        "## Soak",
        "",
        f"Command: `{command}` ({when}).",
        "",
        f"- Machine: {machine}. {version}.",
        f"- Load: {options.accounts:,} accounts over {options.connections:,} TCP links, "
        f"{options.rate:g} frames/s offered for {options.duration / 60:.0f} min "
        f"({load.acked:,} frames acknowledged, {sum(load.failures.values()):,} failed); "
        f"the mix of `benchmarks/soak.py` (121 frames an account cycle); MQTT on (a private "
        f"mosquitto); `[alarms] open_max_age_s = {result.open_max_age:g}`.",
        f"- Retained `state/{{account}}`: largest payload seen {result.state_max_ever:,} bytes "
        f"(account {result.state_max_account}); at the end "
        f"{_last(result).states:,} states, largest {_last(result).state_max:,} bytes, "
        f"mean {_last(result).state_mean:,.0f} bytes.",
        "- Derived records: "
        + (
            ", ".join(
                f"{kind} {count:,.0f}" for kind, count in sorted(result.derived.items()) if count
            )
            or "none"
        )
        + ".",
    ]
    if shape is not None:
        first, second, third = shape.thirds
        lines += [
            f"- Daemon RSS at the end of each third: {first:.1f}, {second:.1f}, {third:.1f} MB; "
            f"over the last third: median {shape.plateau:.1f} MB, slope "
            f"{shape.slope:+.2f} MB/min, spread {shape.spread:.1f} MB.",
        ]
    lines += [
        "",
        "| minute | RSS MB | CPU s | states | largest state B | mean state B | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    every = max(1, len(result.samples) // 30)
    for sample in result.samples[::every]:
        lines.append(
            f"| {sample.at / 60:.1f} | {sample.rss / 1e6:.1f} | {sample.cpu:.0f} | "
            f"{sample.states:,} | {sample.state_max:,} | {sample.state_mean:,.0f} | "
            f"{sample.load:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _last(result: SoakResult) -> Sample:
    return result.samples[-1] if result.samples else Sample(0.0, 0, 0.0, 0, 0, 0.0)
