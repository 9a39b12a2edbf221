"""The MQTT publisher against a real mosquitto and a real journal file."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.mosquitto import Mosquitto, Subscriber
from tests.unit.builders import (
    RECEIVER_ID,
    RecordingMetrics,
    cid,
    cursor_reaches,
    derived,
    message,
    sia,
    validator,
)

from alarmrx.config import AccountSettings, MQTTSettings, ZoneSettings
from alarmrx.journal.journal import Journal
from alarmrx.mqtt.broker import Backoff
from alarmrx.mqtt.order import effective_priorities
from alarmrx.mqtt.outbox import CURSOR
from alarmrx.mqtt.publish import MQTTPublisher

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
FAST = Backoff(initial_s=0.05, cap_s=0.4)
ACCOUNTS = {
    "1234": AccountSettings(account="1234", name="Shop", zones=(ZoneSettings(zone=5, name="Hall"),))
}


def settings(broker: Mosquitto, **overrides: Any) -> MQTTSettings:
    values: dict[str, Any] = {"url": broker.url, "publish_timeout_s": 5.0, "keepalive_s": 5}
    return MQTTSettings(**(values | overrides))


@contextlib.asynccontextmanager
async def running(publisher: MQTTPublisher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(publisher.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def publisher(broker: Mosquitto, journal: Journal, **options: Any) -> MQTTPublisher:
    mqtt = options.pop("mqtt", {})
    return MQTTPublisher(
        settings(broker, **mqtt),
        receiver_id=RECEIVER_ID,
        journal=journal,
        accounts=options.pop("accounts", ACCOUNTS),
        metrics=options.pop("metrics", None),
        version="0.1.0",
        listeners=["127.0.0.1:12128"],
        backoff=FAST,
        **options,
    )


def event_ids(sub: Subscriber) -> list[str]:
    return [p["id"] for p in sub.json(f"{ROOT}/events/")]


def has_events(count: int) -> Callable[[Subscriber], bool]:
    return lambda sub: len(sub.ids) >= count


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        yield journal


MIXED = [
    message("1234", sia("CL", "close", area=1, user=2)),
    message(
        "1234",
        sia("BA", "alarm", zone=5, area=1),
        sia("BA", "alarm", zone=6, area=1),
        sia("YT", "trouble"),
    ),
    message("0042", cid("120", 1, "alarm", zone=3)),
    message("0042", cid("130", 3, "restore", zone=3)),
    message("a/b+#", sia("FA", "alarm", zone=1)),
    derived("1234", "supervision.lost", "trouble", refs=(1,)),
    message("1234", sia("OP", "open", area=1, user=2), test=True),
]
MIXED_EVENTS = 9
REFRESH_S = 1.0  # states that only moved last_event_at go out after this (10 s by default)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_every_event_arrives_and_validates(
    mosquitto: Mosquitto, journal: Journal, protocol: str
) -> None:
    for record in MIXED:
        await journal.append(record)
    metrics = RecordingMetrics()
    async with (
        Subscriber(mosquitto.port, "alarmrx/#") as sub,
        running(
            publisher(
                mosquitto,
                journal,
                metrics=metrics,
                mqtt={"protocol": protocol},
                state_refresh_s=REFRESH_S,
            )
        ),
    ):
        await sub.wait_until(has_events(MIXED_EVENTS))
        await journal.append(message("1234", sia("BR", "restore", zone=5)))  # a live one too
        await sub.wait_until(has_events(MIXED_EVENTS + 1))
        await sub.wait_until(lambda s: len(s.json(f"{ROOT}/state/")) >= 4)
        await metrics.wait_until(lambda m: m.backlog[-1:] == [0])

    events, states = sub.json(f"{ROOT}/events/"), sub.json(f"{ROOT}/state/")
    for payload in events:
        validator("event").validate(payload)
    for payload in states:
        validator("state").validate(payload)
    for payload in sub.json(f"{ROOT}/receivers/"):
        validator("receiver-status").validate(payload)
    assert {t for t, _, _ in sub.messages if "/events/" in t} == {
        f"{ROOT}/events/1234",
        f"{ROOT}/events/0042",
        f"{ROOT}/events/a%2Fb%2B%23",
    }
    by_id = {p["id"]: p for p in events}
    assert by_id["rx1:2:0"]["zone_name"] == "Hall"
    assert by_id["rx1:6:0"]["type"] == "supervision.lost"
    assert by_id["rx1:7:0"]["test"] is True
    assert await journal.load_cursor(CURSOR) == 8
    assert len(metrics.latencies) >= MIXED_EVENTS + 1
    assert metrics.connected[0] is True


async def test_broker_outage_delays_and_drops_nothing(tmp_path: Path, journal: Journal) -> None:
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    metrics = RecordingMetrics()
    sub = Subscriber(broker.port, f"{ROOT}/events/#", client_id="outage-sub", persistent=True)
    await sub.connect()
    try:
        async with running(publisher(broker, journal, metrics=metrics)):
            await journal.append(message("1", sia("RP", "test")))
            await sub.wait_until(has_events(1))
            broker.stop()
            for n in range(1000):
                await journal.append(
                    message(f"{n % 7}", sia("BA", "alarm", zone=n % 50 + 1), sequence=f"{n:04d}")
                )
            await metrics.wait_until(lambda m: len(m.failures) >= 2)
            assert await journal.load_cursor(CURSOR) == 1  # nothing acked, nothing advanced
            assert metrics.connected[-1] is False
            broker.start()
            await sub.close()
            await sub.connect()
            await sub.wait_until(has_events(1001), within_s=30)
            await metrics.wait_until(lambda m: m.backlog[-1:] == [0])
        assert await journal.load_cursor(CURSOR) == 1001
        assert set(event_ids(sub)) == {f"rx1:{seq}:0" for seq in range(1, 1002)}
        assert set(metrics.failures) <= {"connect", "disconnected", "timeout"}
    finally:
        await sub.close()
        broker.kill()


async def test_cancelled_mid_publish_then_restarted(mosquitto: Mosquitto, journal: Journal) -> None:
    count = 3000
    await journal.append_many(
        [message(f"{n % 10}", sia("BA", "alarm", zone=n % 9 + 1)) for n in range(count)]
    )
    async with Subscriber(mosquitto.port, f"{ROOT}/events/#") as sub:
        async with running(publisher(mosquitto, journal, window=count)):
            await sub.wait_until(lambda s: len(s.messages) >= 1)
        # cancelled mid-window: part of it went out, the cursor did not move
        assert await journal.load_cursor(CURSOR) == 0
        async with running(publisher(mosquitto, journal, window=count)):
            await sub.wait_until(has_events(count), within_s=30)
            await cursor_reaches(journal, count)
    payloads: dict[str, bytes] = {}
    for topic, payload, _ in sub.messages:
        event_id = json.loads(payload)["id"]
        assert payloads.setdefault(event_id, payload) == payload, topic  # redelivery: same bytes
    assert set(payloads) == {f"rx1:{seq}:0" for seq in range(1, count + 1)}


async def test_backlog_goes_out_by_priority_keeping_account_order(
    mosquitto: Mosquitto, journal: Journal
) -> None:
    plan = [
        ("A", "RP", "test"),
        ("B", "BA", "alarm"),
        ("C", "YT", "trouble"),
        ("A", "BA", "alarm"),
        ("D", "RP", "test"),
        ("B", "FA", "alarm"),
        ("C", "RP", "test"),
        ("E", "HA", "alarm"),
        ("D", "YT", "trouble"),
        ("A", "RP", "test"),
        ("E", "RP", "test"),
    ] * 20
    for account, code, category in plan:
        await journal.append(message(account, sia(code, category, zone=1)))
    records = await journal.read_after(0, limit=1000)
    inherited = dict(
        zip([r.journal_seq for r in records], effective_priorities(records), strict=True)
    )
    async with (
        Subscriber(mosquitto.port, f"{ROOT}/events/#") as sub,
        running(publisher(mosquitto, journal)),
    ):
        await sub.wait_until(has_events(len(plan)))
    arrived = [p["journal_seq"] for p in sub.json(f"{ROOT}/events/")]
    classes = [inherited[seq] for seq in arrived]
    assert classes == sorted(classes)
    assert classes[0] == 1  # the hold-up account goes first
    for account in "ABCDE":
        seqs = [p["journal_seq"] for p in sub.json(f"{ROOT}/events/{account}")]
        assert seqs == sorted(seqs)


async def test_publisher_rides_out_a_broker_that_is_not_there_yet(
    tmp_path: Path, journal: Journal
) -> None:
    broker = Mosquitto(tmp_path)
    metrics = RecordingMetrics()
    await journal.append(message("1", sia("FA", "alarm", zone=1)))
    async with running(publisher(broker, journal, metrics=metrics)) as task:
        await metrics.wait_until(lambda m: len(m.failures) >= 3)
        assert not task.done()
        assert set(metrics.failures) == {"connect"}
        broker.start()
        try:
            await cursor_reaches(journal, 1)
            async with Subscriber(broker.port, f"{ROOT}/state/#") as sub:
                await sub.wait_until(lambda s: len(s.messages) >= 1)
                assert sub.messages[0][2] is True  # retained
        finally:
            broker.kill()
    assert await journal.load_cursor(CURSOR) == 1


async def test_clean_shutdown_leaves_retained_offline_and_state(
    mosquitto: Mosquitto, journal: Journal
) -> None:
    await journal.append(message("1234", sia("CL", "close", area=1)))
    await journal.append(message("1234", sia("BA", "alarm", zone=5, area=1)))
    async with running(publisher(mosquitto, journal)):
        async with Subscriber(mosquitto.port, f"{ROOT}/receivers/#") as watcher:
            await watcher.wait_until(lambda s: any(p["status"] == "online" for p in s.json(ROOT)))
        await cursor_reaches(journal, 2)
    async with Subscriber(mosquitto.port, "alarmrx/#") as fresh:
        await fresh.wait_until(lambda s: len(s.messages) >= 2)
    retained = {t: json.loads(p) for t, p, r in fresh.messages if r}
    assert retained[f"{ROOT}/receivers/rx1/status"]["status"] == "offline"
    state = retained[f"{ROOT}/state/1234"]
    assert state["areas"][0]["armed"] == "armed"
    assert [a["zone_name"] for a in state["open_alarms"]] == ["Hall"]


async def test_home_assistant_discovery(mosquitto: Mosquitto, journal: Journal) -> None:
    await journal.append(message("1234", sia("CL", "close", area=1)))
    async with (
        Subscriber(mosquitto.port, "homeassistant/#") as sub,
        running(publisher(mosquitto, journal, mqtt={"ha_discovery": True})),
    ):
        await sub.wait_until(lambda s: len(s.messages) >= 3)
    configs = {t: json.loads(p) for t, p, _ in sub.messages}
    panel = configs["homeassistant/alarm_control_panel/alarmrx_rx1/1234_area_1/config"]
    assert panel["state_topic"] == f"{ROOT}/state/1234"
    assert panel["availability"][0]["topic"] == f"{ROOT}/receivers/rx1/status"
    zone = configs["homeassistant/binary_sensor/alarmrx_rx1/1234_zone_5/config"]
    assert zone["name"] == "Hall"


async def test_retained_state_survives_a_broker_that_forgot_it(
    mosquitto: Mosquitto, journal: Journal
) -> None:
    await journal.append(message("1234", sia("CL", "close", area=1)))
    async with running(publisher(mosquitto, journal)):
        await cursor_reaches(journal, 1)
        mosquitto.stop()  # no persistence: its retained messages are gone
        mosquitto.start()
        async with Subscriber(mosquitto.port, f"{ROOT}/state/#") as watcher:
            await watcher.wait_until(lambda s: len(s.messages) >= 1)  # republished
        async with Subscriber(mosquitto.port, f"{ROOT}/state/#") as fresh:
            await fresh.wait_until(lambda s: len(s.messages) >= 1)
    topic, payload, retained = fresh.messages[0]
    assert (topic, retained) == (f"{ROOT}/state/1234", True)
    assert json.loads(payload)["areas"][0]["armed"] == "armed"
