"""The soak benchmark, briefly, as a correctness check (no timing): the daemon with MQTT on
gets the soak's event mix from many accounts, every frame is acknowledged, RSS samples are
taken, and every retained ``state/{account}`` stays under a few KB while the open-alarm
limit and the ageing out fire. The full run is ``python -m benchmarks.run --section soak``
(docs/performance.md, "Soak")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.broker import find_mosquitto
from benchmarks.receivers import alarmrx_available
from benchmarks.soak import soak_mix

ROOT = Path(__file__).resolve().parents[2]
STATE_LIMIT = 4096  # bytes: "a few KB" for the soak's mix (docs/mqtt.md bounds any mix)

pytestmark = pytest.mark.integration


def test_the_mix_opens_more_alarms_than_an_account_keeps() -> None:
    never_restored = {data for _, data in soak_mix() if data.startswith("1120") or "/HA" in data}
    assert len(never_restored) > 32  # panics and hold-ups in distinct zones, never restored


def test_a_short_soak_keeps_state_small_and_samples_rss(tmp_path: Path) -> None:
    if find_mosquitto() is None or not alarmrx_available():
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto and alarmrx are needed for the soak smoke test")
        pytest.skip("mosquitto or alarmrx is not available")
    results = tmp_path / "soak.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--section",
        "soak",
        "--duration",
        "10",  # the states are bounded by the ageing (3 s): past it, more time adds nothing
        "--rate",
        "150",
        "--accounts",
        "30",
        "--connections",
        "10",
        "--processes",
        "1",
        "--sample-every",
        "1",
        "--open-max-age",
        "3",
        "--output",
        str(tmp_path / "performance.md"),
        "--json",
        str(results),
        "--workdir",
        str(tmp_path / "work"),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(results.read_text(encoding="utf-8"))
    assert report["failed"] == 0
    assert report["acked"] > 1000
    samples = report["samples"]
    assert len(samples) >= 5
    assert all(s["rss"] > 0 for s in samples)
    assert samples[-1]["states"] == 30  # every account's state was published
    assert 0 < report["state_max_ever"] < STATE_LIMIT
    reasons = report["derived"]
    assert reasons.get("alarm.expired", 0) > 0  # the limit and the age both close alarms
    assert "<!-- bench:soak -->" in (tmp_path / "performance.md").read_text(encoding="utf-8")
