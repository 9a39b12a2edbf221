"""Overlapping windows: take, settle, rewind, and the cursor saved behind the publisher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.builders import message, sia

from alarmrx.journal.journal import Journal
from alarmrx.mqtt.outbox import CURSOR, CursorSaver, Outbox
from alarmrx.mqtt.topics import Topics

TOPICS = Topics("alarmrx", "rx1")


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        yield journal


def ids(payloads: tuple[bytes, ...]) -> list[str]:
    return [json.loads(p)["id"] for p in payloads if b'"alarmrx.event.v1"' in p]


async def test_the_next_window_is_read_while_the_first_is_on_the_wire(journal: Journal) -> None:
    for n in range(4):
        await journal.append(message("1", sia("CL", "close", area=n + 1)))
    outbox = Outbox(journal, topics=TOPICS, accounts={}, window=2)
    await outbox.restore()
    first = outbox.plan(await outbox.window())
    outbox.take(first)
    second = outbox.plan(await outbox.window())
    outbox.take(second)
    assert ids(tuple(m.payload for m in first.messages)) == ["rx1:1:0", "rx1:2:0"]
    assert ids(tuple(m.payload for m in second.messages)) == ["rx1:3:0", "rx1:4:0"]
    assert [m.topic for m in second.messages].count("alarmrx/v1/state/1") == 1
    assert (outbox.planned, outbox.cursor) == (4, 0)
    outbox.settle(first)
    assert (outbox.cursor, outbox.backlog) == (2, 2)
    assert await journal.load_cursor(CURSOR) == 0  # settling saves nothing by itself


async def test_rewind_plans_the_unsettled_again_with_the_same_ids(journal: Journal) -> None:
    for n in range(4):
        await journal.append(message("1", sia("BA", "alarm", zone=n + 1)))
    outbox = Outbox(journal, topics=TOPICS, accounts={}, window=2)
    await outbox.restore()
    first = outbox.plan(await outbox.window())
    outbox.take(first)
    outbox.settle(first)
    second = outbox.plan(await outbox.window())
    outbox.take(second)
    outbox.rewind()  # the connection failed with the second window unacknowledged
    again = outbox.plan(await outbox.window())
    assert [m.payload for m in again.messages if "/events/" in m.topic] == [
        m.payload for m in second.messages if "/events/" in m.topic
    ]
    assert "alarmrx/v1/state/1" in [m.topic for m in again.messages]  # its state too
    assert again.last_seq == 4


async def test_cursor_saver_saves_at_once_then_the_latest_value(journal: Journal) -> None:
    saver = CursorSaver(journal, 0, interval_s=0.05)
    saver.want(3)
    saver.want(5)  # while the first save is under way: coalesced
    saver.want(4)  # never backwards
    async with asyncio.timeout(5):
        while saver.saved != 5:  # noqa: ASYNC110 - the saver has no event to wait on
            await asyncio.sleep(0.01)
    assert await journal.load_cursor(CURSOR) == 5
    saver.want(9)
    await saver.flush()
    assert (saver.saved, await journal.load_cursor(CURSOR)) == (9, 9)


async def test_cursor_saver_logs_a_refused_save_and_tries_again(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "journal.db", fsync=False)
    saver = CursorSaver(journal, 0, interval_s=0.01)
    await journal.close()
    saver.want(2)
    await saver.flush()  # the journal is closed: logged, not raised
    assert saver.saved == 0
