"""contrib/mosquitto/ on a real mosquitto, with alarmrx as a subprocess: the shipped config
(passwords, alarmrx on a loopback listener, the others over TLS) and the shipped ACL, used
as they are apart from paths and ports.

An integrator subscribed to everything reads events but no command (they carry PINs), and
cannot send one; an app sends a command and reads its reply on its own reply topic, which
no one else reads; a response topic alarmrx may not write to costs only that reply.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.hostile.support import metric, wait_until
from tests.integration.test_mqtt_commands import cheap_hash
from tests.integration.test_mqtt_tls import make_pki
from tests.mosquitto import Mosquitto, Subscriber, free_port

from alarmrx.journal.query import query

pytestmark = pytest.mark.integration

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "mosquitto"
ROOT = "alarmrx/v1"
PIN = "583920"  # distinctive: looked for in everything the integrator receives
PASSWORDS = {"alarmrx": "rx-secret-1", "console": "console-secret-2", "integrator": "int-3"}
ACCOUNT = f"""account = "1234"
[accounts.card]
[[accounts.card.contacts]]
id_code = "1001"
name = "Owner"
role = "authorised"
pin_hash = "{cheap_hash(PIN)}"
"""


def require_passwd_tool() -> str:
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("mosquitto_passwd not found (apt-get install mosquitto)")
    pytest.skip("mosquitto_passwd not found")


class ShippedBroker(Mosquitto):
    """mosquitto on contrib/mosquitto/alarmrx.conf and alarmrx.acl: paths into the test's
    directory, the listeners on free loopback ports, and the test's own user."""

    def __init__(self, directory: Path) -> None:
        self.tls_port = free_port()
        self.pki = make_pki(directory / "pki")
        super().__init__(directory)

    def _config_text(self) -> str:
        server, _client = self.pki
        passwd = self.directory / "alarmrx.passwd"
        tool = require_passwd_tool()
        passwd.write_text("")
        for user, password in PASSWORDS.items():
            subprocess.run([tool, "-b", str(passwd), user, password], check=True, timeout=30)
        replacements = {
            "/etc/mosquitto/alarmrx.passwd": str(passwd),
            "/etc/mosquitto/alarmrx.acl": str(CONTRIB / "alarmrx.acl"),
            "/etc/mosquitto/certs/broker.crt": str(server.cert),
            "/etc/mosquitto/certs/broker.key": str(server.key),
            "listener 1883 127.0.0.1": f"listener {self.port} 127.0.0.1",
            "listener 8883": f"listener {self.tls_port} 127.0.0.1",
        }
        text = (CONTRIB / "alarmrx.conf").read_text(encoding="utf-8")
        for shipped, here in replacements.items():
            assert shipped in text, shipped
            text = text.replace(shipped, here)
        own = pwd.getpwuid(os.geteuid()).pw_name  # started as root, mosquitto would switch
        return text + f"\nuser {own}\npersistence false\nlog_dest stderr\nlog_type error\n"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    running = ShippedBroker(tmp_path / "broker")
    running.start()
    yield running
    running.kill()


def client_options(broker: ShippedBroker, user: str) -> dict[str, Any]:
    """An app's or integrator's connection: TLS to the apps' listener, a password."""
    _server, client = broker.pki
    return {
        "username": user,
        "password": PASSWORDS[user],
        "tls_params": aiomqtt.TLSParameters(ca_certs=str(client.ca)),
    }


