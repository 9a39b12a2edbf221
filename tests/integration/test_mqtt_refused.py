"""A broker that refuses a publication (MQTT 5 PUBACK reason 0x87, its ACL) has not taken it:
the cursor stays before the event, the failure is counted as ``refused`` and logged at once
(not when the PUBACKs would be overdue), and the event goes out once the broker accepts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_mqtt_publish import has_events, publisher, running
from tests.mosquitto import Mosquitto, Subscriber
from tests.unit.builders import RecordingMetrics, message, sia

from alarmrx.journal.journal import Journal
from alarmrx.mqtt.outbox import CURSOR

pytestmark = pytest.mark.integration

# Anonymous clients may publish the receiver's status, not events.
STATUS_ONLY = "topic readwrite alarmrx/v1/receivers/#\n"
PATIENT_S = 60.0  # publish_timeout_s: no PUBACK is overdue during the test


async def test_a_refused_event_is_not_passed_and_goes_out_once_allowed(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", acl=STATUS_ONLY)
    broker.start()
    try:
        async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
            await journal.append(message("1234", sia("BA", "alarm", zone=5)))
            metrics = RecordingMetrics()
            # a refusal is acted on when its PUBACK comes, long before any PUBACK is overdue
            mqtt = {"protocol": "5", "publish_timeout_s": PATIENT_S}
            async with running(publisher(broker, journal, metrics=metrics, mqtt=mqtt)):
                await metrics.wait_until(
                    lambda m: m.failures.count("refused") >= 2, within_s=PATIENT_S / 4
                )
            assert await journal.load_cursor(CURSOR) == 0
            assert metrics.latencies == []

            broker.stop()
            broker.reconfigure(acl=None)
            broker.start()
            async with (
                Subscriber(broker.port, "alarmrx/v1/events/#") as sub,
                running(publisher(broker, journal, mqtt={"protocol": "5"})),
            ):
                await sub.wait_until(has_events(1))
    finally:
        broker.kill()
