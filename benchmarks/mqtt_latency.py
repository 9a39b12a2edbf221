"""Receipt-to-broker-ack latency of the MQTT publisher under a steady load.

A real mosquitto and a real journal (fsync on by default): records are appended at a fixed
rate, as the receiver would after decoding frames (``received_at`` set on receipt), while
the publisher tails the journal. The latency of each event is the publisher's own measure:
broker PUBACK time minus ``received_at``, so it includes the journal's durable commit, which
is reported on its own (``commit_p50_ms``/``commit_p99_ms``: from the append call to its
return) to tell the two apart.

    .venv/bin/python -m benchmarks.mqtt_latency [--rate 1000] [--seconds 20] [--no-fsync]
        [--receiver-us 0] [--baseline-seconds 10]

The load generator and the publisher share one event loop (uvloop when installed), as the
receiver and the publisher do inside the daemon. ``cpu_s_per_1000_events`` is the whole
process (all threads: the writer's commits too); ``loop_cpu_us_per_event`` is the event
loop's thread alone (the publisher, plus building and appending the records).

The publisher's own share: the same load is first run for ``--baseline-seconds`` on a
journal of its own with no publisher (``append_loop_cpu_us_per_event``,
``append_cpu_us_per_event``), and ``publisher_loop_cpu_us_per_event`` /
``publisher_cpu_us_per_event`` are the differences (same process, minutes apart: still
noisy on a shared machine, so compare medians of several runs). ``--receiver-us`` makes the
load generator also burn that much of the loop's CPU per record, as a receiver parsing
frames in the same interpreter would (about 300 us per frame today).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alarmrx.config import MQTTSettings
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.mqtt.publish import MQTTPublisher
from benchmarks.broker import Broker

Protocol = Literal["3.1.1", "5"]

# A realistic mix: mostly link-level status and open/close, some alarms and troubles.
_MIX = [("RP", "test", 5)] * 6 + [
    ("OP", "open", 5),
    ("CL", "close", 5),
    ("BA", "alarm", 3),
    ("YT", "trouble", 4),
]


class Latencies:
    """A PublisherMetrics that keeps every receipt-to-ack latency."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.failures: list[str] = []
        self.max_backlog = 0
        self._changed = asyncio.Event()

    def mqtt_connected(self, connected: bool) -> None:
        """Not needed here."""

    def mqtt_publish_backlog(self, records: int) -> None:
        self.max_backlog = max(self.max_backlog, records)

    def mqtt_published(self, latencies_s: Iterable[float]) -> None:
        self.values.extend(latencies_s)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        """Until ``count`` events were acknowledged."""
        while len(self.values) < count:
            self._changed.clear()
            await self._changed.wait()

    def mqtt_publish_failed(self, reason: str) -> None:
        self.failures.append(reason)

    def mqtt_broker(self, url: str) -> None:
        """Ignore: one broker here."""


def _record(n: int) -> NewRecord:
    code, category, priority = _MIX[n % len(_MIX)]
    account = f"{n % 1000:04X}"
    event = {
        "code": code,
        "category": category,
        "description": code,
        "zone": n % 32 + 1,
        "area": 1,
        "user": None,
        "text": None,
        "qualifier": None,
        "peripheral": None,
        "time": None,
        "date": None,
        "old": False,
    }
    body: dict[str, Any] = {
        "token": "SIA-DCS",
        "encrypted": True,
        "sequence": f"{n % 10000:04d}",
        "receiver": None,
        "line": "L0",
        "header_account": account,
        "data_account": account,
        "panel_time": None,
        "xdata": [],
        "events": [event],
        "quirks": [],
        "clock": {"synchronised": True},
    }
    raw = f'\nABCD0042"*SIA-DCS"{n % 10000:04d}L0#{account}[{"0" * 64}]\r'.encode()
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=datetime.now(UTC),
        account=account,
        body=body,
        raw=raw,
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        priority=priority,
    )


async def _append(journal: Journal, record: NewRecord, commits: list[float]) -> None:
    started = time.monotonic()
    await journal.append(record)
    commits.append(time.monotonic() - started)


