"""The frame handler against a real journal: no ACK before the commit, none without it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.daemon import frame
from tests.unit.protocols.helpers import frame as raw_frame

from alarmrx.config import AccountTable, ReceiverSettings, Settings
from alarmrx.config.model import AccountSettings
from alarmrx.journal import Journal
from alarmrx.journal.writer import WriterHooks
from alarmrx.protocols import Reply
from alarmrx.protocols.dc09 import crypto
from alarmrx.receiver import FrameHandler, Outcome


class Recorder:
    """Counts what the handler reports (a ReceiverMetrics)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, args))


def _handler(journal: Journal, **receiver: object) -> FrameHandler:
    settings = Settings(
        source=Path("test.toml"),
        receiver=ReceiverSettings(**receiver),  # type: ignore[arg-type]
        accounts=(AccountSettings(account="1234"),),
    )
    return FrameHandler(
        settings=settings.receiver,
        accounts=AccountTable(settings),
        sink=journal,
        metrics=Recorder(),  # type: ignore[arg-type]
    )


async def _handle(handler: FrameHandler, data: bytes) -> Outcome:
    return await handler.handle(data, peer="p", transport="tcp", received_at=datetime.now(UTC))


async def test_ack_waits_for_the_commit(tmp_path: Path) -> None:
    """While the commit is held back, the handler has no reply to give."""
    gate = threading.Event()
    hooks = WriterHooks(before_commit=lambda _conn: gate.wait(10))
    async with await Journal.open(tmp_path / "j.db", hooks=hooks) as journal:
        handler = _handler(journal)
        task = asyncio.create_task(_handle(handler, frame("1234", "#1234|NBA1")))
        await asyncio.sleep(0.3)
        assert not task.done()
        gate.set()
        outcome = await asyncio.wait_for(task, 5)
        assert outcome.kind is Reply.ACK
        assert outcome.reply is not None
        assert journal.last_seq == 1


async def test_no_ack_when_the_commit_fails(tmp_path: Path) -> None:
    """A failing disk means silence (the panel retries), and ACKs resume when it heals."""
    failing = threading.Event()
    failing.set()

    def before_commit(_conn: sqlite3.Connection) -> None:
        if failing.is_set():
            raise sqlite3.OperationalError("disk I/O error")

    async with await Journal.open(tmp_path / "j.db", hooks=WriterHooks(before_commit)) as journal:
        handler = _handler(journal)
        sent = frame("1234", "#1234|NBA1")
        outcome = await handler.handle(
            sent, peer="p", transport="tcp", received_at=datetime.now(UTC)
        )
        assert outcome.reply is None
        assert outcome.kind is Reply.NONE
        assert not journal.healthy
        failing.clear()
        outcome = await handler.handle(
            sent, peer="p", transport="tcp", received_at=datetime.now(UTC)
        )
        assert outcome.kind is Reply.ACK
        assert journal.healthy


async def test_unknown_accounts_accept_policy_is_capped(tmp_path: Path) -> None:
    """With unknown_accounts = accept, new unknown accounts beyond the cap get DUH."""
    async with await Journal.open(tmp_path / "j.db") as journal:
        handler = _handler(journal, unknown_accounts="accept", max_unknown_accounts=3)
        kinds = []
        for n in range(5):
            account = f"9{n:03d}"
            outcome = await _handle(handler, frame(account, f"#{account}|NBA1"))
            kinds.append(outcome.kind)
        assert kinds == [Reply.ACK] * 3 + [Reply.DUH] * 2


@pytest.mark.parametrize("nak", [False, True])
async def test_corrupt_frames_silent_unless_nak_on_corrupt(tmp_path: Path, nak: bool) -> None:
    """CRC errors get no reply by default, a NAK with nak_on_corrupt."""
    async with await Journal.open(tmp_path / "j.db") as journal:
        handler = _handler(journal, nak_on_corrupt=nak)
        good = frame("1234", "#1234|NBA1")
        bad = good[:1] + b"0000" + good[5:]
        outcome = await handler.handle(
            bad, peer="p", transport="tcp", received_at=datetime.now(UTC)
        )
        assert (outcome.reply is not None) is nak
        assert outcome.kind is (Reply.NAK if nak else Reply.NONE)


