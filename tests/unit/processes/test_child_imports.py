"""A child process imports what its role needs: a receiver worker or the journal writer
starts without the rules, the MQTT publisher or the single-process daemon (``alarmrx.app``),
which only the consumers process runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The MQTT client itself; its interface types (``mqtt.interfaces``) name metric labels.
CONSUMERS_ONLY = (
    "alarmrx.app",
    "alarmrx.rules",
    "alarmrx.evidence",
    "alarmrx.mqtt.publish",
    "alarmrx.mqtt.wire",
)


@pytest.mark.parametrize("role", ["worker", "writer"])
def test_a_worker_or_the_writer_imports_nothing_of_the_consumers(role: str) -> None:
    code = (
        f"import sys, alarmrx.processes.child, alarmrx.processes.{role}\n"
        "print(*sorted(m for m in sys.modules if m.startswith('alarmrx.')), sep='\\n')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    imported = done.stdout.splitlines()
    assert f"alarmrx.processes.{role}" in imported
    assert [m for m in imported if m.startswith(CONSUMERS_ONLY)] == []
