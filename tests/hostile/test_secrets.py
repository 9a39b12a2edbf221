"""Nothing secret leaves the daemon: after encrypted frames, frames with the wrong key,
plaintext for a keyed account, stale frames and a reload, no panel key (hex in either case,
or its ASCII form) and no broker password appears in the log, on ``/metrics``, in
``alarmrx journal query`` output or in any MQTT payload.
"""

from __future__ import annotations

import asyncio
import binascii
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, write_config
from tests.hostile.support import http_get, journal_query, log_events, wait_until
from tests.mosquitto import Mosquitto, Subscriber

pytestmark = pytest.mark.integration

HEX_KEY = "C0FFEE11223344556677889900AABBCC"
ASCII_KEY = "Panel-Key-0042!!"  # 16 ASCII characters: AES-128
PASSWORD = "broker-Pa55word-never-logged"


def _forms() -> list[str]:
    ascii_hex = binascii.hexlify(ASCII_KEY.encode()).decode()
    return [
        HEX_KEY,
        HEX_KEY.lower(),
        ASCII_KEY,
        ascii_hex,
        ascii_hex.upper(),
        PASSWORD,
        HEX_KEY[:16],
        ascii_hex[:16],
    ]


async def test_no_secret_in_logs_metrics_journal_or_mqtt(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    accounts = [
        f'account = "1111"\nkey = "{HEX_KEY}"',
        f'account = "2222"\nkey = "{ASCII_KEY}"',
        'account = "3333"',
    ]
    mqtt = f'url = "{mosquitto.url}"\nusername = "alarmrx"\npassword = "{PASSWORD}"'
    config = write_config(tmp_path, accounts=accounts, mqtt=mqtt)  # debug: the most verbose
    async with Subscriber(mosquitto.port, "alarmrx/#") as subscriber:
        with Daemon(config) as daemon:
            await asyncio.to_thread(_send_everything, daemon)
            await subscriber.wait_until(lambda s: len(s.ids) >= 4, within_s=20)
            _, metrics_text = http_get(daemon.metrics_port, "/metrics")
            _, health = http_get(daemon.metrics_port, "/healthz")
            assert daemon.terminate() == 0
    exposed = {
        "log": daemon.log(),
        "metrics": metrics_text + health,
        "journal query": journal_query(config),
        "mqtt": b"".join(payload for _t, payload, _r in subscriber.messages).decode(),
    }
    assert all(exposed.values()), {k: len(v) for k, v in exposed.items()}
    for where, text in exposed.items():
        for form in _forms():
            assert form not in text, f"{form!r} appears in the {where}"


def _send_everything(daemon: Daemon) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=10)
    frames = [
        frame("1111", "#1111|Nri1/BA01", key=HEX_KEY, sequence=1),
        frame("2222", "#2222|Nri1/FA02", key=ASCII_KEY, sequence=2),
        frame("1111", "", token="NULL", key=HEX_KEY, sequence=3),
        frame("1111", "#1111|Nri1/BA03", key="F" * 32, sequence=4),  # wrong key: DUH
        frame("2222", "#2222|Nri1/BA04", sequence=5),  # plaintext for a keyed account
        frame("1111", "#1111|Nri1/BA05", key=HEX_KEY, now=stale, sequence=6),  # NAK
        frame("3333", "#3333|Nri1/BA06", sequence=7),
        frame("3333", "#3333|Nri1/BA07", key=HEX_KEY, sequence=8),  # encrypted, no key here
    ]
    exchange_tcp(daemon.port, frames)
    exchange_udp(daemon.port, frame("2222", "#2222|Nri1/PA08", key=ASCII_KEY, sequence=9))
    daemon.hup()  # a reload logs the accounts it loaded
    wait_until(
        lambda: any(e.get("event") == "config_reloaded" for e in log_events(daemon)),
        10,
        "config_reloaded",
    )
