"""The keys of schedules, insurance levels and the evidence export (docs/schedules.md,
docs/evidence.md): ``[accounts.schedule]``, ``[accounts.insurance]`` and ``[evidence]``.

``sections.ACCOUNT`` lists ``SCHEDULE_OPTIONS``; ``sections.ROOT`` lists ``EVIDENCE``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from alarmrx.config import checks as c
from alarmrx.config.model import (
    EvidenceSettings,
    InsuranceSettings,
    OpenPeriod,
    ScheduleSettings,
)
from alarmrx.config.problems import Invalid, KeyPath, Reported
from alarmrx.config.schema import Check, Context, Option, Table

WEEKDAYS: Mapping[str, int] = MappingProxyType(
    {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
)
_PERIOD = re.compile(r"(?P<h1>[0-9]{2}):(?P<m1>[0-9]{2})-(?P<h2>[0-9]{2}):(?P<m2>[0-9]{2})")
DAY_MINUTES = 1440
MAX_GRACE_S = 86400.0
MAX_REARM_S = 7 * 86400.0
MAX_OVERTIME_S = 86400.0
# Danish F&P insurance levels (docs/protocol.md, "National rules").
LEVELS = (10, 20, 30, 40, 50, 60)


def _minutes(hours: str, minutes: str) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > DAY_MINUTES:
        raise Invalid(f"{hours}:{minutes} is not a time of day (00:00 to 24:00)")
    return value


def parse_period(text: object) -> tuple[int, int]:
    """``"07:00-18:00"`` -> (420, 1080); ``Invalid`` for anything else."""
    c.expect(text, str, 'a string "HH:MM-HH:MM"')
    match = _PERIOD.fullmatch(str(text))
    if match is None:
        raise Invalid(f'{text!r} is not "HH:MM-HH:MM"')
    start = _minutes(match["h1"], match["m1"])
    end = _minutes(match["h2"], match["m2"])
    if start == DAY_MINUTES:
        raise Invalid(f"{text!r} starts at 24:00; write 00:00 of the next day")
    if start == end:
        raise Invalid(f"{text!r} is empty; a whole day is 00:00-24:00")
    return start, end


def period() -> Check:
    """One ``"HH:MM-HH:MM"`` period (an end before the start lies on the next day)."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> tuple[int, int]:
        return parse_period(value)

    return Check('"HH:MM-HH:MM"', convert)


