"""The daemon's processes share one stderr: every JSON log line arrives whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys

LINES = 2000
CHILD = f"""
import structlog
from alarmrx.observability.logs import configure
configure("info", "json")
log = structlog.get_logger("t")
for n in range({LINES}):
    log.info("line_written", n=n, pad="x" * 300)
"""


def test_two_processes_logging_at_once_never_split_a_line() -> None:
    read, write = os.pipe()
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD], stderr=write, stdout=subprocess.DEVNULL)
        for _ in range(2)
    ]
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    events = [json.loads(line) for line in text.splitlines()]  # a split line would not parse
    assert len(events) == 2 * LINES
    assert {e["event"] for e in events} == {"line_written"}
