"""``python -m benchmarks.memory``: what each structure that grows with records or accounts
costs in memory, measured with tracemalloc, for docs/performance.md ("Memory").

Each structure is filled to its bound (or with a known number of accounts or records) in
this process, and the Python heap it holds is divided by the count: bytes per account, per
record, per entry. Allocations outside the Python allocator (OpenSSL's AES contexts,
SQLite's page cache) are not seen by tracemalloc; docs/performance.md says so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.config import AccountTable, load_settings
from alarmrx.config.card_model import CardSettings
from alarmrx.config.model import SupervisionSettings
from alarmrx.journal.dedupe import MAX_ENTRIES, DedupeIndex
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import NewRecord, Record, RecordKind
from alarmrx.journal.tail import CAPACITY
from alarmrx.mqtt.payloads import state_payload
from alarmrx.protocols import AccountPolicy, contact_id, parse_frame, sia_dcs
from alarmrx.receiver.body import dedupe_key, message_body
from alarmrx.rules.alarms import OpenAlarmCore
from alarmrx.rules.auth import MAX_KEYS, Limiter
from alarmrx.rules.cards import CAP as CARD_CAP
from alarmrx.rules.cards import CardCore
from alarmrx.rules.derived import Derived, DerivedType, new_record
from alarmrx.rules.plans import supervision_plan
from alarmrx.rules.state import MAX_AREAS, MAX_NOTES, MAX_OPEN_ALARMS, MAX_TEXT, StateBook
from alarmrx.rules.supervision import SupervisionCore
from alarmrx.rules.verification import CAP as VERIFICATION_CAP
from alarmrx.rules.verification import VerificationCore
from benchmarks.accounts import make_accounts
from benchmarks.frames import FrameSource
from benchmarks.soak import soak_mix

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ACCOUNTS = 2000  # accounts per per-account measurement


@dataclass(frozen=True, slots=True)
class Cost:
    """One structure: bytes per unit, and the bound that caps the units."""

    name: str
    unit: str
    bytes_per_unit: float
    bound: str


def traced(build: Callable[[], object], count: int) -> float:
    """Bytes of Python heap ``build`` leaves held, per one of ``count`` units."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held
    return (after - before) / count


def _event(
    code: str,
    category: str,
    *,
    zone: object = None,
    area: object = None,
    user: object = None,
    qualifier: int | None = None,
) -> dict[str, Any]:
    return {
        "code": code,
        "category": category,
        "description": code,
        "zone": zone,
        "area": area,
        "user": user,
        "text": None,
        "qualifier": qualifier,
        "peripheral": None,
        "time": None,
        "date": None,
        "old": False,
    }


def _record(seq: int, account: str, *events: dict[str, Any], at: datetime = T0) -> Record:
    return _stored(
        NewRecord(
            kind=RecordKind.MESSAGE, received_at=at, account=account, body={"events": list(events)}
        ),
        seq,
    )


def _stored(new: NewRecord, seq: int) -> Record:
    return Record(
        journal_seq=seq,
        kind=new.kind,
        received_at=new.received_at,
        account=new.account,
        body=new.body,
        raw=new.raw,
        peer=new.peer,
        transport=new.transport,
        reply=new.reply,
        priority=new.priority,
        hash="0" * 64,
        prev_hash="0" * 64,
    )


def _worst_account(account: str, start: int) -> list[Record]:
    """Every bound of one account's state full, with text as long as it is kept."""
    text = "x" * 400
    records = []
    seq = start
    for n in range(MAX_OPEN_ALARMS + 8):
        seq += 1
        records.append(
            _record(
                seq,
                account,
                _event("HA", "alarm", zone=f"{n}{text}", area=f"{n}{text}"),
                at=T0 + timedelta(seconds=n),
            )
        )
    for n in range(MAX_AREAS + 8):
        seq += 1
        records.append(
            _record(seq, account, _event("CL", "close", area=f"{n}{text}", user=f"{n}{text}"))
        )
    for n in range(MAX_NOTES + 2):
        seq += 1
        body = {
            "type": "card.temporary",
            "until": (T0 + timedelta(days=1)).isoformat(),
            "note": f"{n}" + "n" * 499,
        }
        records.append(
            _stored(
                NewRecord(kind=RecordKind.DERIVED, received_at=T0, account=account, body=body), seq
            )
        )
    return records


