"""``alarmrx journal verify|query|prune`` through the real entry point."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.journal.builders import T0, execute, message

from alarmrx.cli import main
from alarmrx.journal import Journal


@pytest.fixture
async def filled(path: Path) -> Path:
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many(
            [
                message(n, at=T0 + timedelta(hours=n), account=("1234", "5678")[n % 2])
                for n in range(30)
            ]
        )
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["journal", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_verify_ok(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--journal", str(filled))
    assert status == 0
    assert out.startswith("journal ok: 30 records, seq 1..30, head ")
    assert out.count("\n") == 1


def test_verify_names_the_first_bad_record(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(filled, "UPDATE records SET reply = 'NAK' WHERE journal_seq IN (12, 20)")
    status, out, _ = _run(capsys, "verify", "--journal", str(filled))
    assert status == 1
    assert out == "journal BAD: record 12 edited: record 12 does not match its hash\n"


def test_query_json_lines(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys,
        "query",
        "--journal",
        str(filled),
        "--account",
        "1234",
        "--since",
        "2025-03-01T14:00",
        "--until",
        "2025-03-02",
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [line["journal_seq"] for line in lines] == [3, 5, 7, 9, 11]
    required = {"journal_seq", "received_at", "account", "sequence", "token", "events", "raw"}
    assert required | {"hash"} <= set(lines[0])


def test_query_accepts_dates_and_zones(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2025-03-02T01:00+01:00 is midnight UTC, the 12th hour after T0: records 13..30.
    _, out, _ = _run(capsys, "query", "--journal", str(filled), "--since", "2025-03-02T01:00+01:00")
    assert json.loads(out.splitlines()[0])["journal_seq"] == 13
    _, out, _ = _run(capsys, "query", "--journal", str(filled), "--until", "2025-03-02")
    assert len(out.splitlines()) == 12


def test_prune_with_journal_and_before(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "prune", "--journal", str(filled), "--before", "2025-03-02")
    assert status == 0
    assert out == "pruned 12 records through seq 12; checkpoint is record 31\n"
    assert _run(capsys, "verify", "--journal", str(filled))[0] == 0


def test_prune_with_config_uses_the_retention(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        f'[receiver]\nlisten = ["127.0.0.1:12128"]\n\n'
        f'[journal]\npath = "{filled}"\nretention_days = 42\n'
    )
    status, out, err = _run(capsys, "prune", "--config", str(config))
    assert (status, err) == (0, "")
    assert out == "pruned 30 records through seq 30; checkpoint is record 31\n"
    status, out, _ = _run(capsys, "query", "--config", str(config))
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["checkpoint"]


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.db")
    status, out, err = _run(capsys, "verify", "--journal", missing)
    assert (status, out) == (2, "")
    assert err == f"alarmrx journal: no journal at {missing}\n"

    status, _, err = _run(capsys, "prune", "--journal", missing)
    assert status == 2
    assert err.count("\n") == 1
    assert "--before is needed" in err


def test_prune_refusal_is_one_line(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "prune", "--journal", str(filled), "--before", "2999-01-01")
    assert status == 2
    assert err.startswith("alarmrx journal: refusing to prune records younger than 42 days")
    assert err.count("\n") == 1


def test_a_bad_config_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[journal]\nretention_days = 1\n")
    status, _, err = _run(capsys, "verify", "--config", str(config))
    assert status == 78
    assert err.count("\n") == 1
    assert "retention_days" in err
