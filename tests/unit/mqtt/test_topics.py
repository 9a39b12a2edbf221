"""Topic names: accounts escaped so that no account can add a level or a wildcard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alarmrx.mqtt.topics import NO_ACCOUNT, Topics, escape_level, unescape_level


@pytest.mark.parametrize(
    ("account", "level"),
    [
        ("1234", "1234"),
        ("00AB", "00AB"),
        ("a/b", "a%2Fb"),
        ("a+b#", "a%2Bb%23"),
        ("50%", "50%25"),
        ("x\x00y", "x%00y"),
        ("tab\there", "tab%09here"),
        ("ünï", "ünï"),
        ("", ""),
        (None, NO_ACCOUNT),
    ],
)
def test_escape_level(account: str | None, level: str) -> None:
    assert escape_level(account) == level


@given(st.one_of(st.none(), st.text()))
def test_escape_round_trip_and_safe(account: str | None) -> None:
    level = escape_level(account)
    assert not set(level) & {"/", "+", "#", "\x00"}
    assert unescape_level(level) == account


def test_topics_under_version() -> None:
    topics = Topics("site/alarms", "rx/1")
    assert topics.events("12/34") == "site/alarms/v1/events/12%2F34"
    assert topics.state("1234") == "site/alarms/v1/state/1234"
    assert topics.status == "site/alarms/v1/receivers/rx%2F1/status"
