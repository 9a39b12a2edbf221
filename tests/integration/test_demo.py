"""``make demo``: README.md's worked examples run as written against a private mosquitto and
daemon, and give what README.md shows (scripts/demo.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.mosquitto import require_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_every_worked_example_runs_as_written() -> None:
    require_binary()
    if shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None:
        message = "mosquitto_pub/mosquitto_sub missing (apt-get install mosquitto-clients)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "demo ok: every example in README.md ran" in done.stdout
    for shown in ("Closing Report", "every record reaches an anchor", '"ok": true'):
        assert shown in done.stdout, shown
