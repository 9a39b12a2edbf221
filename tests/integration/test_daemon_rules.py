"""The centre's rules through the running daemon and a real broker (issue 5): verification,
supervision, test mode and operator verification, as an integrator sees them on MQTT."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.mosquitto import Mosquitto, Subscriber

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
SUPERVISED = """account = "1234"
[accounts.supervision]
interval_s = 2.0
grace_s = 1.0
[accounts.verification]
window_s = 300.0
chains = [[1, 2, 3, 4]]
"""


def config(tmp_path: Path, broker: Mosquitto) -> Path:
    return write_config(
        tmp_path,
        accounts=[SUPERVISED, 'account = "5678"'],
        mqtt=f'url = "{broker.url}"\nkeepalive_s = 5',
    )


def of_type(sub: Subscriber, kind: str) -> list[dict]:
    return [e for e in sub.json(f"{ROOT}/events/") if e.get("type") == kind]


def events(sub: Subscriber, account: str, **match: object) -> list[dict]:
    return [
        e
        for e in sub.json(f"{ROOT}/events/{account}")
        if all(e.get(k) == v for k, v in match.items())
    ]


def cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


async def test_neighbouring_zones_verify_and_silence_is_lost(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Two BA alarms in zones 2 and 3 give one alarm.verified naming both; the same detector
    twice does not; an account that stops reporting is lost within interval + grace, and its
    next frame restores it, the restore naming the loss and that frame (issue 14)."""
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as sub:
        with Daemon(config(tmp_path, mosquitto)) as daemon:
            exchange_tcp(
                daemon.port,
                [
                    frame("1234", "#1234|Nri1/BA02", sequence=1),
                    frame("1234", "#1234|Nri1/BA02", sequence=2),
                    frame("1234", "#1234|Nri1/BA03", sequence=3),
                ],
            )
            await sub.wait_until(lambda s: bool(of_type(s, "alarm.verified")))
            [verified] = of_type(sub, "alarm.verified")
            assert verified["account"] == "1234"
            lost_after = time.monotonic()
            await sub.wait_until(lambda s: bool(of_type(s, "supervision.lost")), within_s=10)
            assert time.monotonic() - lost_after <= 2.0 + 1.0 + 2.0  # interval + grace + slack
            [lost] = of_type(sub, "supervision.lost")
            exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/OP01", sequence=4)])
            await sub.wait_until(lambda s: bool(of_type(s, "supervision.restored")))
            [restored] = of_type(sub, "supervision.restored")
            await sub.wait_until(lambda s: bool(events(s, "1234", code="OP")))
            [opening] = events(sub, "1234", code="OP")
            assert restored["refs"] == [lost["journal_seq"], opening["journal_seq"]]
            # The rules conclude in journal order: a second verification of frames 1-3 would
            # have come long before the loss and its restore.
            assert len(of_type(sub, "alarm.verified")) == 1


async def test_test_mode_and_operator_verification_by_cli(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """test-mode --on flags the account's events test: true until --off; an operator
    verifies an alarm from the command line."""
    cfg = config(tmp_path, mosquitto)
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as sub:
        with Daemon(cfg) as daemon:
            started = cli(
                "test-mode", "--config", str(cfg), "--account", "5678", "--on", "--duration", "1h"
            )
            assert started["ok"] is True
            exchange_tcp(daemon.port, [frame("5678", "#5678|Nri1/BA01", sequence=1)])
            await sub.wait_until(lambda s: bool(of_type(s, "test.started")))
            await sub.wait_until(
                lambda s: any(e.get("code") == "BA" for e in s.json(f"{ROOT}/events/5678"))
            )
            [alarm] = [e for e in sub.json(f"{ROOT}/events/5678") if e.get("code") == "BA"]
            assert alarm["test"] is True
            assert cli("test-mode", "--config", str(cfg), "--account", "5678", "--off")["ok"]
            await sub.wait_until(lambda s: bool(of_type(s, "test.ended")))
            exchange_tcp(daemon.port, [frame("5678", "#5678|Nri1/BA04", sequence=2)])
            await sub.wait_until(lambda s: any(e.get("zone") == 4 for e in of_type(s, "panel")))
            [later] = [e for e in of_type(sub, "panel") if e.get("zone") == 4]
            assert later["test"] is False
            # the rules advised on both alarms, by the test mode at each one's receipt
            await sub.wait_until(lambda s: len(of_type(s, "dispatch.advice")) >= 2)
            advice = {e["alarm_id"]: e for e in of_type(sub, "dispatch.advice")}
            assert advice[alarm["id"]]["test"] is True
            assert advice[alarm["id"]]["dispatch"]["reason"] == "test mode"
            assert advice[later["id"]]["test"] is False
            assert advice[later["id"]]["dispatch"]["reason"] == "procedure"
            verified = cli(
                "verify",
                "--config",
                str(cfg),
                "--account",
                "5678",
                "--journal-seq",
                str(later["journal_seq"]),
                "--by",
                "camera",
            )
            assert verified["ok"] is True
            await sub.wait_until(
                lambda s: any(e["account"] == "5678" for e in of_type(s, "alarm.verified"))
            )
            refused = cli("test-mode", "--config", str(cfg), "--account", "nobody", "--on")
            assert refused["ok"] is False
