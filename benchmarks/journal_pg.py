"""The PostgreSQL journal: the two drivers on the journal's transaction, then the journal.

    .venv/bin/python -m benchmarks.journal_pg [--dsn DSN] [--seconds S] [--batches 1,50]

Without ``--dsn`` it runs a temporary PostgreSQL cluster (tests/postgres.py: Debian's
``postgresql``, loopback, fsync on, synchronous_commit on). Every figure comes from the same
run on the same machine.

1. Drivers: W writers (1, then 2 at once), each on its own connection and chain, commit one
   transaction after another, each shaped like the journal writer's: claim B dedupe keys
   (``INSERT … ON CONFLICT … RETURNING``), insert B records (``unnest``, ``RETURNING``),
   move the chain head, ``COMMIT``. psycopg 3 sends it in two round trips (pipeline mode);
   asyncpg has no pipeline for different statements, so it waits for each one. Prints
   records/s and the commit p50/p99 (BEGIN to COMMIT returned).
2. The journal: ``PostgresJournal`` (psycopg) with 1 and 2 nodes, each with 100 concurrent
   appenders (one append after another, as panel connections do), beside the SQLite
   ``Journal`` with 100 appenders on a local file. Prints appends/s, the append p99 (what a
   panel waits for) and the commit p99 with the mean batch.

asyncpg is not a dependency of alarmrx: ``pip install asyncpg`` to include it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from alarmrx.journal import Journal
from alarmrx.journal.chain import EMPTY, Head, link, prepare
from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.migrate import migrate_schema
from benchmarks.journal_append import _record

CLAIM = (
    "INSERT INTO alarmrx.dedupe_keys AS d (key, received_at) "
    "SELECT * FROM unnest({0}::bytea[], {1}::timestamptz[]) ORDER BY 1 "
    "ON CONFLICT (key) DO UPDATE SET received_at = excluded.received_at "
    "WHERE abs(extract(epoch FROM excluded.received_at - d.received_at)) > 120 RETURNING key"
)
INSERT = (
    "INSERT INTO alarmrx.records (chain, chain_seq, received_at, kind, account, peer, "
    "transport, reply, priority, body, raw, prev_hash, hash, dedupe_key) SELECT {0}, * FROM "
    "unnest({1}::bigint[], {2}::text[], {3}::text[], {4}::text[], {5}::text[], {6}::text[], "
    "{7}::text[], {8}::integer[], {9}::text[], {10}::bytea[], {11}::text[], {12}::text[], "
    "{13}::bytea[]) ORDER BY 1 RETURNING chain_seq, journal_seq"
)
HEAD = (
    "INSERT INTO alarmrx.chain_heads (chain, chain_seq, hash) VALUES ({0}, {1}, {2}) "
    "ON CONFLICT (chain) DO UPDATE SET chain_seq = excluded.chain_seq, hash = excluded.hash"
)
APPENDERS = 100
KEYS = itertools.count(1)  # every record of the run has a key of its own


def psycopg_sql(template: str) -> str:
    return template.format(*["%b"] * 14)


def asyncpg_sql(template: str) -> str:
    return template.format(*[f"${n}" for n in range(1, 15)])


@dataclass
class Batches:
    """Builds each writer's next batch: chained records with unique keys."""

    chain: str
    size: int
    head: Head = EMPTY
    n: int = 0

    def next(self) -> tuple[list[bytes], list[Any], list[list[Any]], Head]:
        rows = []
        head = self.head
        for _ in range(self.size):
            self.n += 1
            prepared = prepare(_record(next(KEYS)))
            row, head = link(head, prepared)
            rows.append(row)
        keys = [row[12] for row in rows]
        ats = [_record(0).received_at] * len(rows)
        return keys, ats, [list(c) for c in zip(*rows, strict=True)], head


Commit = Callable[[Batches], Awaitable[None]]


async def psycopg_writer(dsn: str) -> tuple[Commit, Callable[[], Awaitable[None]]]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    claim, insert, head_sql = psycopg_sql(CLAIM), psycopg_sql(INSERT), psycopg_sql(HEAD)

    async def commit(batches: Batches) -> None:
        keys, ats, columns, head = batches.next()
        async with conn.pipeline():
            await conn.execute("BEGIN")
            await conn.execute("SELECT pg_current_xact_id()")
            claimed = await conn.execute(claim, (keys, ats))
        await claimed.fetchall()
        async with conn.pipeline():
            inserted = await conn.execute(insert, (batches.chain, *columns))
            await conn.execute(head_sql, (batches.chain, head.journal_seq, head.hash))
            await conn.execute("COMMIT")
        await inserted.fetchall()
        batches.head = head

    return commit, conn.close


