"""clock_status reads the kernel's NTP state without changing it."""

from __future__ import annotations

import ctypes
import sys

import pytest

from alarmrx.observability import clock
from alarmrx.observability.clock import ClockStatus, clock_status


@pytest.mark.skipif(sys.platform != "linux", reason="adjtimex is Linux's")
def test_returns_sane_values_on_linux() -> None:
    status = clock_status()
    assert status.source == "adjtimex" or status.source.startswith("adjtimex: ")
    if status.source == "adjtimex":
        assert isinstance(status.synchronised, bool)
        assert status.estimated_error_s is not None
        assert status.maxerror_s is not None
        assert status.estimated_error_s >= 0
        assert status.maxerror_s >= 0


def test_struct_is_the_size_of_glibcs_struct_timex() -> None:
    expected = 208 if ctypes.sizeof(ctypes.c_long) == 8 else 128
    assert ctypes.sizeof(clock.Timex) == expected


def test_unavailable_gives_nones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "_adjtimex", lambda: None)
    assert clock_status() == ClockStatus(None, None, None, "unavailable")


def test_unsynchronised_bit_and_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(state: int, status: int) -> object:
        def adjtimex(pointer: object) -> int:
            timex = ctypes.cast(pointer, ctypes.POINTER(clock.Timex)).contents
            assert timex.modes == 0
            timex.status, timex.esterror, timex.maxerror = status, 1500, 16_000_000
            return state

        return adjtimex

    monkeypatch.setattr(clock, "_adjtimex", lambda: fake(0, 0))
    assert clock_status() == ClockStatus(True, 0.0015, 16.0, "adjtimex")
    monkeypatch.setattr(clock, "_adjtimex", lambda: fake(0, clock.STA_UNSYNC))
    assert clock_status().synchronised is False
    monkeypatch.setattr(clock, "_adjtimex", lambda: fake(clock.TIME_ERROR, 0))
    assert clock_status().synchronised is False


def test_an_unsynchronised_clock_is_logged_when_the_state_changes_not_at_every_check() -> None:
    """A minute-by-minute series of readings, as the daemon checks them: unsynchronised from
    the start, unknown for a while, synchronised again, then lost again."""
    readings = [False, False, None, False, True, True, None, True, False, False]
    logged = []
    known: bool | None = None
    for now in readings:
        logged.append(clock.sync_change(known, now))
        if now is not None:
            known = now
    lost, back = "clock_not_synchronised", "clock_synchronised"
    assert logged == [lost, None, None, None, back, None, None, None, lost, None]


def test_a_synchronised_start_logs_nothing() -> None:
    assert clock.sync_change(None, True) is None
