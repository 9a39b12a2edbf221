"""``[mqtt] url`` with two brokers (two real mosquitto processes standing for the nodes of a
clustered broker): the first is killed under load, the publisher goes on with the second,
every event arrives with the id it had, and the retained status and states are published
again on the second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.test_mqtt_publish import ROOT, publisher, running
from tests.mosquitto import Mosquitto, Subscriber
from tests.unit.builders import RecordingMetrics, cursor_reaches, message, sia

from alarmrx.journal.journal import Journal

pytestmark = pytest.mark.integration

EVENTS = 600
BEFORE_KILL = 150  # events the first broker has passed on before it dies


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        yield journal


async def _append(journal: Journal, start: int, stop: int) -> None:
    """One event per record, appended as a receiver would under load."""
    for n in range(start, stop):
        await journal.append(message(f"{n % 20:04d}", sia("BA", "alarm", zone=n % 30 + 1)))
        if n % 10 == 0:
            await asyncio.sleep(0.002)


async def test_the_second_broker_takes_over_and_nothing_is_lost(
    tmp_path: Path, journal: Journal
) -> None:
    first, second = Mosquitto(tmp_path / "a"), Mosquitto(tmp_path / "b")
    first.start()
    second.start()
    metrics = RecordingMetrics()
    options = {"metrics": metrics, "mqtt": {"url": (first.url, second.url)}}
    try:
        async with (
            Subscriber(first.port, f"{ROOT}/#") as on_first,
            Subscriber(second.port, f"{ROOT}/#") as on_second,
            running(publisher(first, journal, **options)),
        ):
            load = asyncio.create_task(_append(journal, 0, EVENTS))
            await on_first.wait_until(lambda s: len(s.ids) >= BEFORE_KILL)
            first.kill()
            await load
            await on_second.wait_until(lambda s: len(on_first.ids | s.ids) >= EVENTS, 30)
            await cursor_reaches(journal, EVENTS)
            # the retained status and every account's state, on the second broker too
            await on_second.wait_until(lambda s: len(s.json(f"{ROOT}/state/")) >= 20)
    finally:
        first.kill()
        second.kill()

    records = {payload["id"]: payload for payload in on_first.json(f"{ROOT}/events/")}
    again = on_second.json(f"{ROOT}/events/")
    assert len(records | {p["id"]: p for p in again}) == EVENTS  # no event lost, no new id
    assert on_second.ids, "the second broker got events"
    for payload in again:  # a repeat is the same event under the same id
        if payload["id"] in records:
            assert payload == records[payload["id"]]
    statuses = on_second.json(f"{ROOT}/receivers/")
    assert statuses and statuses[0]["status"] == "online"
    assert metrics.brokers[:2] == [first.url, second.url]
    assert "disconnected" in metrics.failures


async def test_a_broker_down_at_start_is_passed_over(tmp_path: Path, journal: Journal) -> None:
    down, up = Mosquitto(tmp_path / "down"), Mosquitto(tmp_path / "up")  # down never starts
    up.start()
    metrics = RecordingMetrics()
    await journal.append(message("1234", sia("BA", "alarm", zone=1)))
    options = {"metrics": metrics, "mqtt": {"url": (down.url, up.url)}}
    try:
        async with (
            Subscriber(up.port, f"{ROOT}/events/#") as sub,
            running(publisher(up, journal, **options)),
        ):
            await sub.wait_until(lambda s: len(s.ids) == 1)
    finally:
        up.kill()
    assert metrics.failures[0] == "connect"
    assert metrics.brokers[0] == up.url
