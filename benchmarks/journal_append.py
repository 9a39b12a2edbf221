"""Journal append throughput and latency, fsync on, at several numbers of concurrent appenders.

    .venv/bin/python -m benchmarks.journal_append [--dir DIR] [--seconds S] [--no-fsync]
        [--appenders N ...] [--encoded] [--accounts N]

Each appender awaits one append after another for S seconds (what one panel connection does:
append, wait, ACK). Prints appends/s, the caller's append latency p50/p99 (what the panel
waits for), the commit duration p50/p99 with the mean batch size (from the metrics hook) and
the process's CPU time per append (user and system, every thread: the appenders' side too).
With ``--encoded`` the records are encoded beforehand (``chain.encode_new``, outside the
timing), as the writer process receives them from the receiver workers. ``--accounts`` is how
many accounts the records take turns with (each inserts at its own place in the account index).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alarmrx.journal import Journal, NewRecord, RecordKind
from alarmrx.journal.chain import Encoded, encode_new

ACCOUNTS = 5000  # accounts the records take turns with, unless --accounts says otherwise
_MAX_RATE = 20_000  # appends/s: records encoded beforehand for --encoded, per second run

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


def _record(n: int, accounts: int = ACCOUNTS) -> NewRecord:
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=datetime.now(UTC),
        account=f"{n % accounts:04d}",
        body=_BODY,
        raw=_RAW,
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        dedupe_key=n.to_bytes(8, "big"),
    )


def _records(encoded: int, accounts: int) -> Iterator[NewRecord | Encoded]:
    """New records made as they are appended, or the first ``encoded`` encoded beforehand."""
    if encoded:
        return iter([encode_new(_record(n, accounts)) for n in range(encoded)])
    return (_record(n, accounts) for n in itertools.count())


async def _appender(
    journal: Journal, records: Iterator[NewRecord | Encoded], until: float, latencies: list[float]
) -> None:
    while time.perf_counter() < until and (record := next(records, None)) is not None:
        started = time.perf_counter()
        await journal.append(record)
        latencies.append(time.perf_counter() - started)


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


async def run_one(
    path: Path, appenders: int, seconds: float, *, fsync: bool, encoded: bool, accounts: int
) -> str:
    commits = Commits()
    journal = await Journal.open(path, fsync=fsync, metrics=commits)
    records = _records(int(seconds * _MAX_RATE) if encoded else 0, accounts)
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started, cpu = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(appenders):
            group.create_task(_appender(journal, records, until, latencies))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await journal.close()
    return (
        f"{appenders:>5} appenders: {len(latencies) / elapsed:>8.0f} appends/s  "
        f"append p50 {_pct(latencies, 50):6.2f} ms p99 {_pct(latencies, 99):6.2f} ms  "
        f"commit p50 {_pct(commits.seconds, 50):6.2f} ms p99 {_pct(commits.seconds, 99):6.2f} ms"
        f"  batch mean {statistics.fmean(commits.sizes):6.1f} ({len(commits.sizes)} commits)"
        f"  CPU {cpu / len(latencies) * 1e6:5.1f} µs/append"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/work/tmp-journal-bench"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--appenders", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--encoded", action="store_true", help="records encoded beforehand")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="accounts taking turns")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"fsync={'off' if args.no_fsync else 'on'} encoded={args.encoded} dir={args.dir}")
    for appenders in args.appenders:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            line = await run_one(
                Path(tmp) / "journal.db",
                appenders,
                args.seconds,
                fsync=not args.no_fsync,
                encoded=args.encoded,
                accounts=args.accounts,
            )
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