async def command(broker: ShippedBroker, user: str, request: dict[str, Any], reply_to: str) -> None:
    """Publish one command for account 1234 as ``user``, answered on ``reply_to``."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = reply_to
    payload = json.dumps({"id_code": "1001", "pin": PIN, **request}).encode()
    options = client_options(broker, user) | {"protocol": aiomqtt.ProtocolVersion.V5}
    async with aiomqtt.Client("127.0.0.1", broker.tls_port, **options) as app:
        await app.publish(f"{ROOT}/commands/1234", payload, qos=1, properties=properties)


@pytest.fixture
async def daemon(broker: ShippedBroker, tmp_path: Path) -> AsyncIterator[Daemon]:
    mqtt = f'url = "{broker.url}"\nusername = "alarmrx"\npassword = "{PASSWORDS["alarmrx"]}"'
    config = write_config(tmp_path, accounts=[ACCOUNT], mqtt=mqtt)
    with Daemon(config) as running:
        yield running


def _status_online(sub: Subscriber) -> bool:
    return any(
        t.endswith("/status") and p and p.get("status") == "online"
        for (t, _, _), p in zip(sub.messages, sub.decoded, strict=True)
    )


def _types(sub: Subscriber) -> list[str]:
    return [p.get("type") for p in sub.json(f"{ROOT}/events/")]


def _commands_in_journal(daemon: Daemon) -> list[str]:
    records = query(daemon.directory / "journal.db")
    return [r.body["request"]["request_id"] for r in records if r.kind == "command"]


async def test_no_one_but_alarmrx_reads_commands_and_only_apps_send_them(
    broker: ShippedBroker, daemon: Daemon
) -> None:
    async with (
        Subscriber(
            broker.tls_port, "alarmrx/#", **client_options(broker, "integrator")
        ) as everything,
        Subscriber(
            broker.tls_port, f"{ROOT}/commands/#", **client_options(broker, "integrator")
        ) as commands,
        Subscriber(
            broker.tls_port, f"{ROOT}/replies/#", **client_options(broker, "integrator")
        ) as others_replies,
        Subscriber(
            broker.tls_port, f"{ROOT}/replies/console/#", **client_options(broker, "console")
        ) as console_replies,
    ):
        await everything.wait_until(_status_online)  # alarmrx connected and subscribed
        exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01", sequence=1)])
        await everything.wait_until(lambda s: "panel" in _types(s))
        [alarm] = [p for p in everything.json(f"{ROOT}/events/") if p["type"] == "panel"]

        # the integrator's attempt: its PIN is right, the broker does not pass it on
        await command(
            broker,
            "integrator",
            {"action": "cancel", "request_id": "intruder", "journal_seq": alarm["journal_seq"]},
            f"{ROOT}/replies/integrator/1",
        )
        # the app's command, answered on its own reply topic
        await command(
            broker,
            "console",
            {"action": "cancel", "request_id": "console-1", "journal_seq": alarm["journal_seq"]},
            f"{ROOT}/replies/console/1",
        )
        await console_replies.wait_until(lambda s: len(s.messages) >= 1)
        await everything.wait_until(lambda s: "alarm.cancelled" in _types(s))

    [(topic, _payload, _retained)] = console_replies.messages
    assert topic == f"{ROOT}/replies/console/1"
    assert console_replies.decoded[0]["ok"] is True
    # the integrator saw the traffic, but no command, no PIN and no one else's reply
    assert {"panel", "alarm.cancelled"} <= set(_types(everything))
    assert not [t for t, _, _ in everything.messages if t.startswith(f"{ROOT}/commands/")]
    assert PIN not in repr(everything.messages)
    assert commands.messages == []
    assert others_replies.messages == []
    assert daemon.terminate() == 0
    assert _commands_in_journal(daemon) == ["console-1"]


async def test_a_reply_alarmrx_may_not_publish_costs_only_that_reply(
    broker: ShippedBroker, daemon: Daemon
) -> None:
    """An app naming a response topic outside alarmrx's write access (by mistake or not)
    gets no reply; alarmrx stays connected, serves the next command and publishes on."""
    async with (
        Subscriber(broker.tls_port, f"{ROOT}/#", **client_options(broker, "console")) as seen,
        Subscriber(
            broker.tls_port, f"{ROOT}/replies/console/#", **client_options(broker, "console")
        ) as replies,
    ):
        await seen.wait_until(_status_online)
        refused = {"action": "change_pin", "new_pin": "0000"}  # answered with an error
        await command(
            broker, "console", {**refused, "request_id": "misdirected"}, "elsewhere/inbox"
        )
        wait_until(lambda: "mqtt_publication_refused" in daemon.log(), 10, "the refusal")
        await command(
            broker, "console", {**refused, "request_id": "next"}, f"{ROOT}/replies/console/2"
        )
        await replies.wait_until(lambda s: len(s.messages) >= 1)
        exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01", sequence=1)])
        await seen.wait_until(lambda s: "panel" in _types(s))  # the loop went round again
    assert [p["request_id"] for p in replies.decoded] == ["next"]
    assert metric(daemon, "alarmrx_mqtt_publish_failures_total", reason="refused") == 0
    assert metric(daemon, "alarmrx_mqtt_connected") == 1
    assert daemon.terminate() == 0
    assert "mqtt_failed" not in daemon.log()
    assert _commands_in_journal(daemon) == ["misdirected", "next"]
