"""``alarmrx evidence export|verify`` and ``alarmrx report openclose`` from the command line,
and the anchor record's pure part."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.evidence.journal_builder import ACCOUNT, build

from alarmrx.cli import main
from alarmrx.evidence.anchor import (
    anchor_body,
    anchor_due,
    anchor_payload,
    anchor_record,
    anchor_topic,
    parse_anchor,
    single_anchor,
)
from alarmrx.journal import RecordKind

CONFIG = f"""
[journal]
path = "journal.db"
fsync = false

[[accounts]]
account = "{ACCOUNT}"
name = "Bakery"
timezone = "Europe/Copenhagen"

[accounts.insurance]
level = 40

[evidence]
keybox_codes = ["DG"]
reaction_minutes = {{ "40" = 10 }}
follow_up_s = 3600
"""
PERIOD = ["--since", "2025-03-03T21:00+01:00", "--until", "2025-03-04"]


@pytest.fixture
async def config(tmp_path: Path) -> Path:
    await build(tmp_path / "journal.db", late_alarm=True)
    path = tmp_path / "alarmrx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


async def test_export_then_verify(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = config.parent / "bundle"
    assert (
        main(
            [
                "evidence",
                "export",
                "--config",
                str(config),
                "--account",
                ACCOUNT,
                *PERIOD,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr()
    assert "2 alarm(s)" in printed.out and "not anchored yet: record(s) 12" in printed.err
    assert f"alarmrx anchor --config {config}" in printed.err
    data = json.loads((out / "evidence.json").read_text())
    assert data["parameters"]["required_minutes"] == 10.0
    assert [a["verdict"] for a in data["alarms"]] == ["late", "no guard arrival"]
    assert main(["evidence", "verify", str(out)]) == 3  # intact, one record not anchored
    assert "evidence UNANCHORED" in capsys.readouterr().out
    text = (out / "evidence.json").read_text().replace('"kind": "message"', '"kind": "messagf"', 1)
    (out / "evidence.json").write_text(text)
    assert main(["evidence", "verify", str(out)]) == 1
    assert capsys.readouterr().out.startswith("evidence BAD: record ")


async def test_verify_of_a_fully_anchored_bundle(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = config.parent / "bundle"
    period = ["--since", "2025-03-03T21:00Z", "--until", "2025-03-03T21:30Z"]
    main(
        [
            "evidence",
            "export",
            "--config",
            str(config),
            "--account",
            ACCOUNT,
            *period,
            "--out",
            str(out),
        ]
    )
    capsys.readouterr()
    assert main(["evidence", "verify", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("anchor record 6: head_seq 5 head_hash ")
    assert lines[-1].startswith("evidence ok: account 1234, 1 alarm(s)")


async def test_report_openclose_csv_and_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "report",
        "openclose",
        "--config",
        str(config),
        "--account",
        ACCOUNT,
        "--since",
        "2025-03-03",
        "--until",
        "2025-03-04",
    ]
    assert main([*base, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("journal_seq,local_time,received_at,action,user,area,code")
    assert lines[1:] == [
        "1,2025-03-03 21:30:00+01:00,2025-03-03T20:30:00.000000+00:00,armed,7,1,CL,CL,",
        "10,2025-03-03 22:13:00+01:00,2025-03-03T21:13:00.000000+00:00,disarmed,7,1,OP,OP,",
    ]
    assert main([*base, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["action"], r["user"], r["area"]) for r in rows] == [
        ("armed", 7, 1),
        ("disarmed", 7, 1),
    ]
    assert main([*base[:5], "nobody", *base[6:]]) == 2
    assert "not configured" in capsys.readouterr().err


def test_anchor_record_and_payload() -> None:
    at = datetime(2025, 3, 3, 21, 5, tzinfo=UTC)
    record = anchor_record(41, "ab" * 32, at)
    assert record.kind is RecordKind.ANCHOR and record.account is None
    assert (
        record.body
        == anchor_body(41, "ab" * 32, at)
        == {"head_seq": 41, "head_hash": "ab" * 32, "at": "2025-03-03T21:05:00.000000+00:00"}
    )
    anchor = parse_anchor(record.body, 42)
    assert anchor == single_anchor(41, "ab" * 32, at, 42)
    payload = json.loads(anchor_payload(anchor, "rx1"))
    assert payload["journal_seq"] == 42 and payload["schema"] == "alarmrx.anchor.v1"
    assert anchor_topic("alarmrx", "rx1") == "alarmrx/v1/receivers/rx1/anchor"
    assert parse_anchor({"head_seq": "41"}) is None


def test_anchor_due_only_when_the_head_moved_and_the_interval_passed() -> None:
    at = datetime(2025, 3, 3, 21, 5, tzinfo=UTC)
    assert anchor_due(None, head_seq=0, now=at) is False
    assert anchor_due(None, head_seq=1, now=at) is True
    last = single_anchor(41, "ab" * 32, at, 42)
    later = at + timedelta(minutes=5)
    assert anchor_due(last, head_seq=42, now=later) is False  # only the anchor itself
    assert anchor_due(last, head_seq=43, now=later - timedelta(seconds=1)) is False
    assert anchor_due(last, head_seq=43, now=later) is True
