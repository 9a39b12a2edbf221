"""Journal append throughput and latency, fsync on, at several numbers of concurrent appenders.

    .venv/bin/python -m benchmarks.journal_append [--dir DIR] [--seconds S] [--no-fsync]

Each appender awaits one append after another for S seconds (what one panel connection does:
append, wait, ACK). Prints appends/s, the caller's append latency p50/p99 (what the panel
waits for) and the commit duration p50/p99 with the mean batch size (from the metrics hook).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alarmrx.journal import Journal, NewRecord, RecordKind

_BODY = {
    "token": "SIA-DCS",
    "encrypted": False,
    "sequence": "0001",
    "receiver": "R1",
    "line": "L1",
    "header_account": "1234",
    "data_account": "1234",
    "panel_time": None,
    "xdata": [],
    "events": [
        {"code": "BA", "category": "alarm", "zone": "001", "area": None, "user": None, "text": ""}
    ],
    "quirks": [],
    "clock": True,
}
_RAW = b'\n8C570046"SIA-DCS"0001R1L1#1234[#1234|NBA001]\r'


@dataclass
class Commits:
    """The metrics hook: collects commit durations and batch sizes."""

    seconds: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def observe_commit(self, seconds: float, batch_size: int) -> None:
        self.seconds.append(seconds)
        self.sizes.append(batch_size)

    def record_appended(self, kind: str, count: int = 1) -> None:
        pass

    def set_healthy(self, healthy: bool) -> None:
        pass


def _record(n: int) -> NewRecord:
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=datetime.now(UTC),
        account=f"{n % 5000:04d}",
        body=_BODY,
        raw=_RAW,
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        dedupe_key=n.to_bytes(8, "big"),
    )


async def _appender(journal: Journal, ident: int, until: float, latencies: list[float]) -> None:
    n = ident * 10_000_000
    while time.perf_counter() < until:
        started = time.perf_counter()
        await journal.append(_record(n))
        latencies.append(time.perf_counter() - started)
        n += 1


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


async def run_one(path: Path, appenders: int, seconds: float, *, fsync: bool) -> str:
    commits = Commits()
    journal = await Journal.open(path, fsync=fsync, metrics=commits)
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for ident in range(appenders):
            group.create_task(_appender(journal, ident, until, latencies))
    elapsed = time.perf_counter() - started
    await journal.close()
    return (
        f"{appenders:>5} appenders: {len(latencies) / elapsed:>8.0f} appends/s  "
        f"append p50 {_pct(latencies, 50):6.2f} ms p99 {_pct(latencies, 99):6.2f} ms  "
        f"commit p50 {_pct(commits.seconds, 50):6.2f} ms p99 {_pct(commits.seconds, 99):6.2f} ms"
        f"  batch mean {statistics.fmean(commits.sizes):6.1f} ({len(commits.sizes)} commits)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/work/tmp-journal-bench"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--appenders", type=int, nargs="*", default=[1, 100, 1000])
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"fsync={'off' if args.no_fsync else 'on'} dir={args.dir}")
    for appenders in args.appenders:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            line = await run_one(
                Path(tmp) / "journal.db", appenders, args.seconds, fsync=not args.no_fsync
            )
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
