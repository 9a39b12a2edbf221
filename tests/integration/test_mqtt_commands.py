"""Commands over MQTT against a real mosquitto, a real journal and the real rules runner:
a cancel round trip (reply topic and MQTT 5 response topic with correlation data), a wrong
PIN, malformed and oversized requests, an operator-only action, a spoofed source, and the
PIN nowhere in the logs, the journal file, the replies or the published events."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.mosquitto import Mosquitto, Subscriber
from tests.unit.builders import RECEIVER_ID, message, sia, validator

from alarmrx.config import AccountSettings, MQTTSettings
from alarmrx.config.card_model import CardSettings, ContactSettings
from alarmrx.journal.journal import Journal
from alarmrx.mqtt.broker import Backoff
from alarmrx.mqtt.command_topic import MAX_REQUEST_BYTES
from alarmrx.mqtt.publish import MQTTPublisher
from alarmrx.rules import RulesRunner

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
PIN = "947361"  # distinctive: grepped for in everything alarmrx writes
SALT = b"integration-salt"


def cheap_hash(pin: str) -> str:
    digest = hashlib.scrypt(pin.encode(), salt=SALT, n=1024, r=8, p=1, dklen=32)
    return f"scrypt$1024$8$1${base64.b64encode(SALT).decode()}${base64.b64encode(digest).decode()}"


CARD = CardSettings(
    contacts=(
        ContactSettings(id_code="1001", name="Owner", role="authorised", pin_hash=cheap_hash(PIN)),
        ContactSettings(
            id_code="1002",
            name="Keyholder",
            role="warning",
            sequence=1,
            phone="+31 6 1",
            pin_hash=cheap_hash(PIN),
        ),
    )
)
ACCOUNTS = {"1234": AccountSettings(account="1234", name="Shop", card=CARD)}


def now() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def daemon(broker: Mosquitto, path: Path) -> AsyncIterator[Journal]:
    """The journal, the rules runner and the publisher serving the command topic."""
    async with await Journal.open(path, fsync=False) as journal:
        runner = RulesRunner.from_accounts(journal, ACCOUNTS.values(), clock=now)
        publisher = MQTTPublisher(
            MQTTSettings(url=broker.url, publish_timeout_s=5.0, keepalive_s=5),
            receiver_id=RECEIVER_ID,
            journal=journal,
            accounts=ACCOUNTS,
            version="0.1.0",
            backoff=Backoff(initial_s=0.05, cap_s=0.4),
            commands=runner.command,
        )
        tasks = [asyncio.create_task(runner.run()), asyncio.create_task(publisher.run())]
        try:
            yield journal
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def send(
    port: int,
    payload: bytes,
    *,
    response_topic: str | None = None,
    correlation: bytes | None = None,
) -> None:
    properties = None
    if response_topic is not None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = response_topic
        if correlation is not None:
            properties.CorrelationData = correlation
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.publish(f"{ROOT}/commands/1234", payload, qos=1, properties=properties)


def request(action: str, request_id: str, **fields: Any) -> bytes:
    return json.dumps(
        {"action": action, "request_id": request_id, "id_code": "1001", "pin": PIN, **fields}
    ).encode()


def read_all(directory: Path) -> bytes:
    """The journal file and its WAL, as bytes."""
    return b"".join(path.read_bytes() for path in directory.glob("journal.db*"))


def replies(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """The replies received, by request_id (by topic when it is null)."""
    pairs = zip(sub.messages, sub.decoded, strict=True)
    return {p["request_id"] or t: p for (t, _, _), p in pairs if isinstance(p, dict)}


async def test_command_round_trips_and_nothing_secret_anywhere(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    with structlog.testing.capture_logs() as logs:
        async with (
            Subscriber(mosquitto.port, f"{ROOT}/events/#") as sub,
            Subscriber(mosquitto.port, f"{ROOT}/replies/#") as replied,
            Subscriber(mosquitto.port, "app/#") as app,
            daemon(mosquitto, path) as journal,
        ):
            alarm = await journal.append(
                message("1234", sia("BA", "alarm", zone=3), received_at=now())
            )
            seq = alarm.journal_seq
            await sub.wait_until(
                lambda s: any(p.get("type") == "panel" for p in s.json(f"{ROOT}/events/"))
            )
            # published, so subscribed: the publisher subscribes before it publishes
            await send(mosquitto.port, request("cancel", "wrong", journal_seq=seq, pin="000000"))
            await send(
                mosquitto.port, request("cancel", "spoof", journal_seq=seq, pin="1", source="cli")
            )
            await send(
                mosquitto.port,
                request("mark_false", "operator-only", journal_seq=seq, police_alerted=True),
            )
            await send(mosquitto.port, b"{broken", response_topic="app/inbox/1")
            await send(mosquitto.port, b"x" * (MAX_REQUEST_BYTES + 1), response_topic="app/inbox/2")
            await send(
                mosquitto.port,
                request("cancel", "ok", journal_seq=seq),
                response_topic="app/inbox/3",
                correlation=b"corr-3",
            )
            await replied.wait_until(lambda s: len(replies(s)) >= 3)
            await app.wait_until(lambda s: len(replies(s)) >= 3)
            await sub.wait_until(
                lambda s: any(p.get("type") == "alarm.cancelled" for p in s.json(f"{ROOT}/events/"))
            )
            await sub.wait_until(
                lambda s: any(p.get("type") == "dispatch.advice" for p in s.json(f"{ROOT}/events/"))
            )
            records = await journal.read_after(0, limit=100)

    got = replies(replied) | replies(app)
    for reply in got.values():
        validator("reply").validate(reply)
    assert got["wrong"]["error"] == "authentication failed" and "journal_seq" in got["wrong"]
    assert got["spoof"]["error"] == "authentication failed"  # "source": "cli" did not count
    assert got["operator-only"]["error"] == "this action is for operators (the control socket)"
    assert got["app/inbox/1"]["error"] == "a request is one JSON object in UTF-8"
    assert got["app/inbox/2"]["error"] == f"a request is at most {MAX_REQUEST_BYTES} bytes"
    assert got["ok"] == {
        "schema": "alarmrx.reply.v1",
        "request_id": "ok",
        "ok": True,
        "journal_seq": got["ok"]["journal_seq"],
    }
    reply_topics = {t for t, _, _ in replied.messages + app.messages}
    assert reply_topics == {
        "app/inbox/1",
        "app/inbox/2",
        "app/inbox/3",
        f"{ROOT}/replies/wrong",
        f"{ROOT}/replies/spoof",
        f"{ROOT}/replies/operator-only",
    }

    events = sub.json(f"{ROOT}/events/")
    panel = next(p for p in events if p["type"] == "panel")
    validator("event").validate(panel)
    assert panel["dispatch"] is None  # the advice is the rules' own event
    (advised,) = [p for p in events if p["type"] == "dispatch.advice"]
    validator("event").validate(advised)
    assert (advised["alarm_id"], advised["refs"]) == (panel["id"], [seq])
    assert [c["id_code"] for c in advised["dispatch"]["call"]] == ["1002"]
    cancelled = next(p for p in events if p["type"] == "alarm.cancelled")
    assert cancelled["refs"] == [seq, got["ok"]["journal_seq"]]

    commands = [r for r in records if r.kind == "command"]
    assert [r.body["auth"] for r in commands] == ["failed", "failed", "none", "ok"]
    assert all(r.body["request"]["pin"] == "***" for r in commands)
    on_disk = await asyncio.to_thread(read_all, tmp_path)
    assert PIN.encode() not in on_disk
    published = repr(sub.messages + replied.messages + app.messages)
    assert PIN not in repr(logs) and PIN not in published


async def test_correlation_data_is_echoed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    received: list[tuple[str, bytes | None]] = []
    async with (
        aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as app,
        Subscriber(mosquitto.port, f"{ROOT}/receivers/+/status") as status,
        daemon(mosquitto, tmp_path / "journal.db"),
    ):
        await app.subscribe("app/inbox/#", qos=1)
        # online, so subscribed: the publisher subscribes before it sends its status
        await status.wait_until(lambda s: any(p["status"] == "online" for p in s.decoded))
        await send(
            mosquitto.port,
            request("change_pin", "c1", new_pin="0000"),
            response_topic="app/inbox/c1",
            correlation=b"\x01\x02",
        )
        async with asyncio.timeout(10):
            async for reply in app.messages:
                correlation = getattr(reply.properties, "CorrelationData", None)
                received.append((str(reply.topic), correlation))
                payload = json.loads(bytes(reply.payload))
                break
    assert received == [("app/inbox/c1", b"\x01\x02")]
    assert payload["error"] == "new_pin must not be the factory PIN 0000"


async def test_the_daemon_serves_the_command_topic(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Through ``alarmrx run``: an alarm over TCP is followed by its dispatch advice; a factory PIN
    is changed and the new one cancels the alarm; the daemon's debug log holds no PIN."""
    card = f"""account = "1234"
[accounts.card]
[[accounts.card.contacts]]
id_code = "1001"
name = "Owner"
role = "warning"
sequence = 1
pin = "0000"
[[accounts.card.contacts]]
id_code = "1002"
name = "Manager"
role = "authorised"
pin_hash = "{cheap_hash(PIN)}"
"""
    config = write_config(tmp_path, accounts=[card], mqtt=f'url = "{mosquitto.url}"')
    async with (
        Subscriber(mosquitto.port, f"{ROOT}/events/#") as sub,
        Subscriber(mosquitto.port, f"{ROOT}/replies/#") as replied,
    ):
        with Daemon(config) as running:
            exchange_tcp(running.port, [frame("1234", "#1234|Nri1/HA01", sequence=1)])
            await sub.wait_until(lambda s: any(p["type"] == "dispatch.advice" for p in s.decoded))
            (alarm,) = [p for p in sub.decoded if p["type"] == "panel"]
            (advised,) = [p for p in sub.decoded if p["type"] == "dispatch.advice"]
            assert (alarm["dispatch"], advised["alarm_id"]) == (None, alarm["id"])
            assert (advised["priority"], advised["test"]) == ("holdup", False)
            assert advised["dispatch"]["reason"] == "no registered hold-up link"
            assert [c["id_code"] for c in advised["dispatch"]["call"]] == ["1001"]
            seq = alarm["journal_seq"]  # published, so subscribed: it subscribes first
            factory = {"id_code": "1001", "pin": "0000"}
            for request_id, fields in (
                ("too-early", {"action": "cancel", "journal_seq": seq, **factory}),
                ("change", {"action": "change_pin", "new_pin": PIN, **factory}),
                ("cancel", {"action": "cancel", "journal_seq": seq, "id_code": "1001", "pin": PIN}),
            ):
                await send(
                    mosquitto.port, json.dumps({"request_id": request_id, **fields}).encode()
                )
                await replied.wait_until(lambda s, r=request_id: r in replies(s))
            await sub.wait_until(lambda s: any(p["type"] == "alarm.cancelled" for p in s.decoded))
            log = running.log()
    got = replies(replied)
    assert "factory PIN must be changed" in got["too-early"]["error"]
    assert got["change"]["ok"] is True and got["cancel"]["ok"] is True
    assert "command_recorded" in log and PIN not in log
