"""``alarmrx guard-arrived`` through a real control socket to a real runner: an arrival
stated before the alarm is recorded, and the command warns on stderr (issue 14)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.auth.test_card_cli import cli, daemon
from tests.unit.rules.records import Clock, burglary, message


async def test_guard_arrived_before_the_alarm_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        '[journal]\npath = "journal.db"\nfsync = false\n\n[[accounts]]\naccount = "1"\n',
        encoding="utf-8",
    )
    clock = Clock()
    common = ("--config", str(config), "--account", "1")
    async with daemon(config, clock) as (journal, _):
        alarm = await journal.append(message("1", burglary(3), when=clock()))
        clock.move(600)
        early = (clock() - timedelta(seconds=625.4)).isoformat()
        seq = str(alarm.journal_seq)
        assert await cli("guard-arrived", *common, "--journal-seq", seq, "--at", early) == 0
        warned = capsys.readouterr()
        [reply] = [json.loads(line) for line in warned.out.splitlines() if line.startswith("{")]
        assert reply["ok"] is True and "before the alarm" in reply["warning"]
        assert warned.err.startswith("warning: the guard arrival (")
        assert f"before the alarm of record {seq} was received" in warned.err
        assert await cli("guard-arrived", *common, "--journal-seq", seq) == 0
        assert "warning" not in capsys.readouterr().err
