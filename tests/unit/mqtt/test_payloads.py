"""Event payloads: one per event, stable ids, the contract's fields, valid against the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.builders import (
    RECEIVER_ID,
    T0,
    cid,
    derived,
    message,
    sia,
    stored,
    validator,
)

from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.mqtt.payloads import (
    ReceiverInfo,
    event_messages,
    offline_payload,
    state_payload,
    status_payload,
)
from alarmrx.rules.derived import Derived, DerivedType, new_record
from alarmrx.rules.state import StateBook

EVENTS = validator("event")
ZONES = {"5": "Hall PIR"}


def test_one_message_per_event_with_stable_ids() -> None:
    record = stored(
        message(
            "1234",
            sia("BA", "alarm", zone=5),
            sia("FA", "alarm", zone=2),
            sia("OP", "open", area=1, user=3),
        ),
        42,
    )
    payloads = [m.payload for m in event_messages(record, RECEIVER_ID, ZONES)]
    assert [p["id"] for p in payloads] == ["rx1:42:0", "rx1:42:1", "rx1:42:2"]
    assert [p["priority"] for p in payloads] == ["intrusion", "fire", "other"]
    assert payloads[0]["zone_name"] == "Hall PIR"
    assert payloads[1]["zone_name"] is None
    assert payloads[0]["verified"] is False  # burglary alarm, not yet verified
    assert payloads[1]["verified"] is None
    assert payloads == [m.payload for m in event_messages(record, RECEIVER_ID, ZONES)]
    for payload in payloads:
        EVENTS.validate(payload)


def test_panel_fields() -> None:
    record = stored(message("1234", cid("130", 1, "alarm", zone=5, area=1), sequence="0007"), 9)
    (payload,) = [m.payload for m in event_messages(record, RECEIVER_ID, ZONES)]
    assert payload["type"] == "panel"
    assert (payload["code"], payload["cid"], payload["qualifier"]) == (None, "130", 1)
    assert payload["token"] == "ADM-CID"
    assert payload["sequence"] == "0007"
    assert payload["account"] == "1234"
    assert payload["received_at"] == "2025-03-01T12:00:00Z"
    assert payload["raw"].startswith('\nABCD0042"ADM-CID"0007')
    assert payload["xdata"] == [{"letter": "K", "value": "1"}]
    assert payload["test"] is False
    assert payload["schema"] == "alarmrx.event.v1"
    EVENTS.validate(payload)


def test_sia_code_and_test_flag() -> None:
    record = stored(message("77", sia("HA", "alarm", zone=1), test=True), 3)
    (payload,) = [m.payload for m in event_messages(record, RECEIVER_ID, {})]
    assert (payload["code"], payload["cid"]) == ("HA", None)
    assert payload["priority"] == "holdup"
    assert payload["test"] is True


def test_derived_record_is_one_message() -> None:
    record = stored(derived("1234", "supervision.lost", "trouble", refs=(3, 4)), 12)
    (message_,) = event_messages(record, RECEIVER_ID, ZONES)
    payload = message_.payload
    assert payload["id"] == "rx1:12:0"
    assert payload["type"] == "supervision.lost"
    assert payload["refs"] == [3, 4]
    assert payload["priority"] == "trouble"
    assert payload["raw"] is None
    EVENTS.validate(payload)


@pytest.mark.parametrize("kind", [RecordKind.REJECTED, RecordKind.COMMAND, RecordKind.ANCHOR])
def test_other_records_publish_no_event(kind: RecordKind) -> None:
    record = stored(NewRecord(kind=kind, received_at=T0, account="1"), 5)
    assert event_messages(record, RECEIVER_ID, {}) == []


def test_state_and_status_payloads_validate() -> None:
    book = StateBook()
    book.apply(stored(message("1234", sia("CL", "close", area=1, user=2)), 1))
    book.apply(stored(message("1234", sia("BA", "alarm", zone=5, area=1)), 2))
    state = state_payload(book.accounts["1234"], RECEIVER_ID, "Shop", ZONES)
    validator("state").validate(state)
    assert state["open_alarms"][0]["zone_name"] == "Hall PIR"
    assert state["open_alarms"][0]["id"] == "rx1:2:0"
    info = ReceiverInfo(
        receiver_id=RECEIVER_ID, version="0.1.0", listeners=("127.0.0.1:12128",), started_at=T0
    )
    status = status_payload(info, T0 + timedelta(seconds=90))
    assert status["uptime_s"] == 90.0
    validator("receiver-status").validate(status)
    validator("receiver-status").validate(offline_payload(RECEIVER_ID))


@pytest.mark.parametrize("kind", list(DerivedType))
def test_every_derived_type_the_rules_write_validates(kind: DerivedType) -> None:
    conclusion = Derived(
        type=kind,
        account="1234",
        at=T0,
        key=f"{kind}|1234",
        zone=5,
        area=1,
        description=str(kind),
        refs=(3, 1),
        fields={"verified": True},
    )
    (message_,) = event_messages(stored(new_record(conclusion), 9), RECEIVER_ID, ZONES)
    payload = message_.payload
    EVENTS.validate(payload)
    assert (payload["type"], payload["refs"], payload["zone_name"]) == (
        kind.value,
        [1, 3],
        "Hall PIR",
    )
    assert payload["code"] is not None
    if kind is DerivedType.ALARM_VERIFIED:
        assert (payload["priority"], payload["verified"]) == ("intrusion", True)
