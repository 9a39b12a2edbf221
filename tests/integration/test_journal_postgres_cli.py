"""``alarmrx journal migrate|verify|query`` with ``[journal] backend = "postgresql"``, through
the real entry point, against a real PostgreSQL: a SQLite journal moved over stays
verifiable and the node's chain goes on from its checkpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from tests.postgres import Database, free_port
from tests.unit.journal.builders import T0, message

from alarmrx.cli import main
from alarmrx.journal import Journal, NewRecord, RecordKind, prune
from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.schema import SCHEMA_VERSION
from alarmrx.journal.postgres.verify import verify_chains

pytestmark = pytest.mark.integration


def config_for(tmp_path: Path, dsn: str, password_file: Path) -> Path:
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        f'[receiver]\nid = "rx1"\n\n[journal]\nbackend = "postgresql"\ndsn = "{dsn}"\n'
        f'password_file = "{password_file}"\n'
    )
    return config


@pytest.fixture
def config(tmp_path: Path, postgres: Database) -> Path:
    return config_for(tmp_path, postgres.dsn, postgres.password_file)


def dsn_of(db: Database) -> str:
    return conninfo(db.dsn, password=db.password_file.read_text().strip())


T1 = T0 + timedelta(days=60)  # when the old records are pruned and the newer ones arrive


@pytest.fixture
async def sqlite_journal(tmp_path: Path) -> Path:
    """Records 11..31: 10 kept of 20 after pruning, the prune checkpoint, 10 newer ones (a
    retransmission of the last counted), and a consumer cursor."""
    path = tmp_path / "journal.db"
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([message(n, at=T0 + timedelta(hours=n)) for n in range(20)])
    pruned = prune(path, before=T0 + timedelta(hours=10), now=T1)
    assert (pruned.pruned, pruned.checkpoint_seq) == (10, 21)
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([recent(n) for n in range(20, 30)])
        assert (await journal.append(recent(29))).duplicate
        await journal.save_cursor("mqtt", 25)
    return path


def recent(n: int) -> NewRecord:
    return message(n, at=T1 + timedelta(seconds=n), key=b"k%d" % n)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["journal", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_migrate_creates_the_schema_once(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "migrate", "--config", str(config))
    assert status == 0 and out.endswith(f": schema version {SCHEMA_VERSION} (was 0)\n")
    status, out, _ = run(capsys, "migrate", "--config", str(config))
    assert status == 0 and out.endswith(f": schema version {SCHEMA_VERSION}\n")
    status, out, _ = run(capsys, "verify", "--config", str(config))
    assert (status, out) == (0, "journal ok: 0 records, 0 chains\n")


async def test_a_sqlite_journal_moves_over_and_the_chain_goes_on(
    config: Path, postgres: Database, sqlite_journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "migrate", "--config", str(config), "--from", f"sqlite:{sqlite_journal}"
    )
    assert status == 0, err
    assert f"copied 21 records of {sqlite_journal} into chain rx1 (through seq 31)" in out
    assert "the checkpoint is chain record 32; 1 consumer cursors moved" in out

    status, out, _ = run(capsys, "verify", "--config", str(config))
    assert status == 0
    assert out.splitlines()[1].startswith("  chain rx1: ok: 22 records, seq 11..32, head ")

    db = dsn_of(postgres)
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        assert journal.chain_seq == 32
        # a retransmission of a copied record is still recognised
        again = await journal.append(recent(29))
        assert again.duplicate
        new = await journal.append(message(99, at=T1 + timedelta(hours=1)))
        moved = await journal.load_cursor("mqtt")
        await journal.wait_for(new.journal_seq - 1)
        records = await journal.read_after(0, limit=100)
    by_seq = {r.journal_seq: r for r in records}
    assert by_seq[moved].chain_seq == 25  # the cursor names the same record as before
    assert by_seq[again.journal_seq].repeats == 2
    checkpoint = records[-2]
    assert checkpoint.kind is RecordKind.CHECKPOINT and checkpoint.chain_seq == 32
    assert checkpoint.body["source_last_seq"] == 31
    assert checkpoint.body["source_last_hash"] == records[-3].hash
    assert records[-1].prev_hash == checkpoint.hash

    status, out, _ = run(capsys, "query", "--config", str(config), "--account", "1234")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(lines) == 21  # the checkpoints have no account
    assert [line["chain_seq"] for line in lines] == [*range(11, 21), *range(22, 32), 33]
    assert {line["chain"] for line in lines} == {"rx1"}
    assert verify_chains(db).ok


def test_a_second_copy_is_refused(
    config: Path, sqlite_journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:{sqlite_journal}"
    assert run(capsys, "migrate", "--config", str(config), "--from", source)[0] == 0
    status, _, err = run(capsys, "migrate", "--config", str(config), "--from", source)
    assert status == 2
    assert err.strip().endswith("chain 'rx1' already holds 22 records: nothing copied")
    assert err.count("\n") == 1


def test_verify_exits_1_naming_the_chain_and_record(
    config: Path, postgres: Database, sqlite_journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "migrate", "--config", str(config), "--from", f"sqlite:{sqlite_journal}")
    with psycopg.connect(dsn_of(postgres)) as conn:
        conn.execute("UPDATE alarmrx.records SET reply = 'NAK' WHERE chain_seq = 20")
    status, out, _ = run(capsys, "verify", "--config", str(config))
    assert status == 1
    assert out.splitlines() == [
        "journal BAD: 9 records, 1 chain",
        "  chain rx1: BAD: record 20 edited: record 20 does not match its hash",
    ]


def test_an_unreachable_database_is_one_line(
    tmp_path: Path, postgres: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = f"host=127.0.0.1 port={free_port()} dbname=x user=alarmrx"
    config = config_for(tmp_path, dsn, postgres.password_file)
    for action in ("migrate", "verify", "query"):
        status, _, err = run(capsys, action, "--config", str(config))
        assert status == 2
        assert err.startswith("alarmrx journal: postgresql 127.0.0.1/x: connection failed")
        assert err.count("\n") == 1 and "test-only-password" not in err


def test_migrate_needs_the_postgresql_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "alarmrx.toml"
    config.write_text('[receiver]\nid = "rx1"\n')
    status, _, err = run(capsys, "migrate", "--config", str(config))
    assert status == 78 and 'needs [journal] backend = "postgresql"' in err
