"""What a per-account read costs: ``alarmrx journal query --account`` over a window.

Builds a journal of ``--records`` records spread evenly over ``--accounts`` accounts and
``--days`` days, then times ``journal.query`` for one account over the whole span three ways:
through the account index beside the journal (``journal/accounts.py``), with that index
``--behind`` records short of the head (the rest found by the scan after it), without it
(a scan of every record), and with the index journal.db itself carried before. Prints the
best of ``--runs`` for each, in ms::

    python -m benchmarks.account_query --records 300000 --accounts 1000 --days 30
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alarmrx.journal import Journal, NewRecord, RecordKind, query
from alarmrx.journal.accounts import AccountIndexer, index_path

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 5_000


def _record(n: int, accounts: int, span: timedelta, total: int) -> NewRecord:
    account = f"{n % accounts:06d}"
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=T0 + span * n / total,
        account=account,
        body={"token": "SIA-DCS", "sequence": "0001", "events": [{"code": "BA", "zone": "1"}]},
        raw=f'\n"SIA-DCS"0001L0#{account}[#{account}|NBA1]\r'.encode(),
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        priority=3,
    )


async def _build(
    path: Path, first: int, last: int, *, accounts: int, days: int, total: int
) -> None:
    span = timedelta(days=days)
    async with await Journal.open(path, fsync=False) as journal:
        for start in range(first, last, CHUNK):
            end = min(last, start + CHUNK)
            await journal.append_many(
                [_record(n, accounts, span, total) for n in range(start, end)]
            )


def _index(path: Path) -> None:
    indexer = AccountIndexer.open(path)
    try:
        while indexer.catch_up():
            pass
    finally:
        indexer.close()


def _time(path: Path, account: str, days: int, runs: int) -> tuple[float, int]:
    best, found = float("inf"), 0
    until = T0 + timedelta(days=days)
    for _ in range(runs):
        started = time.perf_counter()
        found = sum(1 for _ in query(path, account=account, since=T0, until=until))
        best = min(best, time.perf_counter() - started)
    return best * 1000, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--behind", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="alarmrx-account-query-"))
    try:
        path = directory / "journal.db"
        total, indexed = args.records, args.records - args.behind
        shape = {"accounts": args.accounts, "days": args.days, "total": total}
        asyncio.run(_build(path, 0, indexed, **shape))
        _index(path)
        asyncio.run(_build(path, indexed, total, **shape))
        account = f"{args.accounts // 2:06d}"
        ms, found = _time(path, account, args.days, args.runs)
        print(f"index {args.behind} records behind: {ms:8.2f} ms  {found} records")
        _index(path)
        ms, found = _time(path, account, args.days, args.runs)
        print(f"index at the head:       {ms:8.2f} ms  {found} records")
        index_path(path).unlink()
        ms, found = _time(path, account, args.days, args.runs)
        print(f"no index (a scan):       {ms:8.2f} ms  {found} records")
        with sqlite3.connect(path) as conn:  # the index journal.db carried before
            conn.execute("CREATE INDEX records_account ON records (account, received_at)")
        conn.close()
        ms, found = _time(path, account, args.days, args.runs)
        print(f"index inside journal.db: {ms:8.2f} ms  {found} records")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
