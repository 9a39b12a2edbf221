"""Broker URL and reconnect backoff."""

from __future__ import annotations

import pytest

from alarmrx.mqtt.broker import Backoff, BrokerAddress, BrokerURLError, parse_url, parse_urls


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mqtt://127.0.0.1:1884", BrokerAddress("127.0.0.1", 1884, tls=False)),
        ("mqtt://broker", BrokerAddress("broker", 1883, tls=False)),
        ("mqtts://broker", BrokerAddress("broker", 8883, tls=True)),
        ("MQTTS://[::1]:9000", BrokerAddress("::1", 9000, tls=True)),
    ],
)
def test_parse_url(url: str, address: BrokerAddress) -> None:
    assert parse_url(url) == address


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "broker:1883", "mqtt://h:99999"])
def test_bad_url(url: str) -> None:
    with pytest.raises(BrokerURLError):
        parse_url(url)


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=30.0)
    assert [backoff.delay(n, lambda: 1.0) for n in range(8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
    ]
    assert backoff.delay(3, lambda: 0.0) == 2.0  # half the ceiling at least
    assert backoff.delay(10_000, lambda: 0.5) == 22.5


def test_several_urls_keep_their_order_and_name_themselves_in_full() -> None:
    brokers = parse_urls(["mqtt://a", "mqtts://[::1]", "mqtt://b:1884"])
    assert [b.url for b in brokers] == ["mqtt://a:1883", "mqtts://[::1]:8883", "mqtt://b:1884"]
    assert parse_urls("mqtt://a") == (BrokerAddress("a", 1883, tls=False),)
    with pytest.raises(BrokerURLError):
        parse_urls([])
    with pytest.raises(BrokerURLError):
        parse_urls(["mqtt://a", "http://b"])
