"""A reader that stops early (``alarmrx check … | head -1``) ends the command quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_closed_pipe_gives_no_traceback() -> None:
    config = REPO / "config" / "alarmrx.example.toml"
    command = [sys.executable, "-m", "alarmrx", "check", "--config", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the command writes (`| true`)
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert "Traceback" not in err, err
    assert status == 141  # 128 + SIGPIPE, as the shell reports a process ended by it
