"""``alarmrx journal backup``, and readers that leave no files behind a closed journal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.journal.builders import T0, execute, message

from alarmrx.cli import main
from alarmrx.journal import Journal, query, verify_chain


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


async def test_backup_of_an_open_journal_holds_what_is_only_in_its_wal(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = path.parent / "copy.db"
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([message(n, at=T0 + timedelta(minutes=n)) for n in range(20)])
        assert path.with_name("journal.db-wal").stat().st_size > 0  # not checkpointed yet
        assert main(["journal", "backup", "--journal", str(path), "--to", str(copy)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backup written to {copy}: 20 records, seq 1..20, head ")
    assert out.endswith("; chain verified\n")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert siblings(copy) == ["copy.db"]  # one self-contained file
    report = verify_chain(copy)
    assert report.ok and report.records == 20
    assert report.last_hash == verify_chain(path).last_hash


async def test_backup_refuses_the_journal_itself_and_a_copy_that_does_not_verify(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([message(n, at=T0 + timedelta(minutes=n)) for n in range(5)])
    assert main(["journal", "backup", "--journal", str(path), "--to", str(path)]) == 2
    assert "is the journal itself" in capsys.readouterr().err
    execute(path, "UPDATE records SET reply = 'NAK' WHERE journal_seq = 3")
    copy = path.parent / "copy.db"
    copy.write_bytes(b"yesterday's backup")
    assert main(["journal", "backup", "--journal", str(path), "--to", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alarmrx journal: the copy does not verify (record 3 edited")
    assert copy.read_bytes() == b"yesterday's backup"  # untouched
    assert siblings(copy) == ["copy.db"]


async def test_readers_create_no_files_beside_a_closed_journal(path: Path) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([message(n, at=T0 + timedelta(minutes=n)) for n in range(5)])
    assert siblings(path) == ["journal.db"]
    assert verify_chain(path).ok
    assert len(list(query(path))) == 5
    assert siblings(path) == ["journal.db"]  # root reading it leaves nothing root-owned


async def test_backup_into_a_missing_directory_names_it(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(message(1))
    target = path.parent / "backups" / "journal.db"
    assert main(["journal", "backup", "--journal", str(path), "--to", str(target)]) != 0
    err = capsys.readouterr().err
    assert err == f"alarmrx journal: directory {target.parent} does not exist; create it first\n"
    assert not target.parent.exists()
