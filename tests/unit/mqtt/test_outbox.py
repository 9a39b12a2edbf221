"""The outbox against a real journal file: plans, the cursor, state replay at start."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.builders import RECEIVER_ID, derived, message, sia

from alarmrx.config import AccountSettings, ZoneSettings
from alarmrx.config.card_model import CardSettings
from alarmrx.journal.journal import Journal
from alarmrx.mqtt.discovery import Discovery
from alarmrx.mqtt.outbox import CURSOR, Outbox
from alarmrx.mqtt.topics import Topics
from alarmrx.rules.derived import new_record
from alarmrx.rules.dispatch import DispatchCore
from alarmrx.rules.standing import NOTHING

TOPICS = Topics("alarmrx", RECEIVER_ID)
HALL = ZoneSettings(zone=5, name="Hall")
ACCOUNTS = {"1234": AccountSettings(account="1234", name="Shop", zones=(HALL,))}


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        yield journal


async def test_plan_publishes_events_by_priority_then_state(journal: Journal) -> None:
    await journal.append(message("1234", sia("OP", "open", area=1)))
    await journal.append(message("99", sia("FA", "alarm", zone=1)))
    await journal.append(derived("1234", "supervision.lost", "trouble"))
    outbox = Outbox(journal, topics=TOPICS, accounts=ACCOUNTS)
    await outbox.restore()
    plan = outbox.plan(await outbox.window())
    topics = [m.topic for m in plan.messages]
    assert topics == [
        "alarmrx/v1/events/99",
        "alarmrx/v1/events/1234",
        "alarmrx/v1/events/1234",
        "alarmrx/v1/state/1234",
        "alarmrx/v1/state/99",
    ]
    assert [m.retain for m in plan.messages] == [False, False, False, True, True]
    state = json.loads(plan.messages[3].payload)
    assert (state["name"], state["link"], state["journal_seq"]) == ("Shop", "offline", 3)
    assert await journal.load_cursor(CURSOR) == 0
    await outbox.commit(plan)
    assert (outbox.cursor, await journal.load_cursor(CURSOR)) == (3, 3)
    assert outbox.plan(await outbox.window()).messages == ()


async def test_a_failed_plan_is_planned_again_identically(journal: Journal) -> None:
    for n in range(5):
        await journal.append(message("1", sia("BA", "alarm", zone=n + 1)))
    outbox = Outbox(journal, topics=TOPICS, accounts={}, window=3)
    await outbox.restore()
    first = outbox.plan(await outbox.window())
    again = outbox.plan(await outbox.window())  # nothing committed: same window
    assert first == again
    assert first.last_seq == 3
    await outbox.commit(first)
    rest = outbox.plan(await outbox.window())
    assert rest.last_seq == 5
    assert json.loads(rest.messages[0].payload)["id"] == "rx1:4:0"


async def test_restart_replays_state_up_to_the_cursor(journal: Journal) -> None:
    await journal.append(message("1234", sia("CL", "close", area=1)))
    await journal.append(message("1234", sia("BA", "alarm", zone=5)))
    first = Outbox(journal, topics=TOPICS, accounts=ACCOUNTS)
    await first.restore()
    await first.commit(first.plan(await first.window()))
    await journal.append(message("1234", sia("BR", "restore", zone=5)))

    restarted = Outbox(journal, topics=TOPICS, accounts=lambda: ACCOUNTS)
    await restarted.restore()
    assert restarted.cursor == 2
    assert len(restarted.book.accounts["1234"].open_alarms) == 1
    plan = restarted.plan(await restarted.window())
    assert [m.topic for m in plan.messages] == ["alarmrx/v1/events/1234", "alarmrx/v1/state/1234"]
    state = json.loads(plan.messages[1].payload)
    assert state["open_alarms"] == []
    assert state["areas"][0]["armed"] == "armed"


async def test_discovery_announced_once(journal: Journal) -> None:
    await journal.append(message("1234", sia("CL", "close", area=1)))
    outbox = Outbox(
        journal, topics=TOPICS, accounts=ACCOUNTS, discovery=Discovery("homeassistant", TOPICS)
    )
    await outbox.restore()
    plan = outbox.plan(await outbox.window())
    announced = sorted(m.topic for m in plan.messages if m.topic.startswith("homeassistant/"))
    assert announced == [
        "homeassistant/alarm_control_panel/alarmrx_rx1/1234_all/config",
        "homeassistant/alarm_control_panel/alarmrx_rx1/1234_area_1/config",
        "homeassistant/binary_sensor/alarmrx_rx1/1234_zone_5/config",
    ]
    await outbox.commit(plan)
    await journal.append(message("1234", sia("OP", "open", area=1)))
    plan = outbox.plan(await outbox.window())
    assert not [m for m in plan.messages if m.topic.startswith("homeassistant/")]


async def test_routine_reports_refresh_the_state_when_due(journal: Journal) -> None:
    now = [0.0]
    outbox = Outbox(
        journal, topics=TOPICS, accounts={}, state_refresh_s=10.0, monotonic=lambda: now[0]
    )
    await outbox.restore()
    await journal.append(message("1", sia("RP", "test")))
    plan = outbox.plan(await outbox.window())
    assert [m.topic for m in plan.messages] == ["alarmrx/v1/events/1", "alarmrx/v1/state/1"]
    await outbox.commit(plan)
    await journal.append(message("1", sia("RP", "test")))
    plan = outbox.plan(await outbox.window())
    assert [m.topic for m in plan.messages] == ["alarmrx/v1/events/1"]
    await outbox.commit(plan)
    assert outbox.refresh_in() == 10.0
    now[0] = 10.0
    plan = outbox.plan(await outbox.window())
    assert [m.topic for m in plan.messages] == ["alarmrx/v1/state/1"]
    assert json.loads(plan.messages[0].payload)["journal_seq"] == 2
    await outbox.commit(plan)
    assert outbox.refresh_in() == float("inf")


async def test_a_reconnection_republishes_every_state_in_batches(journal: Journal) -> None:
    await journal.append_many([message(f"{n}", sia("CL", "close", area=1)) for n in range(5)])
    outbox = Outbox(journal, topics=TOPICS, accounts={}, refresh_batch=2)
    await outbox.restore()
    await outbox.commit(outbox.plan(await outbox.window()))
    outbox.reconnected()
    republished: list[str] = []
    for _ in range(3):
        plan = outbox.plan(await outbox.window())
        assert len(plan.messages) <= 2
        republished += [m.topic for m in plan.messages]
        await outbox.commit(plan)
    assert sorted(republished) == [f"alarmrx/v1/state/{n}" for n in range(5)]
    assert outbox.plan(await outbox.window()).messages == ()


async def test_anchor_records_are_published_retained(journal: Journal) -> None:
    """An ANCHOR record leaves the machine as the retained receivers/{id}/anchor message."""
    from datetime import UTC, datetime

    from alarmrx.evidence.anchor import anchor_record

    first = await journal.append(message("1234", sia("BA", "alarm", zone=5)))
    [head] = await journal.read_after(first.journal_seq - 1, limit=1)
    at = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    anchored = await journal.append(anchor_record(head.journal_seq, head.hash, at))
    outbox = Outbox(journal, topics=TOPICS, accounts=ACCOUNTS)
    await outbox.restore()
    plan = outbox.plan(await outbox.window())
    [anchor] = [m for m in plan.messages if m.topic.endswith("/anchor")]
    assert anchor.topic == f"alarmrx/v1/receivers/{RECEIVER_ID}/anchor"
    assert anchor.retain
    body = json.loads(anchor.payload)
    assert (body["head_seq"], body["head_hash"]) == (head.journal_seq, head.hash)
    assert body["journal_seq"] == anchored.journal_seq


async def test_the_advice_is_published_as_journaled_behind_its_alarm(journal: Journal) -> None:
    """The publisher may be ahead of the rules: the alarm goes out at once with no advice of
    its own; the advice follows once the rules journaled it, as they journaled it, whatever
    card the publisher's configuration holds by then."""
    card = CardSettings(holdup_link=True)  # as the rules had it; the publisher's is older
    accounts = {"1234": AccountSettings(account="1234", zones=(HALL,), card=CardSettings())}
    outbox = Outbox(journal, topics=TOPICS, accounts=accounts)
    await outbox.restore()
    alarm = await journal.append(message("1234", sia("HA", "alarm", zone=5)))
    first = outbox.plan(await outbox.window())
    (sent,) = [json.loads(m.payload) for m in first.messages if "/events/" in m.topic]
    assert (sent["type"], sent["dispatch"], sent["alarm_id"]) == ("panel", None, None)
    await outbox.commit(first)

    rules = DispatchCore(
        {"1234": card}, frozenset({"1234"}), lambda account: NOTHING, lambda account, at: False
    )
    (stored_alarm,) = await journal.read_after(alarm.journal_seq - 1, limit=1)
    (advice,) = rules.handle(stored_alarm)
    await journal.append(new_record(advice))
    second = outbox.plan(await outbox.window())
    (advised,) = [json.loads(m.payload) for m in second.messages if "/events/" in m.topic]
    assert advised["type"] == "dispatch.advice" and advised["alarm_id"] == sent["id"]
    assert advised["dispatch"] == dict(advice.fields)["dispatch"]
    assert (advised["dispatch"]["police"], advised["priority"]) == (True, "holdup")
