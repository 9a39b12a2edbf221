"""Is the system clock synchronised? The kernel's NTP state, read with ``adjtimex(2)``.

Read-only (``modes = 0``), so no privilege is needed. Receipt times are evidence, so the
daemon exports this as a metric and records it with each message. On systems without
``adjtimex`` (not Linux) or where it is refused, every field is None.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

TIME_ERROR = 5  # clock state: not synchronised
STA_UNSYNC = 0x0040  # status bit: clock unsynchronised
_MICROSECONDS = 1e-6


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (glibc, Linux)."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """``synchronised`` None when unknown; errors in seconds; ``source`` says how it was read."""

    synchronised: bool | None
    estimated_error_s: float | None
    maxerror_s: float | None
    source: str


@lru_cache(maxsize=1)
def _adjtimex() -> Callable[[object], int] | None:
    """libc's ``adjtimex`` (``ntp_adjtime`` where it is called so), typed for ``Timex``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    function = getattr(libc, "adjtimex", None) or getattr(libc, "ntp_adjtime", None)
    if function is not None:
        function.argtypes = (ctypes.POINTER(Timex),)
        function.restype = ctypes.c_int
    return function


def clock_status() -> ClockStatus:
    """The kernel's view of the clock, or Nones when it cannot be read."""
    function = _adjtimex()
    if function is None:
        return ClockStatus(None, None, None, "unavailable")
    timex = Timex(modes=0)
    state = function(ctypes.byref(timex))
    if state < 0:
        return ClockStatus(None, None, None, f"adjtimex: {os.strerror(ctypes.get_errno())}")
    synchronised = state != TIME_ERROR and not timex.status & STA_UNSYNC
    return ClockStatus(
        synchronised=synchronised,
        estimated_error_s=timex.esterror * _MICROSECONDS,
        maxerror_s=timex.maxerror * _MICROSECONDS,
        source="adjtimex",
    )


def sync_change(before: bool | None, now: bool | None) -> str | None:
    """The log event for a change of the synchronised flag from the last known state
    ``before`` to ``now``: ``clock_not_synchronised`` when it becomes False (at start too),
    ``clock_synchronised`` when it is True again; None when nothing changed or ``now`` is
    unknown. So an unsynchronised clock is logged once, not at every check."""
    if now is False and before is not False:
        return "clock_not_synchronised"
    if now is True and before is False:
        return "clock_synchronised"
    return None
