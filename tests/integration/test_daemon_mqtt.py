"""The daemon with a real mosquitto: what integrators get (issue 4), end to end from the
panel's socket to the subscriber."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, read_reply, write_config
from tests.mosquitto import Mosquitto, Subscriber

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
SCHEMA = Path(__file__).parents[2] / "docs" / "schema" / "event.v1.json"
ACCOUNTS = ['account = "1234"\nname = "Shop"', 'account = "5678"']


def of_type(sub: Subscriber, kind: str) -> list[dict[str, Any]]:
    """The events of one ``type`` received (``panel``, ``dispatch.advice``, …)."""
    return [e for e in sub.json(f"{ROOT}/events/") if e["type"] == kind]


def panel_ids(sub: Subscriber) -> set[str]:
    return {e["id"] for e in of_type(sub, "panel")}


def advised_once(sub: Subscriber) -> dict[str, int]:
    """alarm event id -> the journal_seq of its advice; fails if one alarm had two."""
    advice: dict[str, int] = {}
    for event in of_type(sub, "dispatch.advice"):
        assert advice.setdefault(event["alarm_id"], event["journal_seq"]) == event["journal_seq"]
    return advice


def mqtt_config(tmp_path: Path, broker: Mosquitto) -> Path:
    return write_config(tmp_path, accounts=ACCOUNTS, mqtt=f'url = "{broker.url}"\nkeepalive_s = 5')


async def test_every_event_arrives_with_the_documented_payload(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """TCP and UDP, SIA with several codes and Contact ID: one message per event, each
    valid against the shipped schema; state and receiver status retained."""
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as sub:
        with Daemon(mqtt_config(tmp_path, mosquitto)) as daemon:
            exchange_tcp(
                daemon.port,
                [
                    frame("1234", "#1234|Nri1/BA01/BA02", sequence=1),
                    frame("1234", "#1234|Nri1/CL501", sequence=2),
                ],
            )
            exchange_udp(daemon.port, frame("5678", "#5678|1130 01 003", token="ADM-CID"))
            # four panel events, and the advice for each of the three alarms
            await sub.wait_until(
                lambda s: len(of_type(s, "panel")) >= 4 and len(advised_once(s)) >= 3
            )
            for payload in sub.json(f"{ROOT}/events/"):
                validator.validate(payload)
            events = of_type(sub, "panel")
            codes = sorted((e["account"], e["code"] or e["cid"]) for e in events)
            assert codes == [("1234", "BA"), ("1234", "BA"), ("1234", "CL"), ("5678", "130")]
            assert len({e["id"] for e in events}) == 4
            alarms = {e["id"] for e in events if e["category"] == "alarm"}
            assert set(advised_once(sub)) == alarms and all(e["dispatch"] is None for e in events)
            await sub.wait_until(lambda s: bool(s.json(f"{ROOT}/state/1234")))
            await sub.wait_until(lambda s: bool(s.json(f"{ROOT}/receivers/rx-test/status")))
            [status] = sub.json(f"{ROOT}/receivers/rx-test/status")[-1:]
            assert status["listeners"] == [f"127.0.0.1:{daemon.port}"]


async def test_broker_outage_loses_nothing(tmp_path: Path) -> None:
    """Broker stopped, 1000 events sent and all ACKed, broker back: all 1000 delivered."""
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    sub = Subscriber(broker.port, f"{ROOT}/events/#", client_id="outage-sub", persistent=True)
    await sub.connect()
    await sub.close()
    try:
        with Daemon(mqtt_config(tmp_path, broker)) as daemon:
            broker.stop()
            frames = [
                frame("1234", f"#1234|NBA{n % 99 + 1}", sequence=n % 9999 + 1) for n in range(1000)
            ]
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
                for data in frames:
                    sock.sendall(data)
                    assert b'"ACK"' in read_reply(sock)
            broker.start()
            await sub.connect()
            await sub.wait_until(lambda s: len(panel_ids(s)) >= 1000, within_s=60)
        seqs = {int(i.split(":")[1]) for i in panel_ids(sub)}
        assert len(seqs) == 1000
    finally:
        await sub.close()
        broker.kill()


async def test_sigkill_mid_publish_then_restart_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Kill the daemon while it publishes a backlog; after restart every event arrives, and
    a redelivered one carries the same id."""
    config = mqtt_config(tmp_path, mosquitto)
    frames = [frame("1234", f"#1234|NBA{n % 99 + 1}", sequence=n % 9999 + 1) for n in range(300)]
    async with Subscriber(mosquitto.port, f"{ROOT}/events/#") as sub:
        daemon = Daemon(config).start()
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
            for data in frames:
                sock.sendall(data)
                assert b'"ACK"' in read_reply(sock)
        await sub.wait_until(lambda s: len(panel_ids(s)) >= 50, within_s=30)
        daemon.kill()
        with Daemon(config):
            await sub.wait_until(
                lambda s: len(panel_ids(s)) >= 300 and len(advised_once(s)) >= 300, within_s=60
            )
        delivered = of_type(sub, "panel")
        assert len({e["journal_seq"] for e in delivered}) == 300
        # every alarm advised once, across the kill: none twice, none lost
        assert set(advised_once(sub)) == panel_ids(sub)
        by_id: dict[str, int] = {}
        for event in delivered:
            assert by_id.setdefault(event["id"], event["journal_seq"]) == event["journal_seq"]
