"""One measurement per run of one cell, and the summary over repetitions."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from benchmarks.load import LoadResult
from benchmarks.subscriber import Arrivals


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One point of the matrix."""

    receiver: str
    transport: str
    mode: str
    connections: int
    workers: int = 0  # alarmrx's receiver worker processes; 0: not applicable (the peers)

    @property
    def peer_key(self) -> tuple[str, str, int]:
        """The same point for another receiver."""
        return (self.transport, self.mode, self.connections)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """What one run of one cell measured. Times in seconds, memory in bytes."""

    cell: Cell
    repetition: int
    acked: int
    failed: int
    failures: dict[str, int]
    samples: list[str]
    connected: int
    elapsed: float
    frames_per_s: float
    p50: float
    p90: float
    p99: float
    max: float
    cpu_per_frame: float
    peak_rss: int
    rss_per_connection: float
    generator_cpu_per_frame: float
    udp_buffer_drops: int
    offered_rate: float | None = None
    published: int = 0  # events the MQTT subscriber received (end-to-end runs only)
    e2e_p50: float = 0.0
    e2e_p99: float = 0.0
    e2e_max: float = 0.0
    probe_rate: float | None = None  # the measuring panel's frames/s (scale runs only)
    probe_acked: int = 0
    probe_p50: float = 0.0
    probe_p99: float = 0.0
    probe_max: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Readings:
    """The receiver's counters around the load: CPU seconds and memory."""

    cpu_before: float
    cpu_after: float
    rss_idle: int
    rss_connected: int
    peak_rss: int
    udp_buffer_drops: int


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def measure(
    cell: Cell,
    repetition: int,
    load: LoadResult,
    readings: Readings,
    *,
    rate: float | None,
    probe_rate: float | None = None,
) -> Measurement:
    """Turn the generator's result and the receiver's readings into one measurement."""
    ordered, probe = sorted(load.latencies), sorted(load.probe_latencies)
    acked = load.acked
    per_frame = 1 / acked if acked else 0.0
    connected = max(load.connected, 1)
    return Measurement(
        cell=cell,
        repetition=repetition,
        acked=acked,
        failed=sum(load.failures.values()),
        failures=dict(load.failures),
        samples=list(load.samples),
        connected=load.connected,
        elapsed=load.elapsed,
        frames_per_s=acked / load.elapsed if load.elapsed > 0 else 0.0,
        p50=percentile(ordered, 0.50),
        p90=percentile(ordered, 0.90),
        p99=percentile(ordered, 0.99),
        max=ordered[-1] if ordered else 0.0,
        cpu_per_frame=(readings.cpu_after - readings.cpu_before) * per_frame,
        peak_rss=readings.peak_rss,
        rss_per_connection=(readings.rss_connected - readings.rss_idle) / connected,
        generator_cpu_per_frame=load.cpu_seconds * per_frame,
        udp_buffer_drops=readings.udp_buffer_drops,
        offered_rate=rate,
        probe_rate=probe_rate,
        probe_acked=len(probe),
        probe_p50=percentile(probe, 0.50),
        probe_p99=percentile(probe, 0.99),
        probe_max=probe[-1] if probe else 0.0,
    )


def with_arrivals(measurement: Measurement, arrivals: Arrivals) -> Measurement:
    """Add the end-to-end figures: receipt (``received_at``) to arrival at a subscriber."""
    ordered = sorted(arrivals.latencies)
    return replace(
        measurement,
        published=len(ordered),
        e2e_p50=percentile(ordered, 0.50),
        e2e_p99=percentile(ordered, 0.99),
        e2e_max=ordered[-1] if ordered else 0.0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The median of each figure over a cell's repetitions."""

    cell: Cell
    runs: int
    acked: int
    failed: int
    frames_per_s: float
    frames_per_s_range: tuple[float, float]
    p50: float
    p90: float
    p99: float
    max: float
    cpu_per_frame: float
    peak_rss: float
    rss_per_connection: float
    generator_cpu_per_frame: float
    udp_buffer_drops: int
    offered_rate: float | None
    published: int
    e2e_p50: float
    e2e_p99: float
    e2e_max: float
    probe_rate: float | None
    probe_acked: int
    probe_p50: float
    probe_p99: float
    probe_max: float
    failures: dict[str, int] = field(default_factory=dict)


def summarise(measurements: Iterable[Measurement]) -> list[Summary]:
    """One summary per cell, in the order cells were first measured."""
    groups: dict[Cell, list[Measurement]] = {}
    for item in measurements:
        groups.setdefault(item.cell, []).append(item)
    return [_summary(cell, runs) for cell, runs in groups.items()]


def _summary(cell: Cell, runs: list[Measurement]) -> Summary:
    def median(name: str) -> float:
        return float(statistics.median(getattr(run, name) for run in runs))

    failures: dict[str, int] = {}
    for run in runs:
        for reason, count in run.failures.items():
            failures[reason] = failures.get(reason, 0) + count
    rates = [run.frames_per_s for run in runs]
    return Summary(
        cell=cell,
        runs=len(runs),
        acked=sum(run.acked for run in runs),
        failed=sum(run.failed for run in runs),
        frames_per_s=median("frames_per_s"),
        frames_per_s_range=(min(rates), max(rates)),
        p50=median("p50"),
        p90=median("p90"),
        p99=median("p99"),
        max=max(run.max for run in runs),
        cpu_per_frame=median("cpu_per_frame"),
        peak_rss=median("peak_rss"),
        rss_per_connection=median("rss_per_connection"),
        generator_cpu_per_frame=median("generator_cpu_per_frame"),
        udp_buffer_drops=sum(run.udp_buffer_drops for run in runs),
        offered_rate=runs[0].offered_rate,
        published=sum(run.published for run in runs),
        e2e_p50=median("e2e_p50"),
        e2e_p99=median("e2e_p99"),
        e2e_max=max(run.e2e_max for run in runs),
        probe_rate=runs[0].probe_rate,
        probe_acked=sum(run.probe_acked for run in runs),
        probe_p50=median("probe_p50"),
        probe_p99=median("probe_p99"),
        probe_max=max(run.probe_max for run in runs),
        failures=failures,
    )