def _busy(seconds: float) -> None:
    """The receiver's share of the loop: CPU burnt in this thread."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


@dataclass(frozen=True, slots=True)
class Load:
    rate: int
    seconds: float
    receiver_s: float = 0.0  # loop CPU burnt per record, as a busy receiver would


async def _load(journal: Journal, load: Load, commits: list[float]) -> int:
    """Append ``rate`` records per second for ``seconds``, in 10 ms ticks; the count."""
    tick, sent, pending = 0.01, 0, set()
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < load.seconds:
        due = int(elapsed * load.rate) - sent
        if load.receiver_s:
            _busy(due * load.receiver_s)
        for _ in range(due):
            task = asyncio.create_task(_append(journal, _record(sent), commits))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(tick)
    await asyncio.gather(*pending)
    return sent


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


@dataclass(slots=True)
class Measured:
    events: int = 0
    cpu_s: float = 0.0  # the process
    loop_cpu_s: float = 0.0  # the event loop's thread
    commits: list[float] = field(default_factory=list)


async def _baseline(path: Path, load: Load, fsync: bool) -> Measured:
    """The same load with no publisher: what appending alone costs."""
    measured = Measured()
    async with await Journal.open(path, fsync=fsync) as journal:
        cpu, loop_cpu = time.process_time(), time.thread_time()
        measured.events = await _load(journal, load, measured.commits)
        measured.cpu_s = time.process_time() - cpu
        measured.loop_cpu_s = time.thread_time() - loop_cpu
    return measured


async def _measure(
    url: str, journal: Journal, load: Load, protocol: Protocol
) -> tuple[Measured, Latencies]:
    """Publish while loading; the number of events, the CPU seconds, the latencies."""
    metrics, measured = Latencies(), Measured()
    publisher = MQTTPublisher(
        MQTTSettings(url=url, protocol=protocol),
        receiver_id="bench",
        journal=journal,
        accounts={},
        metrics=metrics,
        version="bench",
    )
    task = asyncio.create_task(publisher.run())
    cpu, loop_cpu = time.process_time(), time.thread_time()
    measured.events = await _load(journal, load, measured.commits)
    await metrics.wait_for(measured.events)
    measured.cpu_s = time.process_time() - cpu
    measured.loop_cpu_s = time.thread_time() - loop_cpu
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return measured, metrics


def _per_event_us(measured: Measured) -> tuple[float, float]:
    """Loop-thread and process CPU per event, in microseconds."""
    events = max(1, measured.events)
    return measured.loop_cpu_s / events * 1e6, measured.cpu_s / events * 1e6


async def run(load: Load, baseline_s: float, fsync: bool, protocol: Protocol) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        base = Load(load.rate, baseline_s, load.receiver_s)
        alone = await _baseline(Path(tmp) / "alone.db", base, fsync) if baseline_s else None
        with Broker(Path(tmp), port) as broker:
            async with await Journal.open(Path(tmp) / "journal.db", fsync=fsync) as journal:
                measured, metrics = await _measure(broker.url, journal, load, protocol)
    result = _report(load, measured, metrics, fsync, protocol)
    if alone is not None:
        result |= _shares(measured, alone)
    return result


def _shares(measured: Measured, alone: Measured) -> dict[str, float]:
    """The publisher's own CPU: the full run minus the run with no publisher."""
    loop_us, cpu_us = _per_event_us(measured)
    append_loop_us, append_cpu_us = _per_event_us(alone)
    return {
        "append_loop_cpu_us_per_event": round(append_loop_us, 1),
        "append_cpu_us_per_event": round(append_cpu_us, 1),
        "publisher_loop_cpu_us_per_event": round(loop_us - append_loop_us, 1),
        "publisher_cpu_us_per_event": round(cpu_us - append_cpu_us, 1),
    }


def _report(
    load: Load, measured: Measured, metrics: Latencies, fsync: bool, protocol: Protocol
) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in metrics.values)
    commits = sorted(v * 1000 for v in measured.commits)
    sent = measured.events
    return {
        "rate_per_s": load.rate,
        "seconds": load.seconds,
        "fsync": fsync,
        "protocol": protocol,
        "receiver_us": round(load.receiver_s * 1e6),
        "loop": type(asyncio.get_event_loop_policy()).__module__.split(".")[0],
        "events": sent,
        "acked": len(ms),
        "failures": metrics.failures,
        "p50_ms": round(_percentile(ms, 0.50), 2),
        "p99_ms": round(_percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1], 2),
        "max_backlog_records": metrics.max_backlog,
        "commit_p50_ms": round(_percentile(commits, 0.50), 2),
        "commit_p99_ms": round(_percentile(commits, 0.99), 2),
        "cpu_s_per_1000_events": round(measured.cpu_s / sent * 1000, 3),
        "loop_cpu_us_per_event": round(measured.loop_cpu_s / sent * 1e6, 1),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-fsync", dest="fsync", action="store_false")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
    parser.add_argument(
        "--receiver-us",
        type=float,
        default=0.0,
        help="loop CPU burnt per record, as a busy receiver would",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=10.0,
        help="the load without a publisher first (0: skip)",
    )
    args = parser.parse_args()
    load = Load(args.rate, args.seconds, args.receiver_us / 1e6)
    with contextlib.suppress(ImportError):  # the daemon's loop when installed (app.py)
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print(json.dumps(asyncio.run(run(load, args.baseline_seconds, args.fsync, args.protocol))))


if __name__ == "__main__":
    main()
