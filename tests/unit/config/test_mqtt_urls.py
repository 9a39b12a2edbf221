"""``[mqtt] url``: one broker, or a list of them (the nodes of a clustered broker)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.config.test_load import problems, write

from alarmrx.config import load_settings
from alarmrx.mqtt.broker import BrokerAddress, parse_urls


def test_one_url_stays_a_string(tmp_path: Path) -> None:
    mqtt = load_settings(write(tmp_path, '[mqtt]\nurl = "mqtt://a:1884"\n'), environ={}).mqtt
    assert mqtt is not None
    assert mqtt.url == "mqtt://a:1884"
    assert mqtt.urls == ("mqtt://a:1884",)
    assert parse_urls(mqtt.url) == (BrokerAddress("a", 1884, tls=False),)


def test_a_list_of_urls_keeps_its_order(tmp_path: Path) -> None:
    text = '[mqtt]\nurl = ["mqtt://a:1883", "mqtts://b", "mqtt://[::1]:9"]\n'
    mqtt = load_settings(write(tmp_path, text), environ={}).mqtt
    assert mqtt is not None
    assert mqtt.urls == ("mqtt://a:1883", "mqtts://b", "mqtt://[::1]:9")
    assert [a.url for a in parse_urls(mqtt.url)] == [
        "mqtt://a:1883",
        "mqtts://b:8883",
        "mqtt://[::1]:9",
    ]
    assert (mqtt.host, mqtt.port, mqtt.tls) == ("a", 1883, True)


def test_each_bad_url_is_named_by_its_index(tmp_path: Path) -> None:
    text = '[mqtt]\nurl = [\n  "mqtt://a:1883",\n  "http://b",\n  "mqtt://c:99999",\n]\n'
    path = write(tmp_path, text)
    found = problems(path)
    assert found == [
        f"{path}:2: mqtt.url[1]: 'http://b' is not mqtt://host:port or mqtts://host:port",
        f"{path}:2: mqtt.url[2]: 'mqtt://c:99999' has a bad port",
    ]


def test_an_empty_list_or_a_wrong_type_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nurl = []\n")
    assert problems(path) == [f"{path}:2: mqtt.url: needs at least one broker URL"]
    path = write(tmp_path, "[mqtt]\nurl = 1883\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:2: mqtt.url: ")
    assert "array" in found