def _typical_account(account: str, start: int) -> list[Record]:
    """Two areas, three open alarms: what the soak's accounts hold."""
    seq = start
    records = []
    for event in (
        _event("CL", "close", area=1, user=12),
        _event("CL", "close", area=2, user=13),
        _event("120", "alarm", zone=4, qualifier=1),
        _event("HA", "alarm", zone=104),
        _event("BA", "alarm", zone=3, area=2),
    ):
        seq += 1
        records.append(_record(seq, account, event))
    return records


def state_book(shape: Callable[[str, int], list[Record]]) -> tuple[float, int]:
    """Bytes per account of the publisher's state book, and the largest retained payload."""
    streams = [shape(f"{n:06d}", n * 1000) for n in range(ACCOUNTS)]

    def build() -> StateBook:
        book = StateBook()
        for stream in streams:
            for record in stream:
                book.apply(record)
        return book

    per_account = traced(build, ACCOUNTS)
    book = build()
    names = {"x" * MAX_TEXT: "z" * 64}
    largest = max(
        len(json.dumps(state_payload(state, "rx1", "n" * 64, names)))
        for state in book.accounts.values()
    )
    return per_account, largest


def open_alarm_core() -> float:
    """Bytes per account of the rules' open alarms, each account at its limit."""
    streams = [_worst_account(f"{n:06d}", n * 1000)[:MAX_OPEN_ALARMS] for n in range(ACCOUNTS)]

    def build() -> OpenAlarmCore:
        core = OpenAlarmCore()
        for stream in streams:
            for record in stream:
                core.handle(record)
        return core

    return traced(build, ACCOUNTS)


def card_core() -> float:
    """Bytes per account of the alarms kept for cancelling and marking, at their cap."""
    records = [
        _record(n * CARD_CAP + i + 1, f"{n:06d}", _event("BA", "alarm", zone=i))
        for n in range(ACCOUNTS)
        for i in range(CARD_CAP)
    ]

    def build() -> CardCore:
        core = CardCore({f"{n:06d}": CardSettings() for n in range(ACCOUNTS)})
        for record in records:
            core.handle(record)
        return core

    return traced(build, ACCOUNTS)


def verification_core() -> float:
    """Bytes per account of the burglary alarms kept for verification, at their cap."""
    records = [
        _record(n * VERIFICATION_CAP + i + 1, f"{n:06d}", _event("BA", "alarm", zone=i))
        for n in range(ACCOUNTS)
        for i in range(VERIFICATION_CAP)
    ]

    def build() -> VerificationCore:
        core = VerificationCore({})
        for record in records:
            core.handle(record)
        return core

    return traced(build, ACCOUNTS)


def supervision_core() -> float:
    """Bytes per supervised account (one path), every account heard once."""
    plans = {
        f"{n:06d}": supervision_plan(f"{n:06d}", SupervisionSettings(category="SP4"), ())
        for n in range(ACCOUNTS)
    }
    records = [_record(n + 1, f"{n:06d}", _event("RP", "test")) for n in range(ACCOUNTS)]

    def build() -> SupervisionCore:
        core = SupervisionCore(plans)
        core.start(T0)
        for record in records:
            core.fold(record, T0)
        return core

    return traced(build, ACCOUNTS)


async def _journal_records(count: int) -> list[NewRecord]:
    accounts = make_accounts(200, "plain")
    frames = FrameSource(accounts, seed=1, mix=tuple(m for m in soak_mix() if m[0] != "NULL"))
    policy = AccountPolicy(window=None)
    out = []
    for n in range(count):
        outgoing = frames.at(T0.timestamp() + n)
        message = parse_frame(outgoing.frame, accounts=lambda _h, _a: policy, now=T0)
        body = message_body(message, {"synchronised": True})
        out.append(
            NewRecord(
                kind=RecordKind.MESSAGE,
                received_at=T0 + timedelta(seconds=n),
                account=message.account,
                body=body,
                raw=message.raw,
                peer="127.0.0.1:40000",
                transport="tcp",
                reply="ACK",
                dedupe_key=dedupe_key(message),
            )
        )
    return out