async def asyncpg_writer(dsn: str) -> tuple[Commit, Callable[[], Awaitable[None]]]:
    import asyncpg  # type: ignore[import-not-found,unused-ignore]

    params = psycopg.conninfo.conninfo_to_dict(dsn)
    conn = await asyncpg.connect(
        host=params["host"],
        port=int(params["port"]),
        user=params["user"],
        password=params["password"],
        database=params["dbname"],
    )
    claim, insert, head_sql = asyncpg_sql(CLAIM), asyncpg_sql(INSERT), asyncpg_sql(HEAD)

    async def commit(batches: Batches) -> None:
        keys, ats, columns, head = batches.next()
        async with conn.transaction():
            await conn.fetchval("SELECT pg_current_xact_id()::text")
            await conn.fetch(claim, keys, ats)
            await conn.fetch(insert, batches.chain, *columns)
            await conn.execute(head_sql, batches.chain, head.journal_seq, head.hash)
        batches.head = head

    return commit, conn.close


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def observe_commit(self, seconds: float, batch_size: int) -> None:
        self.seconds.append(seconds)
        self.sizes.append(batch_size)

    def record_appended(self, kind: str, count: int = 1) -> None:
        pass

    def set_healthy(self, healthy: bool) -> None:
        pass


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


async def drive(
    make: Callable[[str], Awaitable[tuple[Commit, Callable[[], Awaitable[None]]]]],
    dsn: str,
    *,
    writers: int,
    batch: int,
    seconds: float,
    tag: str,
) -> str:
    timings = Timings()
    opened = [await make(dsn) for _ in range(writers)]

    async def loop(commit: Commit, batches: Batches, until: float) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            await commit(batches)
            timings.observe_commit(time.perf_counter() - started, batch)

    until = time.perf_counter() + seconds
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for n, (commit, _) in enumerate(opened):
            group.create_task(loop(commit, Batches(f"{tag}-{writers}-{batch}-{n}", batch), until))
    elapsed = time.perf_counter() - started
    for _, close in opened:
        await close()
    rate = sum(timings.sizes) / elapsed
    return (
        f"{writers} writer(s), batch {batch:>3}: {rate:>8.0f} records/s  commit p50 "
        f"{pct(timings.seconds, 50):6.2f} ms p99 {pct(timings.seconds, 99):6.2f} ms"
    )


async def appenders(journals: list[Any], seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def one(journal: Any, until: float) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            await journal.append(_record(next(KEYS)))
            latencies.append(time.perf_counter() - started)

    until = time.perf_counter() + seconds
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for journal in journals:
            for _ in range(APPENDERS):
                group.create_task(one(journal, until))
    return time.perf_counter() - started, latencies


def journal_line(label: str, elapsed: float, latencies: list[float], timings: Timings) -> str:
    return (
        f"{label:<26} {len(latencies) / elapsed:>8.0f} appends/s  append p99 "
        f"{pct(latencies, 99):6.2f} ms  commit p99 {pct(timings.seconds, 99):6.2f} ms  "
        f"batch mean {statistics.fmean(timings.sizes):6.1f}"
    )


async def journals(dsn: str, seconds: float, workdir: Path) -> None:
    for nodes in (1, 2):
        timings = Timings()
        opened = [
            await PostgresJournal.open(dsn, chain=f"bench-{nodes}-{n}", metrics=timings)
            for n in range(nodes)
        ]
        elapsed, latencies = await appenders(opened, seconds)
        for journal in opened:
            await journal.close()
        label = f"PostgreSQL, {nodes} node(s) x {APPENDERS}"
        print(journal_line(label, elapsed, latencies, timings), flush=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        timings = Timings()
        sqlite = await Journal.open(Path(tmp) / "journal.db", metrics=timings)
        elapsed, latencies = await appenders([sqlite], seconds)
        await sqlite.close()
    print(journal_line(f"SQLite, 1 node x {APPENDERS}", elapsed, latencies, timings), flush=True)


async def main(args: argparse.Namespace, dsn: str) -> None:
    migrate_schema(dsn)
    makers: dict[str, Any] = {"psycopg": psycopg_writer}
    try:
        import asyncpg  # type: ignore[import-not-found,unused-ignore]  # noqa: F401

        makers["asyncpg"] = asyncpg_writer
    except ImportError:
        print("asyncpg is not installed: its rows are left out")
    for name, make in makers.items():
        print(f"{name}:", flush=True)
        for writers in (1, 2):
            for batch in args.batches:
                print(
                    "  "
                    + await drive(
                        make, dsn, writers=writers, batch=batch, seconds=args.seconds, tag=name
                    ),
                    flush=True,
                )
    print("journal (psycopg):", flush=True)
    await journals(dsn, args.seconds, args.dir)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="a PostgreSQL to use (default: a temporary cluster)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batches", type=lambda t: [int(b) for b in t.split(",")], default=[1, 50])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("/work/tmp-journal-bench"),
        help="where the SQLite journal goes (same disk as PostgreSQL's)",
    )
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.dsn:
        asyncio.run(main(args, args.dsn))
        return
    from tests.postgres import PASSWORD, PostgreSQL

    cluster = PostgreSQL()
    try:
        cluster.start()
        database = cluster.create_database()
        print(f"temporary PostgreSQL {cluster.bin.parent.name} on 127.0.0.1:{cluster.port}")
        asyncio.run(main(args, conninfo(database.dsn, password=PASSWORD)))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    run()
