"""A publisher process killed outright: the broker publishes its last will, and a fresh
subscriber finds the retained status ``offline`` next to the retained account state."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from tests.mosquitto import Mosquitto, Subscriber
from tests.unit.builders import message, sia, validator

from alarmrx.journal.journal import Journal

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
STATUS = f"{ROOT}/receivers/rx1/status"

PUBLISHER = """
import asyncio, sys
from pathlib import Path
from alarmrx.config import MQTTSettings
from alarmrx.journal.journal import Journal
from alarmrx.mqtt.publish import MQTTPublisher

async def main() -> None:
    async with await Journal.open(Path(sys.argv[1]), fsync=False) as journal:
        settings = MQTTSettings(url=sys.argv[2], keepalive_s=5)
        publisher = MQTTPublisher(settings, receiver_id="rx1", journal=journal, accounts={},
                                  version="0.1.0", listeners=["127.0.0.1:12128"])
        await publisher.run()

asyncio.run(main())
"""


async def test_last_will_after_a_crash(mosquitto: Mosquitto, tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(message("1234", sia("CL", "close", area=1)))
        await journal.append(message("1234", sia("BA", "alarm", zone=5, area=1)))
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as watcher:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, str(path), mosquitto.url
        )
        try:
            await watcher.wait_until(
                lambda s: any(t.startswith(f"{ROOT}/state/") for t, _, _ in s.messages)
            )
            process.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sends the will
            await process.wait()
            await watcher.wait_until(lambda s: _status(s) == "offline")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as fresh:
        await fresh.wait_until(lambda s: len(s.messages) >= 2)
    retained = {t: json.loads(p) for t, p, r in fresh.messages if r}
    validator("receiver-status").validate(retained[STATUS])
    assert retained[STATUS] == {
        "schema": "alarmrx.receiver-status.v1",
        "receiver_id": "rx1",
        "status": "offline",
    }
    state = retained[f"{ROOT}/state/1234"]
    validator("state").validate(state)
    assert [a["zone"] for a in state["open_alarms"]] == [5]


def _status(sub: Subscriber) -> str | None:
    statuses = [json.loads(p)["status"] for t, p, _ in sub.messages if t == STATUS]
    return statuses[-1] if statuses else None