def tail_records() -> float:
    """Bytes per record the journal tail holds: records of the soak's mix as SQLite gives
    them back (body decoded)."""

    async def read() -> list[Record]:
        with tempfile.TemporaryDirectory() as directory:
            async with await Journal.open(Path(directory) / "j.db", fsync=False) as journal:
                await journal.append_many(await _journal_records(CAPACITY))
                return await journal.read_after(0, limit=CAPACITY)

    records = asyncio.run(read())
    copies = [json.dumps(r.body) for r in records]

    def build() -> list[Record]:
        return [
            Record(
                journal_seq=r.journal_seq,
                kind=r.kind,
                received_at=r.received_at,
                account=r.account,
                body=json.loads(text),
                raw=bytes(r.raw),
                peer=r.peer,
                transport=r.transport,
                reply=r.reply,
                priority=r.priority,
                hash=r.hash[:],
                prev_hash=r.prev_hash[:],
            )
            for r, text in zip(records, copies, strict=True)
        ]

    return traced(build, len(records))


def dedupe_index() -> float:
    """Bytes per key of the dedupe index."""

    def build() -> DedupeIndex:
        index = DedupeIndex(timedelta(days=1))
        for n in range(MAX_ENTRIES):  # a key: the 32 bytes of a SHA-256, as the receiver's
            index.add(n.to_bytes(32, "big"), n + 1, T0 + timedelta(microseconds=n))
        return index

    return traced(build, MAX_ENTRIES)


def limiter() -> float:
    """Bytes per ID code with a failure."""

    def build() -> Limiter:
        limits = Limiter(5)
        for n in range(MAX_KEYS):
            limits.failed(f"id|{n:06d}|{n:04d}", T0)
        return limits

    return traced(build, MAX_KEYS)


def configuration(encrypted: bool) -> float:
    """Bytes per configured account of the loaded settings and the receiver's account table
    (an account with a key, a name and SP4 supervision)."""
    lines = ['[receiver]\nid = "rx1"\n[journal]\npath = "j.db"\n']
    for n in range(ACCOUNTS):
        key = f'key = "{n:032X}"\n' if encrypted else ""
        lines.append(
            f'[[accounts]]\naccount = "{n:06d}"\nname = "Subscriber {n}"\n{key}'
            '[accounts.supervision]\ncategory = "SP4"\n'
        )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "alarmrx.toml"
        path.write_text("".join(lines), encoding="utf-8")

        def build() -> object:
            settings = load_settings(path)
            return settings, AccountTable(settings)

        return traced(build, ACCOUNTS)


def sia_cache() -> float:
    """Bytes per entry of the SIA DCS block cache, full of distinct blocks as long as kept."""
    blocks = [f"Nri{n % 8 + 1}/BA{n:0{sia_dcs.CACHED_BLOCK - 9}d}" for n in range(4096)]

    def build() -> None:
        sia_dcs.clear_cache()
        for block in blocks:
            sia_dcs.decode(block)

    return traced(build, len(blocks))


def cid_cache() -> float:
    """Bytes per entry of the Contact ID event cache, full."""
    blocks = [f"#1234|1{n % 1000:03d} {n // 1000:02d} {n % 997:03d}" for n in range(4096)]

    def build() -> None:
        contact_id.clear_cache()
        for block in blocks:
            contact_id.decode(block)

    return traced(build, len(blocks))


def _soak_account(account: str, start: int) -> list[Record]:
    """What each soak account holds at the end: 2 areas, 32 open alarms (numeric zones), 64
    alarm records kept by the cards and 64 burglary alarms kept by verification."""
    seq, records = start, []
    for event in (_event("CL", "close", area=1, user=12), _event("CL", "close", area=2, user=13)):
        seq += 1
        records.append(_record(seq, account, event))
    for n in range(VERIFICATION_CAP):
        seq += 1
        event = (
            _event("BA", "alarm", zone=n, area=1)
            if n < VERIFICATION_CAP - 32
            else (_event("HA", "alarm", zone=n))
        )
        records.append(_record(seq, account, event, at=T0 + timedelta(seconds=n)))
    for n in range(VERIFICATION_CAP - 32):
        seq += 1
        records.append(_record(seq, account, _event("BA", "alarm", zone=100 + n, area=2)))
    return records