def weekly_periods() -> Check:
    """``{ mon = ["07:00-18:00"], sat = ["09:00-13:00"] }``: open periods per weekday."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[OpenPeriod, ...]:
        c.expect(value, dict, 'a table of weekdays, e.g. { mon = ["07:00-18:00"] }')
        periods, ok = [], True
        for day, items in value.items():
            try:
                periods += _day_periods(day, items, ctx, (*path, day))
            except Invalid as err:
                ctx.report((*path, day), err.message)
                ok = False
            except Reported:
                ok = False
        if not ok:
            raise Reported
        return tuple(sorted(periods, key=lambda p: (p.weekday, p.start)))

    return Check('table of weekday = ["HH:MM-HH:MM", …]', convert)


def _day_periods(day: str, items: Any, ctx: Context, path: KeyPath) -> list[OpenPeriod]:
    weekday = WEEKDAYS.get(day)
    if weekday is None:
        raise Invalid(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
    c.expect(items, list, 'an array of "HH:MM-HH:MM" strings')
    pairs = c.each(items, ctx, path, parse_period)
    return [OpenPeriod(weekday, start, end) for start, end in pairs]


def codes() -> Check:
    """An array of event codes (SIA DCS letters or Contact ID digits)."""
    pattern = c.string(r"[A-Z]{2}|[0-9]{3}", "a SIA DCS code (two letters) or Contact ID code")

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[str, ...]:
        c.expect(value, list, "an array of event codes")
        return tuple(c.each(value, ctx, path, lambda v: pattern.convert(v, ctx, path)))

    return Check("array of event codes", convert)


def reaction_table() -> Check:
    """``{ "20" = 30, "30" = 30 }``: minutes per insurance level."""
    level = c.choice(*(str(n) for n in LEVELS[1:]))
    minutes = c.number(positive=True)

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[tuple[int, float], ...]:
        c.expect(value, dict, 'a table of level = minutes, e.g. { "30" = 20 }')
        pairs = c.each(
            list(value.items()),
            ctx,
            path,
            lambda item: (
                int(level.convert(item[0], ctx, path)),
                minutes.convert(item[1], ctx, path),
            ),
        )
        return tuple(sorted(pairs))

    return Check('table of "level" = minutes', convert)


def _level(value: Any) -> int:
    c.expect(value, int, "an integer (10, 20, 30, 40, 50 or 60)")
    if value not in LEVELS:
        raise Invalid(f"{value} is not one of: {', '.join(map(str, LEVELS))}")
    return int(value)


def _check_schedule(values: dict[str, Any], _ctx: Context) -> ScheduleSettings:
    settings = ScheduleSettings(**values)
    if settings.grace_s > MAX_GRACE_S:
        raise Invalid(f"must be at most {MAX_GRACE_S:.0f} (a day)", key="grace_s")
    if (settings.rearm_after_alarm_s or 0) > MAX_REARM_S:
        raise Invalid(f"must be at most {MAX_REARM_S:.0f} (7 days)", key="rearm_after_alarm_s")
    if settings.max_overtime_s > MAX_OVERTIME_S:
        raise Invalid(f"must be at most {MAX_OVERTIME_S:.0f} (a day)", key="max_overtime_s")
    return settings


SCHEDULE = Table(
    "accounts.schedule",
    ScheduleSettings,
    (
        Option(
            "timezone",
            c.timezone(),
            "IANA zone the periods are in.",
            "`accounts.timezone`, else UTC",
        ),
        Option(
            "open",
            weekly_periods(),
            "When the premises are expected open (disarmed), per weekday: `{ mon = "
            '["07:00-18:00"], sat = ["09:00-13:00"] }`; `22:00-06:00` ends the next day. '
            "Outside them it should be armed.",
        ),
        Option(
            "grace_s",
            c.number(0),
            "After an open period ends, `schedule.late_to_arm` when still not armed.",
        ),
        Option(
            "evening_check",
            period(),
            'One arming check per evening, e.g. `"22:00-24:00"`: not armed at its end '
            "(and no open period or overtime then) raises `schedule.not_armed_evening`.",
        ),
        Option(
            "rearm_after_alarm_s",
            c.number(positive=True),
            "Disarmed after an alarm and not armed again this long after: `rearm.missing`.",
        ),
        Option(
            "max_overtime_s",
            c.number(positive=True),
            "Longest overtime a command may grant, counted from the command.",
        ),
    ),
    "The account's weekly schedule and its arming checks (docs/schedules.md).",
    build=_check_schedule,
)

INSURANCE = Table(
    "accounts.insurance",
    InsuranceSettings,
    (
        Option(
            "level",
            Check("10 | 20 | 30 | 40 | 50 | 60", lambda v, _c, _p: _level(v)),
            "Insurance security level (Danish F&P 10-60); its reaction time comes from "
            "`evidence.reaction_minutes`.",
        ),
        Option(
            "reaction_minutes",
            c.number(positive=True),
            "This account's required reaction time, overriding the level's.",
        ),
    ),
    "What the evidence export measures this account's responses against.",
)


EVIDENCE = Table(
    "evidence",
    EvidenceSettings,
    (
        Option(
            "reaction_minutes",
            reaction_table(),
            "Required reaction time per insurance level. The defaults are PLACEHOLDERS: "
            "the real F&P values are not known to us; set your insurer's.",
            '`{ "20" = 30, "30" = 30, "40" = 20, "50" = 20, "60" = 15 }`',
        ),
        Option(
            "keybox_codes",
            codes(),
            'Event codes that mean the key box was opened (e.g. `["DG"]`, or the code '
            "your panels send for the key-box zone); default: none.",
        ),
        Option(
            "follow_up_s",
            c.number(positive=True),
            "How long after an alarm its disarm, key-box opening, alerts and guard "
            "arrival are looked for.",
        ),
    ),
    "The insurance evidence export (docs/evidence.md).",
)

SCHEDULE_OPTIONS = (
    Option("schedule", c.table(SCHEDULE), "Weekly schedule: `[accounts.schedule]`."),
    Option("insurance", c.table(INSURANCE), "Insurance level: `[accounts.insurance]`."),
)
