"""The sequence numbers ``alarmrx send`` gives its frames, counted up per account as a panel
does: ``0001`` to ``9999``, then ``0001`` again (DC-09; docs/protocol.md).

The receiver records a frame with the same account, addressing, sequence and content once
(a retransmission), so two sends of the same event need two numbers. The last number sent
for each account is kept in a small JSON file, ``$XDG_STATE_HOME/alarmrx/send-sequence.json``
(``~/.local/state/alarmrx/…`` without it), updated under a lock so that sends running at the
same time get different numbers.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

LAST = 9999
FILE_NAME = "send-sequence.json"


def state_file(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the last sequence of each account is kept."""
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", "~")) / ".local/state")
    return Path(base).expanduser() / "alarmrx" / FILE_NAME


def following(last: int) -> int:
    """The number after ``last``: 9999 is followed by 1 (0000 is never counted to)."""
    return last % LAST + 1


def take(path: Path, account: str, given: int | None = None) -> int:
    """The sequence for the next frame of ``account`` — ``given``, else the one after the last
    one kept — remembered as its last. ``OSError`` when the file cannot be kept."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = _read(path)
        number = given if given is not None else following(kept.get(account, 0))
        _write(path, {**kept, account: number})
    return number


def _read(path: Path) -> dict[str, int]:
    """The kept numbers; a missing or unreadable file (or entry) counts as none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int) and 0 <= v <= LAST}


def _write(path: Path, kept: Mapping[str, int]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(kept, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