async def test_a_commit_past_the_deadline_is_answered_with_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung disk: no ACK once the deadline passed, even when the commit comes back later."""
    monkeypatch.setattr("alarmrx.receiver.handler.COMMIT_TIMEOUT_S", 0.2)
    gate = threading.Event()
    hooks = WriterHooks(before_commit=lambda _conn: gate.wait(10))
    async with await Journal.open(tmp_path / "j.db", hooks=hooks) as journal:
        handler = _handler(journal)
        answers: list[Outcome] = []
        for n in (1, 2):
            handler.receive(
                frame("1234", f"#1234|NBA{n}", sequence=n),
                peer="p",
                transport="tcp",
                received_at=datetime.now(UTC),
                answer=answers.append,
            )
        assert handler.waiting == 2
        await asyncio.sleep(0.5)
        assert [a.kind for a in answers] == [Reply.NONE, Reply.NONE]
        gate.set()
        await asyncio.wait_for(journal.wait_for(1), 5)  # durable after all: a retry will
        await asyncio.sleep(0.05)  # be recognised as a repeat
        assert len(answers) == 2  # the late commit did not answer again


KEY_HEX = "0123456789ABCDEF0123456789ABCDEF"
KEY = bytes.fromhex(KEY_HEX)


def _keyed_handler(
    journal: Journal, metrics: Recorder | None = None, **options: object
) -> FrameHandler:
    """Account 5678 with KEY; ``options``: ReceiverSettings fields, or ``random_bytes``."""
    random_bytes = options.pop("random_bytes", None)
    settings = Settings(
        source=Path("test.toml"),
        receiver=ReceiverSettings(**options),  # type: ignore[arg-type]
        accounts=(AccountSettings(account="5678", key=KEY),),
    )
    return FrameHandler(
        settings=settings.receiver,
        accounts=AccountTable(settings),
        sink=journal,
        metrics=metrics or Recorder(),  # type: ignore[arg-type]
        **({"random_bytes": random_bytes} if random_bytes else {}),  # type: ignore[arg-type]
    )


def _ack_pad(reply: bytes) -> int:
    """The pad length of an *ACK (its cleartext is pad | ] _timestamp)."""
    ciphertext = bytes.fromhex(reply[reply.index(b"[") + 1 : -1].decode())
    return crypto.decrypt(KEY, ciphertext).index(b"|]")


async def test_reload_while_committing_still_acks_with_the_parse_time_key(
    tmp_path: Path,
) -> None:
    """SIGHUP removes the account while its frame commits: the *ACK is built with the key
    found when the frame was parsed, and the frame is answered."""
    gate = threading.Event()
    hooks = WriterHooks(before_commit=lambda _conn: gate.wait(10))
    async with await Journal.open(tmp_path / "j.db", hooks=hooks) as journal:
        handler = _keyed_handler(journal)
        task = asyncio.create_task(_handle(handler, frame("5678", "#5678|NBA1", key=KEY_HEX)))
        await asyncio.sleep(0.2)
        empty = Settings(source=Path("test.toml"))
        handler.reload(empty.receiver, AccountTable(empty))
        gate.set()
        outcome = await asyncio.wait_for(task, 5)
        assert outcome.kind is Reply.ACK and outcome.reply is not None
        assert b'"*ACK"' in outcome.reply and _ack_pad(outcome.reply) >= 1


async def test_a_reply_that_cannot_be_built_is_answered_with_silence(tmp_path: Path) -> None:
    """A bug while building the reply costs that reply only: the frame is answered (no
    bytes), counted, and the next frame is served."""
    calls: list[int] = []

    def flaky(size: int) -> bytes:
        calls.append(size)
        if len(calls) == 1:
            raise RuntimeError("no entropy")
        return bytes(range(1, size + 1))

    metrics = Recorder()
    async with await Journal.open(tmp_path / "j.db") as journal:
        handler = _keyed_handler(journal, metrics, random_bytes=flaky)
        first = await _handle(handler, frame("5678", "#5678|NBA1", sequence=1, key=KEY_HEX))
        assert first.reply is None and first.kind is Reply.NONE
        assert ("internal_error", ("reply",)) in metrics.calls
        second = await _handle(handler, frame("5678", "#5678|NBA2", sequence=2, key=KEY_HEX))
        assert second.kind is Reply.ACK


@pytest.mark.parametrize(
    ("long_pad", "panel_pad", "expect_long"),
    [(False, 15, False), (False, 31, True), (True, 15, True)],
)
async def test_ack_pad_copies_the_panels_style(
    tmp_path: Path, long_pad: bool, panel_pad: int, expect_long: bool
) -> None:
    """A panel that padded with 16 bytes or more gets a 16-31-byte pad back; ``long_pad``
    forces that for every panel."""
    stamp = datetime.now(UTC).strftime("_%H:%M:%S,%m-%d-%Y")
    body = f"|#5678|NBA12]{stamp}".encode()  # 33 bytes: a pad of 15 or 31
    sealed = crypto.encrypt(KEY, b"p" * panel_pad + body).hex()
    metrics = Recorder()
    async with await Journal.open(tmp_path / "j.db") as journal:
        handler = _keyed_handler(journal, metrics, long_pad=long_pad)
        outcome = await _handle(handler, raw_frame(f'"*SIA-DCS"0001L0#5678[{sealed}'))
        assert outcome.reply is not None
        assert (_ack_pad(outcome.reply) >= 16) is expect_long


async def test_each_encrypted_ack_uses_its_own_accounts_key(tmp_path: Path) -> None:
    """Frames of two accounts with different keys, read in one turn: every *ACK is encrypted
    with the key of the account whose frame it answers."""
    other_key = bytes(range(16, 32))
    settings = Settings(
        source=Path("test.toml"),
        accounts=(
            AccountSettings(account="5678", key=KEY),
            AccountSettings(account="9999", key=other_key),
        ),
    )
    async with await Journal.open(tmp_path / "j.db") as journal:
        handler = FrameHandler(
            settings=settings.receiver,
            accounts=AccountTable(settings),
            sink=journal,
            metrics=Recorder(),  # type: ignore[arg-type]
        )
        keys = [KEY, other_key] * 3
        sent = [
            frame(account, f"#{account}|NBA{n}", sequence=n, key=key.hex())
            for n, (account, key) in enumerate(zip(["5678", "9999"] * 3, keys, strict=True), 1)
        ]
        outcomes = await asyncio.gather(*(_handle(handler, data) for data in sent))
        for outcome, key in zip(outcomes, keys, strict=True):
            assert outcome.kind is Reply.ACK and outcome.reply is not None
            ciphertext = bytes.fromhex(outcome.reply[outcome.reply.index(b"[") + 1 : -1].decode())
            assert b"|]_" in crypto.decrypt(key, ciphertext)
