"""Schedules in Europe/Copenhagen, open/close events and local times for the schedule tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.unit.rules.records import Stream, command, event, message

from alarmrx.config.model import AccountSettings, OpenPeriod, ScheduleSettings
from alarmrx.journal.records import Record
from alarmrx.rules.derived import Derived, new_record
from alarmrx.rules.schedule import ScheduleCore
from alarmrx.rules.weekly import SchedulePlan, schedule_plan

CPH = ZoneInfo("Europe/Copenhagen")
MON, TUE, SAT, SUN = 0, 1, 5, 6
ACCOUNT = "1234"


def local(text: str) -> datetime:
    """A Copenhagen wall time (``2025-03-03 07:00``; the first occurrence if ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


def hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def period(weekday: int, text: str) -> OpenPeriod:
    start, end = text.split("-")
    return OpenPeriod(weekday, hhmm(start), hhmm(end))


def plan(
    *periods: OpenPeriod,
    grace_s: float = 900.0,
    evening: str | None = None,
    rearm_s: float | None = None,
) -> SchedulePlan:
    window = None
    if evening is not None:
        start, end = evening.split("-")
        window = (hhmm(start), hhmm(end))
    settings = ScheduleSettings(
        open=periods, grace_s=grace_s, evening_check=window, rearm_after_alarm_s=rearm_s
    )
    entry = AccountSettings(account=ACCOUNT, timezone="Europe/Copenhagen", schedule=settings)
    built = schedule_plan(entry)
    assert built is not None
    return built


def opening(area: int | None = 1, user: int | None = 7) -> dict[str, Any]:
    """SIA OP: disarmed by a user."""
    return {**event("OP", "open", area=area), "user": user}


def closing(area: int | None = 1, user: int | None = 7) -> dict[str, Any]:
    """SIA CL: armed by a user."""
    return {**event("CL", "close", area=area), "user": user}


def alarm(zone: int = 3) -> dict[str, Any]:
    return event("BA", "alarm", zone=zone)


class Site:
    """A schedule core fed like the runner feeds it, keeping every conclusion."""

    def __init__(self, schedule: SchedulePlan) -> None:
        self.core = ScheduleCore({ACCOUNT: schedule})
        self.stream = Stream()
        self.derived: list[Derived] = []

    def send(self, when: datetime, *events: dict[str, Any]) -> list[Derived]:
        return self._fold(message(ACCOUNT, *events, when=when))

    def overtime(self, when: datetime, until: datetime) -> list[Derived]:
        return self._fold(command(ACCOUNT, when, action="overtime", until=until.isoformat()))

    def timer(self, now: datetime) -> list[Derived]:
        out = self.core.on_timer(now)
        self._journal(out)
        return out

    def run_until(self, now: datetime) -> list[Derived]:
        """Call the timer at every deadline up to ``now``, as the runner does."""
        out: list[Derived] = []
        while (due := self.core.next_deadline()) is not None and due <= now:
            out += self.timer(due)
        return out + self.timer(now)

    def types(self) -> list[str]:
        return [d.type.value for d in self.derived]

    def _fold(self, new: Any) -> list[Derived]:
        record: Record = self.stream.add(new)
        out = self.core.handle(record)
        self._journal(out)
        return out

    def _journal(self, out: list[Derived]) -> None:
        for derived in out:
            self.derived.append(derived)
            self.core.handle(self.stream.add(new_record(derived)))