def resident(accounts: int) -> tuple[float, float]:
    """(RSS, traced) bytes per account of the per-account structures at the soak's fill:
    the state book, the rules' open alarms, the cards' and verification's kept alarms."""
    streams = [_soak_account(f"{n:06d}", n * 1000) for n in range(accounts)]

    def build() -> tuple[object, ...]:
        book, alarms = StateBook(), OpenAlarmCore()
        cards, verification = CardCore({}), VerificationCore({})
        for stream in streams:
            for record in stream:
                book.apply(record)
                alarms.handle(record)
                cards.handle(record)
                verification.handle(record)
        return book, alarms, cards, verification

    gc.collect()
    before = _rss()
    held = build()
    gc.collect()
    grown = (_rss() - before) / accounts
    del held
    return grown, traced(build, accounts)


def _rss() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def derived_record_size() -> int:
    """Bytes of one ``alarm.expired`` body as JSON (the journal's cost of an age-out)."""
    derived = Derived(
        type=DerivedType.ALARM_EXPIRED,
        account="000001",
        at=T0,
        key="alarm.expired|000001|123456:0",
        description="x" * 60,
        refs=(123456,),
        fields={"alarm_seq": 123456, "index": 0, "reason": "age"},
    )
    return len(json.dumps(new_record(derived).body))


def measure() -> list[Cost]:
    """Every structure."""
    typical, typical_state = state_book(_typical_account)
    worst, worst_state = state_book(_worst_account)
    return [
        Cost(
            "account state (publisher), typical",
            "account",
            typical,
            f"retained payload {typical_state} B",
        ),
        Cost(
            "account state (publisher), every bound full",
            "account",
            worst,
            f"retained payload {worst_state} B",
        ),
        Cost(
            "open alarms (rules), at the limit",
            "account",
            open_alarm_core(),
            f"{MAX_OPEN_ALARMS} per account",
        ),
        Cost(
            "alarms kept for cancel/mark/close (cards)",
            "account",
            card_core(),
            f"{CARD_CAP} per account, 31 days",
        ),
        Cost(
            "burglary alarms kept for verification",
            "account",
            verification_core(),
            f"{VERIFICATION_CAP} per account, 24 h",
        ),
        Cost("supervision (one path)", "account", supervision_core(), "per supervised account"),
        Cost(
            "configuration and account table, AES key",
            "account",
            configuration(True),
            "per configured account",
        ),
        Cost("journal tail", "record", tail_records(), f"{CAPACITY} records"),
        Cost("dedupe index", "key", dedupe_index(), f"{MAX_ENTRIES} keys"),
        Cost("PIN failure limiter", "ID code", limiter(), f"{MAX_KEYS} ID codes"),
        Cost("SIA DCS block cache", "entry", sia_cache(), "4096 blocks"),
        Cost("Contact ID event cache", "entry", cid_cache(), "4096 events"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the table (Markdown) and, with --json, the numbers."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument(
        "--rss",
        type=int,
        metavar="ACCOUNTS",
        help="instead: RSS against traced bytes per account, soak-like fill",
    )
    args = parser.parse_args(argv)
    if args.rss:
        grown, seen = resident(args.rss)
        print(f"{args.rss} accounts: RSS {grown:,.0f} B, traced {seen:,.0f} B per account")
        return 0
    costs = measure()
    print("| structure | bytes per | measured | bound |")
    print("| --- | --- | ---: | --- |")
    for cost in costs:
        print(f"| {cost.name} | {cost.unit} | {cost.bytes_per_unit:,.0f} | {cost.bound} |")
    print(f"\nalarm.expired body: {derived_record_size()} bytes of JSON")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(c) for c in costs], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
