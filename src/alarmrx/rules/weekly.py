"""A weekly schedule in an account's local time, as instants in UTC (docs/schedules.md).

Periods are written in local wall-clock time; each local date turns them into UTC instants
with ``zoneinfo``, so they follow daylight saving time:

- a time that does not exist (the spring-forward gap, 02:30 in Europe/Copenhagen on the last
  Sunday of March) is moved forward by the gap (03:30);
- a time that exists twice (the fall-back hour) is its first occurrence (summer time);
- ``24:00`` is the next day's midnight, and a period whose end is at or before its start ends
  on the next day (``22:00-06:00``).

Periods that touch or overlap (``mon 07:00-24:00`` and ``tue 00:00-06:00``, or an overtime)
are merged into one interval: only its end is a closing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from alarmrx.config.model import AccountSettings, OpenPeriod

DAY = timedelta(days=1)
Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePlan:
    """One account's schedule: open periods, checks and limits, in its time zone."""

    account: str
    timezone: str
    periods: tuple[OpenPeriod, ...]
    grace: timedelta
    evening: tuple[int, int] | None = None
    rearm_after: timedelta | None = None
    max_overtime: timedelta = timedelta(hours=12)
    spans: tuple[tuple[int, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The periods as (weekday, start, end): a cache key that hashes cheaply.
        spans = tuple((p.weekday, p.start, p.end) for p in self.periods)
        object.__setattr__(self, "spans", spans)

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone."""
        return ZoneInfo(self.timezone)

    def local_date(self, moment: datetime) -> date:
        """The local calendar date of ``moment``."""
        return moment.astimezone(self.zone).date()


def schedule_plan(entry: AccountSettings) -> SchedulePlan | None:
    """The plan of an ``[[accounts]]`` entry with ``[accounts.schedule]``; None without."""
    settings = entry.schedule
    if settings is None:
        return None
    rearm = settings.rearm_after_alarm_s
    return SchedulePlan(
        account=entry.account,
        timezone=settings.timezone or entry.timezone or "UTC",
        periods=settings.open,
        grace=timedelta(seconds=settings.grace_s),
        evening=settings.evening_check,
        rearm_after=None if rearm is None else timedelta(seconds=rearm),
        max_overtime=timedelta(seconds=settings.max_overtime_s),
    )


def instant(day: date, minutes: int, timezone: str) -> datetime:
    """Local ``day`` at ``minutes`` after midnight (1440 = next midnight), in UTC."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def span(day: date, start: int, end: int, timezone: str) -> Interval:
    """A period of local ``day``; an ``end`` at or before ``start`` is on the next day."""
    end_day = day if end > start else day + DAY
    return instant(day, start, timezone), instant(end_day, end, timezone)


@lru_cache(maxsize=65536)
def _day_periods(
    spans: tuple[tuple[int, int, int], ...], timezone: str, day: date
) -> tuple[Interval, ...]:
    weekday = day.weekday()
    return tuple(span(day, start, end, timezone) for w, start, end in spans if w == weekday)


def dates(first: date, last: date) -> Iterator[date]:
    """Every date from ``first`` to ``last``, both included."""
    day = first
    while day <= last:
        yield day
        day += DAY


def open_intervals(
    plan: SchedulePlan, start: datetime, end: datetime, extra: Iterable[Interval] = ()
) -> list[Interval]:
    """The merged open intervals touching ``[start, end]``: the plan's periods of the local
    dates around it and ``extra`` (overtime). An interval reaching past either edge may be
    cut short there by what was not computed; callers look a day beyond what they judge."""
    first, last = plan.local_date(start) - DAY, plan.local_date(end) + DAY
    spans = plan.spans
    found = [i for day in dates(first, last) for i in _day_periods(spans, plan.timezone, day)]
    return merge([*found, *(i for i in extra if i[1] >= start and i[0] <= end)])


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with touching or overlapping intervals joined."""
    merged: list[Interval] = []
    for begin, finish in sorted(intervals):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def evening_ends(
    plan: SchedulePlan, after: datetime, upto: datetime
) -> Iterator[tuple[datetime, date]]:
    """(end of the evening window, its local date) for ends in ``(after, upto]``."""
    if plan.evening is None:
        return
    for day in dates(plan.local_date(after) - DAY, plan.local_date(upto)):
        due = _evening_end(plan.evening, plan.timezone, day)
        if after < due <= upto:
            yield due, day


@lru_cache(maxsize=65536)
def _evening_end(window: tuple[int, int], timezone: str, day: date) -> datetime:
    return span(day, window[0], window[1], timezone)[1]
