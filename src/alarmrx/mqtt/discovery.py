"""Home Assistant MQTT discovery (``[mqtt] ha_discovery``, off by default).

One ``alarm_control_panel`` per account (the whole account) and per area seen in its
open/close events, one ``binary_sensor`` per configured zone (on while the zone has an open
alarm). Every entity reads the retained ``state/{account}`` topic and is available while
the receiver's status topic says ``online``. Commands from Home Assistant are not served;
the panel's command topic is reserved for them (``commands/{account}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alarmrx.mqtt.topics import Topics
from alarmrx.rules.state import AccountState, Area

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class DiscoveryMessage:
    """A retained discovery config."""

    topic: str
    payload: dict[str, Any]


def object_id(text: str) -> str:
    """``text`` with every character Home Assistant does not allow in an id as ``_xx_``."""
    return _NOT_ID.sub(lambda m: f"_{ord(m.group()):x}_", text)


def _jinja(value: object) -> str:
    return "none" if value is None else json.dumps(value)


def _area_template(area: Area) -> str:
    """State of one area: triggered on an open alarm there, else its armed state."""
    where = f"selectattr('area', 'eq', {_jinja(area)}) | list"
    return (
        f"{{% set a = value_json.areas | {where} %}}"
        f"{{% if value_json.open_alarms | {where} %}}triggered"
        "{% elif a and a[0].armed == 'armed' %}armed_away"
        "{% elif a %}disarmed{% else %}None{% endif %}"
    )


ACCOUNT_TEMPLATE = (
    "{% set armed = value_json.areas | map(attribute='armed') | list %}"
    "{% if value_json.open_alarms %}triggered"
    "{% elif not armed %}None"
    "{% elif 'disarmed' in armed %}disarmed{% else %}armed_away{% endif %}"
)


def _zone_template(zone: object) -> str:
    return (
        "{{ 'ON' if value_json.open_alarms | selectattr('zone', 'ne', none)"
        f" | map(attribute='zone') | map('string') | select('eq', {json.dumps(str(zone))})"
        " | list else 'OFF' }}"
    )


@dataclass(frozen=True, slots=True)
class Discovery:
    """Builds the discovery configs for one receiver."""

    prefix: str
    topics: Topics

    def _common(self, account: str | None, name: str, unique: str) -> dict[str, Any]:
        node = object_id(f"alarmrx_{self.topics.receiver_id}")
        label = account if account is not None else "no account"
        return {
            "name": name,
            "unique_id": f"{node}_{unique}",
            "state_topic": self.topics.state(account),
            "availability": [
                {
                    "topic": self.topics.status,
                    "value_template": "{{ value_json.status }}",
                    "payload_available": "online",
                    "payload_not_available": "offline",
                }
            ],
            "device": {
                "identifiers": [f"{node}_{object_id(label)}"],
                "name": f"Alarm account {label}",
                "manufacturer": "alarmrx",
            },
        }

    def _topic(self, component: str, unique: str) -> str:
        node = object_id(f"alarmrx_{self.topics.receiver_id}")
        return f"{self.prefix}/{component}/{node}/{unique}/config"

    def panel(self, account: str | None, area: Area, *, whole: bool) -> DiscoveryMessage:
        """The alarm_control_panel for an area, or for the whole account."""
        acct = object_id(account if account is not None else "%none")
        unique = f"{acct}_all" if whole else f"{acct}_area_{object_id(str(area))}"
        name = "Alarm" if whole else f"Area {area}"
        payload = self._common(account, name, unique) | {
            "command_topic": f"{self.topics.commands(account)}/ha",
            "value_template": ACCOUNT_TEMPLATE if whole else _area_template(area),
            "supported_features": [],
            "code_arm_required": False,
            "code_disarm_required": False,
        }
        return DiscoveryMessage(self._topic("alarm_control_panel", unique), payload)

    def zone(self, account: str, zone: int | str, zone_name: str | None) -> DiscoveryMessage:
        """The binary_sensor of a configured zone."""
        unique = f"{object_id(account)}_zone_{object_id(str(zone))}"
        payload = self._common(account, zone_name or f"Zone {zone}", unique) | {
            "value_template": _zone_template(zone),
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "safety",
        }
        return DiscoveryMessage(self._topic("binary_sensor", unique), payload)

    def for_account(
        self, state: AccountState, zones: Iterable[tuple[int | str, str | None]]
    ) -> list[DiscoveryMessage]:
        """Every config for one account: whole-account panel, areas seen, configured zones."""
        messages = [self.panel(state.account, None, whole=True)]
        messages += [
            self.panel(state.account, a, whole=False) for a in state.areas if a is not None
        ]
        if state.account is not None:
            messages += [self.zone(state.account, z, n) for z, n in zones]
        return messages
