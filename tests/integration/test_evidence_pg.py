"""Evidence from a PostgreSQL journal of two chains, against a real PostgreSQL
(tests/postgres.py): an account's alarm received by one node and its follow-up by the other
(a failover), exported with each record proven against its own node's chain and anchors
naming both heads; verified without the database; a record changed in the database is
named by ``journal verify`` and by the bundle's verification."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.postgres import Database
from tests.unit.evidence.journal_builder import (
    ACCOUNT,
    REQUEST,
    T,
    alarm,
    at,
    build,
    response,
    user_event,
    verified,
)
from tests.unit.evidence.test_bundle_v1 import STORED
from tests.unit.rules.records import event, message

from alarmrx.cli import main
from alarmrx.evidence import BundleError, export, verify_bundle
from alarmrx.evidence.anchorer import Anchorer
from alarmrx.evidence.bundle import CHAINS_FORMAT, JSON_NAME
from alarmrx.evidence.source_pg import snapshot
from alarmrx.journal import NewRecord
from alarmrx.journal.canonical import chain_hash
from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.migrate import copy_sqlite, migrate_schema
from alarmrx.journal.postgres.rows import SELECT_CONTENT
from alarmrx.journal.postgres.verify import verify_chains
from alarmrx.journal.rows import content_from_row

pytestmark = pytest.mark.integration

NOW = T.replace(day=4)


@dataclass
class Built:
    dsn: str
    seqs: dict[str, int]  # name -> journal_seq
    places: dict[str, tuple[str, int]]  # name -> (chain, chain_seq)


def dsn_of(db: Database) -> str:
    return conninfo(db.dsn, password=db.password_file.read_text().strip())


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def execute(dsn: str, sql: str, *params: Any) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql, params)


def clock(minutes: float) -> Callable[[], datetime]:
    return lambda: at(minutes)


async def build_two_chains(dsn: str) -> Built:
    """Node rx1 receives the arming and the alarm, then the panel fails over to rx2, which
    receives the rest; other accounts' traffic on both; an anchor of both heads after the
    alarm (taken by rx2) and one at the end (taken by rx1)."""
    migrate_schema(dsn)
    built = Built(dsn, {}, {})
    async with (
        await PostgresJournal.open(dsn, chain="rx1") as rx1,
        await PostgresJournal.open(dsn, chain="rx2") as rx2,
    ):

        async def add(name: str | None, journal: PostgresJournal, record: NewRecord) -> int:
            seq = (await journal.append(record)).journal_seq
            if name is not None:
                built.seqs[name] = seq
                built.places[name] = (journal.chain, journal.chain_seq)
            return seq

        async def anchor(name: str, journal: PostgresJournal, minutes: float) -> None:
            await journal.wait_for(max(built.seqs.values()) - 1)  # the horizon includes all
            made = await Anchorer(journal, clock(minutes)).anchor()
            assert made is not None and made.journal_seq is not None
            built.seqs[name] = made.journal_seq
            built.places[name] = (journal.chain, journal.chain_seq)

        await add("armed", rx1, user_event("CL", "close", -30))
        await add(None, rx2, message("9999", event("BA", "alarm", zone=1), when=at(-1)))
        await add("alarm", rx1, alarm(0))
        await add(None, rx1, message("9999", event("BA", "alarm", zone=1), when=at(0.5)))
        await add("verified", rx2, verified(1, built.seqs["alarm"]))
        alerted = response("alerted", 2, journal_seq=built.seqs["alarm"], who="Guard company")
        await add("alerted", rx2, alerted)
        await anchor("anchor1", rx2, 5)
        guard = response("guard_arrived", 20, note="car 12", at=at(11).isoformat())
        await add("guard", rx2, guard)
        await add("keybox", rx2, user_event("DG", "access", 12))
        await add(None, rx1, message("9999", event("OP", "open", area=1), when=at(12.5)))
        await add("disarmed", rx2, user_event("OP", "open", 13))
        await anchor("anchor2", rx1, 15)
    return built


@pytest.fixture
async def built(postgres: Database) -> Built:
    return await build_two_chains(dsn_of(postgres))


def bundle_of(built: Built, out: Path) -> dict[str, Any]:
    export(lambda: snapshot(built.dsn), REQUEST, out, now=NOW)
    data: dict[str, Any] = json.loads((out / JSON_NAME).read_text(encoding="utf-8"))
    return data


async def test_a_bundle_proves_each_record_against_its_own_chain(
    built: Built, tmp_path: Path
) -> None:
    data = bundle_of(built, tmp_path / "bundle")
    assert data["format"] == CHAINS_FORMAT
    (row,) = data["alarms"]
    assert row["journal_seq"] == built.seqs["alarm"]
    assert row["guard_arrived"]["journal_seq"] == built.seqs["guard"]
    assert row["disarmed"]["journal_seq"] == built.seqs["disarmed"]
    assert (row["response_s"], row["verdict"]) == (660.0, "within")
    carried = {(r["chain"], r["chain_seq"]): r["journal_seq"] for r in data["records"]}
    for name in ("alarm", "verified", "alerted", "guard", "keybox", "disarmed"):
        assert carried[built.places[name]] == built.seqs[name], name
    assert {chain for chain, _ in carried} == {"rx1", "rx2"}
    proven = verify_bundle(tmp_path / "bundle")
    assert proven.unanchored == ()
    assert proven.anchored[built.seqs["alarm"]] == built.seqs["anchor1"]  # rx1's record
    assert proven.anchored[built.seqs["verified"]] == built.seqs["anchor1"]  # rx2's
    assert proven.anchored[built.seqs["disarmed"]] == built.seqs["anchor2"]


async def test_one_anchor_names_every_chains_head(built: Built, tmp_path: Path) -> None:
    data = bundle_of(built, tmp_path / "bundle")
    first, second = data["anchors"]
    assert (first["journal_seq"], first["chain"]) == (built.seqs["anchor1"], "rx2")
    heads = {h["chain"]: h for h in second["heads"]}
    stored = rows(built.dsn, "SELECT chain, chain_seq, hash FROM alarmrx.records")
    by_place = {(chain, seq): digest for chain, seq, digest in stored}
    assert set(heads) == {"rx1", "rx2"}
    for chain, head in heads.items():
        assert by_place[chain, head["head_seq"]] == head["head_hash"]
    assert heads["rx2"]["head_seq"] == built.places["disarmed"][1]  # the last of rx2
    assert verify_chains(built.dsn).ok


async def test_a_changed_head_fails_the_anchor(built: Built, tmp_path: Path) -> None:
    directory = tmp_path / "bundle"
    data = bundle_of(built, directory)
    anchor = next(r for r in data["records"] if r["journal_seq"] == built.seqs["anchor2"])
    body = json.loads(anchor["body"])
    body["heads"][1]["head_hash"] = "0" * 64
    anchor["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    (directory / JSON_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(BundleError, match="does not match its hash"):
        verify_bundle(directory)


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("chain_seq", lambda v: v + 1),
        ("body", lambda v: v.replace("car 12", "car 13")),
        ("prev_hash", lambda v: "0" * 64),
    ],
)
async def test_a_changed_field_of_a_bundle_is_named(
    built: Built, tmp_path: Path, field: str, change: Callable[[Any], Any]
) -> None:
    directory = tmp_path / "bundle"
    data = bundle_of(built, directory)
    record = next(r for r in data["records"] if r["journal_seq"] == built.seqs["guard"])
    record[field] = change(record[field])
    (directory / JSON_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(BundleError, match=r"^record \d+ \(chain rx2 seq \d+\): "):
        verify_bundle(directory)


async def test_a_record_moved_to_another_chain_is_no_longer_anchored(
    built: Built, tmp_path: Path
) -> None:
    directory = tmp_path / "bundle"
    data = bundle_of(built, directory)
    record = next(r for r in data["records"] if r["journal_seq"] == built.seqs["guard"])
    record["chain"] = "rx9"
    (directory / JSON_NAME).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    proven = verify_bundle(directory)  # its hash holds, but no chain reaches an anchor now
    assert proven.unanchored == (built.seqs["guard"],)


async def test_a_record_changed_in_the_database_is_named(built: Built, tmp_path: Path) -> None:
    chain, seq = built.places["guard"]
    execute(
        built.dsn,
        "UPDATE alarmrx.records SET body = replace(body, 'car 12', 'car 13') "
        "WHERE chain = %s AND chain_seq = %s",
        chain,
        seq,
    )
    report = dict(verify_chains(built.dsn).chains)
    assert report["rx1"].ok and not report["rx2"].ok
    assert (report["rx2"].first_bad_seq, str(report["rx2"].problem)) == (seq, "edited")
    bundle_of(built, tmp_path / "bundle")
    name = f"record {built.seqs['guard']} (chain rx2 seq {seq})"
    with pytest.raises(BundleError, match="^" + re.escape(f"{name}: does not match its hash")):
        verify_bundle(tmp_path / "bundle")


def rewrite(dsn: str, chain: str, first: int, old: str, new: str) -> None:
    """Change record ``first`` of ``chain`` and rehash the chain from there, head included:
    the chain is consistent again on its own."""
    with psycopg.connect(dsn) as conn:
        stored = conn.execute(
            f"{SELECT_CONTENT} WHERE chain = %s AND chain_seq >= %s ORDER BY chain_seq",
            (chain, first),
        ).fetchall()
        prev = stored[0][10]
        for row in stored:
            content = content_from_row(row)
            if row[0] == first:
                content = dataclasses.replace(content, body=content.body.replace(old, new))
            digest = chain_hash(prev, content)
            conn.execute(
                "UPDATE alarmrx.records SET body = %s, prev_hash = %s, hash = %s "
                "WHERE chain = %s AND chain_seq = %s",
                (content.body, prev, digest, chain, row[0]),
            )
            prev = digest
        conn.execute("UPDATE alarmrx.chain_heads SET hash = %s WHERE chain = %s", (prev, chain))


async def test_a_rewritten_chain_fails_against_the_other_nodes_anchor(built: Built) -> None:
    chain, seq = built.places["guard"]
    rewrite(built.dsn, chain, seq, "car 12", "car 13")
    report = dict(verify_chains(built.dsn).chains)
    assert report["rx1"].ok and not report["rx2"].ok
    named = built.places["disarmed"][1]  # rx2's head, as rx1's anchor named it
    anchor_chain, anchor_seq = built.places["anchor2"]
    assert (report["rx2"].first_bad_seq, str(report["rx2"].problem)) == (named, "edited")
    assert report["rx2"].detail == (
        f"record {named} has another hash than anchor record {built.seqs['anchor2']} "
        f"(chain {anchor_chain} seq {anchor_seq}) names for it: the chain was rewritten"
    )


async def test_a_migrated_sqlite_journal_exports_with_its_old_anchors(
    postgres: Database, tmp_path: Path
) -> None:
    seqs = await build(tmp_path / "journal.db")
    dsn = dsn_of(postgres)
    migrate_schema(dsn)
    copy_sqlite(dsn, tmp_path / "journal.db", chain="rx1", dedupe_window=timedelta(0), now=NOW)
    data = bundle_of(Built(dsn, {}, {}), tmp_path / "bundle")
    stored = json.loads((STORED / JSON_NAME).read_text(encoding="utf-8"))
    assert data["alarms"] == stored["alarms"]  # an empty database: the same journal_seq
    assert [a["heads"] for a in data["anchors"]] == [
        [{"chain": "rx1", "head_seq": a["head_seq"], "head_hash": a["head_hash"]}]
        for a in stored["anchors"]
    ]
    proven = verify_bundle(tmp_path / "bundle")
    assert proven.unanchored == () and proven.anchored[seqs["alarm"]] == seqs["anchor1"]


def config_for(tmp_path: Path, db: Database) -> Path:
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        f'[receiver]\nid = "rx1"\n\n[journal]\nbackend = "postgresql"\ndsn = "{db.dsn}"\n'
        f'password_file = "{db.password_file}"\n\n[[accounts]]\naccount = "{ACCOUNT}"\n'
        'timezone = "Europe/Copenhagen"\n'
    )
    return config


async def test_the_command_line_exports_and_verifies(
    postgres: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = await build_two_chains(dsn_of(postgres))
    config, out = config_for(tmp_path, postgres), tmp_path / "bundle"
    period = ["--since", (T - timedelta(hours=1)).isoformat(), "--until", at(120).isoformat()]
    argv = ["evidence", "export", "--config", str(config), "--account", ACCOUNT, *period]
    assert main([*argv, "--out", str(out)]) == 0
    assert "1 alarm(s)" in capsys.readouterr().out
    assert main(["evidence", "verify", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"anchor record {built.seqs['anchor2']} (chain rx1 seq " in printed
    assert "chain rx2 head_seq" in printed and printed.rstrip().endswith("reaches an anchor")
