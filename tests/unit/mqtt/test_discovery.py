"""Home Assistant discovery: the templates, rendered with Jinja2 as Home Assistant does,
give the alarm panel and zone states the contract promises."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from tests.unit.builders import RECEIVER_ID, message, sia, stored

from alarmrx.mqtt.discovery import Discovery, object_id
from alarmrx.mqtt.payloads import state_payload
from alarmrx.mqtt.topics import Topics
from alarmrx.rules.state import StateBook

DISCOVERY = Discovery("homeassistant", Topics("alarmrx", RECEIVER_ID))
JINJA = jinja2.Environment(autoescape=False)  # noqa: S701 - renders JSON values, not HTML


def _state(*records: Any) -> dict[str, Any]:
    book = StateBook()
    for seq, record in enumerate(records, start=1):
        book.apply(stored(record, seq))
    return state_payload(book.accounts["1"], RECEIVER_ID, None, {})


def _render(template: str, state: dict[str, Any]) -> str:
    return JINJA.from_string(template).render(value_json=state).strip()


CLOSE_1 = message("1", sia("CL", "close", area=1))
CLOSE_2 = message("1", sia("CL", "close", area=2))
OPEN_2 = message("1", sia("OP", "open", area=2))
ALARM_1 = message("1", sia("BA", "alarm", zone=5, area=1))


@pytest.mark.parametrize(
    ("records", "whole", "area_1"),
    [
        ((message("1", sia("RP", "test")),), "None", "None"),
        ((CLOSE_1, CLOSE_2), "armed_away", "armed_away"),
        ((CLOSE_1, CLOSE_2, OPEN_2), "disarmed", "armed_away"),
        ((CLOSE_1, ALARM_1), "triggered", "triggered"),
    ],
)
def test_panel_states(records: tuple[Any, ...], whole: str, area_1: str) -> None:
    state = _state(*records)
    assert _render(DISCOVERY.panel("1", None, whole=True).payload["value_template"], state) == whole
    area = DISCOVERY.panel("1", 1, whole=False).payload["value_template"]
    assert _render(area, state) == area_1


@pytest.mark.parametrize(("zone", "expected"), [(5, "ON"), ("5", "ON"), (6, "OFF")])
def test_zone_sensor(zone: int | str, expected: str) -> None:
    template = DISCOVERY.zone("1", zone, None).payload["value_template"]
    assert _render(template, _state(CLOSE_1, ALARM_1)) == expected


def test_ids_are_what_home_assistant_accepts() -> None:
    assert object_id("12/34 ü") == "12_2f_34_20__fc_"
    config = DISCOVERY.zone("a/b", 7, "Back door")
    assert config.topic == "homeassistant/binary_sensor/alarmrx_rx1/a_2f_b_zone_7/config"
    assert config.payload["name"] == "Back door"
    assert config.payload["state_topic"] == "alarmrx/v1/state/a%2Fb"
