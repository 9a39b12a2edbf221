"""Retention on a PostgreSQL journal of two chains, against a real PostgreSQL
(tests/postgres.py): each chain loses its old prefix and ends in a checkpoint the rest starts
from, so ``journal verify`` still passes; through the command line too; refused for a young
cut-off or a chain that does not verify; a node writing a pruned chain goes on after it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from tests.postgres import Database
from tests.unit.journal.builders import T0, message

from alarmrx.cli import main
from alarmrx.journal import PruneRefusedError, RecordKind
from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.migrate import migrate_schema
from alarmrx.journal.postgres.prune import prune_chains
from alarmrx.journal.postgres.query import query
from alarmrx.journal.postgres.verify import verify_chains

pytestmark = pytest.mark.integration

CUTOFF = T0 + timedelta(days=30)
NOW = T0 + timedelta(days=90)


@pytest.fixture
async def dsn(postgres: Database) -> str:
    """rx1: 5 old records then 3 new; rx2: 4 old then 2 new; interleaved."""
    dsn = conninfo(postgres.dsn, password=postgres.password_file.read_text().strip())
    migrate_schema(dsn)
    async with (
        await PostgresJournal.open(dsn, chain="rx1") as rx1,
        await PostgresJournal.open(dsn, chain="rx2") as rx2,
    ):
        for n in range(5):
            await rx1.append(message(n, at=T0 + timedelta(hours=n)))
            if n < 4:
                await rx2.append(message(100 + n, at=T0 + timedelta(hours=n, minutes=30)))
        for n in range(3):
            await rx1.append(message(10 + n, at=T0 + timedelta(days=60, hours=n)))
            if n < 2:
                await rx2.append(message(110 + n, at=T0 + timedelta(days=60, hours=n)))
    return dsn


def chain_records(dsn: str, chain: str) -> list[tuple[int, str]]:
    return [(r.chain_seq or 0, r.kind.value) for r in query(dsn) if r.chain == chain]


async def test_each_chain_ends_in_a_checkpoint_and_still_verifies(dsn: str) -> None:
    report = prune_chains(dsn, before=CUTOFF, now=NOW)
    pruned = dict(report.chains)
    assert (pruned["rx1"].pruned, pruned["rx1"].through_seq, pruned["rx1"].checkpoint_seq) == (
        5,
        5,
        9,
    )
    assert (pruned["rx2"].pruned, pruned["rx2"].through_seq, pruned["rx2"].checkpoint_seq) == (
        4,
        4,
        7,
    )
    assert chain_records(dsn, "rx1") == [
        (6, "message"),
        (7, "message"),
        (8, "message"),
        (9, "checkpoint"),
    ]
    assert chain_records(dsn, "rx2")[-1] == (7, "checkpoint")
    verified = verify_chains(dsn)
    assert verified.ok and verified.records == 4 + 3
    async with await PostgresJournal.open(dsn, chain="rx2") as rx2:  # the node goes on
        await rx2.append(message(120, at=NOW))
    assert verify_chains(dsn).ok
    assert prune_chains(dsn, before=CUTOFF, now=NOW).pruned == 0  # nothing older is left


async def test_refused_for_a_young_cutoff_or_a_chain_that_does_not_verify(dsn: str) -> None:
    with pytest.raises(PruneRefusedError, match="younger than 42 days"):
        prune_chains(dsn, before=NOW - timedelta(days=1), now=NOW)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE alarmrx.records SET account = '9999' WHERE chain = 'rx2' AND chain_seq = 2"
        )
    with pytest.raises(PruneRefusedError, match="chain rx2 does not verify"):
        prune_chains(dsn, before=CUTOFF, now=NOW)
    assert len(list(query(dsn))) == 8 + 6  # nothing deleted


async def test_a_node_pruning_while_it_writes_goes_on_after_its_checkpoint(dsn: str) -> None:
    async with await PostgresJournal.open(dsn, chain="rx1") as rx1:
        done = await rx1.prune(before=CUTOFF, now=NOW)  # the daemon's retention: every chain
        assert (done.pruned, done.through_seq, done.checkpoint_seq) == (5 + 4, 5, 9)
        # Its head moved under it: every batch reads the head it locks, so the next one
        # goes on from the checkpoint.
        await rx1.append(message(20, at=NOW))
        await rx1.append(message(21, at=NOW + timedelta(seconds=1)))
    kinds = chain_records(dsn, "rx1")
    assert kinds[3] == (9, RecordKind.CHECKPOINT.value)
    assert [kind for _, kind in kinds[4:]] == ["message", "message"]
    assert verify_chains(dsn).ok


def test_the_command_line_prunes_every_chain(
    dsn: str, postgres: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        f'[receiver]\nid = "rx1"\n\n[journal]\nbackend = "postgresql"\ndsn = "{postgres.dsn}"\n'
        f'password_file = "{postgres.password_file}"\n'
    )
    argv = ["journal", "prune", "--config", str(config), "--before", CUTOFF.isoformat()]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "pruned 9 records, 2 chains",
        "  chain rx1: pruned 5 records through seq 5; checkpoint is record 9",
        "  chain rx2: pruned 4 records through seq 4; checkpoint is record 7",
    ]
    assert main(["journal", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("journal ok: 7 records, 2 chains")
