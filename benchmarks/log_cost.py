"""CPU per accepted message of its ``message_committed`` log line (``[logging] events``).

The daemon's own structlog set-up (``alarmrx.observability.logs.configure``, JSON lines)
writes to /dev/null; each variant is timed with ``timeit``, best of several repeats, and
printed in microseconds per message::

    .venv/bin/python -m benchmarks.log_cost
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from pathlib import Path

import structlog

from alarmrx.observability.logs import configure


def _fields() -> dict[str, object]:
    """What the receiver logs for one SIA-DCS message."""
    return {
        "account": "1234",
        "seq": "0042",
        "codes": ["BA"],
        "reply": "ACK",
        "latency_ms": 1.3,
        "journal_seq": 123456,
        "duplicate": False,
        "transport": "tcp",
        "peer": "203.0.113.7:50123",
    }


def variants() -> dict[str, Callable[[], None]]:
    """``events = true`` (an info line) and ``false`` (a debug line, dropped at info)."""
    log = structlog.get_logger("alarmrx.receiver").bind()
    fields = _fields()
    return {
        "events = true (info line, JSON)": lambda: log.info("message_committed", **fields),
        "events = false (debug, dropped)": lambda: log.debug("message_committed", **fields),
    }


def main() -> None:
    """Print µs per message for each variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with Path("/dev/null").open("w") as sink:
        configure("info", "json", stream=sink)
        for name, call in variants().items():
            best = min(timeit.repeat(call, number=args.number, repeat=args.repeat))
            print(f"{name:36} {best / args.number * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
