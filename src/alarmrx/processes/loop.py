"""The event loop every process of the daemon runs on, in a module of its own so that a child
process imports it without the rest of ``alarmrx.app``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """uvloop when it is installed (the ``uvloop`` extra; measured in docs/performance.md),
    unless ``ALARMRX_EVENT_LOOP=asyncio``; the standard loop otherwise."""
    if os.environ.get("ALARMRX_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop  # noqa: PLC0415 - optional

            return uvloop.run(main)
        except ImportError:
            pass
    return asyncio.run(main)
