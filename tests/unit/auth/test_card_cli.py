"""The card's CLI commands: ``pin-hash`` from stdin, and ``cancel`` / ``mark-false`` /
``change-pin`` / ``temporary-change`` through a real control socket to a real runner."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from tests.unit.auth.test_runner_auth import cheap_hash, eventually
from tests.unit.rules.records import Clock, burglary, message

from alarmrx.cli import main
from alarmrx.config import load_settings
from alarmrx.control import ControlServer, socket_path
from alarmrx.journal.journal import Journal
from alarmrx.rules import RulesRunner
from alarmrx.rules.auth import verify_pin


def test_pin_hash_reads_stdin_and_refuses_the_factory_pin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("52917\n"))
    assert main(["pin-hash"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("scrypt$16384$8$1$") and verify_pin("52917", printed)
    monkeypatch.setattr("sys.stdin", io.StringIO("0000\n"))
    assert main(["pin-hash"]) == 2
    assert "factory PIN" in capsys.readouterr().err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "alarmrx.toml"
    path.write_text(
        f"""
[journal]
path = "journal.db"
fsync = false

[[accounts]]
account = "1"

[[accounts.card.contacts]]
id_code = "1001"
name = "Owner"
role = "authorised"
pin_hash = "{cheap_hash("4711")}"
""",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def daemon(config: Path, clock: Clock) -> AsyncIterator[tuple[Journal, RulesRunner]]:
    settings = load_settings(config, environ={})
    async with await Journal.open(settings.journal.path, fsync=False) as journal:
        runner = RulesRunner.from_accounts(journal, settings.accounts, clock=clock)
        control = ControlServer(socket_path(settings.journal.path), runner.command)
        task = asyncio.create_task(runner.run())
        await control.start()
        try:
            await eventually(lambda: runner.ready)
            yield journal, runner
        finally:
            await control.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_operator_commands_over_the_control_socket(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    common = ("--config", str(config), "--account", "1")
    async with daemon(config, clock) as (journal, runner):
        seq = str((await journal.append(message("1", burglary(3), when=clock()))).journal_seq)
        assert (
            await cli("cancel", *common, "--journal-seq", seq, "--id-code", "1001", "--by", "alice")
            == 0
        )
        assert (
            await cli(
                "mark-false", *common, "--journal-seq", seq, "--police-alerted", "--by", "bob"
            )
            == 0
        )
        assert await cli("temporary-change", *common, "--note", "painters", "--duration", "8h") == 0
        assert await cli("cancel", *common, "--journal-seq", seq, "--id-code", "9") == 1
        monkeypatch.setattr("sys.stdin", io.StringIO("52917\n"))
        assert await cli("change-pin", *common, "--id-code", "1001") == 0
        out = capsys.readouterr().out.splitlines()
        replies = [json.loads(line) for line in out if line.startswith("{")]
        assert [r["ok"] for r in replies] == [True, True, True, False, True]
        subscriber = {
            "action": "test_mode",
            "account": "1",
            "on": True,
            "duration_s": 60,
            "id_code": "1001",
            "pin": "52917",
            "source": "mqtt",
        }
        assert (await runner.command(subscriber))["ok"] is True
        records = await journal.read_after(0, limit=100)
        await eventually(lambda: runner.position >= records[-1].journal_seq)
    bodies = [r.body for r in await journal_records(config)]
    false = next(b for b in bodies if b.get("type") == "alarm.false")
    assert (false["counted"], false["not_counted"], false["by"]) == (
        False,
        "cancelled in time",
        "bob",
    )
    assert any(b.get("type") == "card.temporary" for b in bodies)
    assert "52917" not in json.dumps(bodies)


async def journal_records(config: Path) -> list[object]:
    settings = load_settings(config, environ={})
    async with await Journal.open(settings.journal.path, fsync=False) as journal:
        return list(await journal.read_after(0, limit=100))


async def test_close_alarm_over_the_control_socket(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    common = ("--config", str(config), "--account", "1")
    async with daemon(config, clock) as (journal, runner):
        seq = (await journal.append(message("1", burglary(3), when=clock()))).journal_seq
        await eventually(lambda: runner.position >= seq)
        close = ("close-alarm", *common, "--journal-seq", str(seq), "--by", "carol")
        assert await cli(*close, "--note", "panel never restores") == 0
        assert await cli(*close) == 1  # already closed
        out = capsys.readouterr().out.splitlines()
        replies = [json.loads(line) for line in out if line.startswith("{")]
        assert [r["ok"] for r in replies] == [True, False]
        await eventually(lambda: runner.position >= replies[0]["journal_seq"] + 1)
    bodies = [r.body for r in await journal_records(config)]
    closed = next(b for b in bodies if b.get("type") == "alarm.closed")
    assert (closed["alarm_seq"], closed["by"], closed["note"]) == (
        seq,
        "carol",
        "panel never restores",
    )
