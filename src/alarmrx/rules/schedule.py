"""Schedules: is each account armed when its weekly schedule says it should be?
(docs/schedules.md)

A pure core: journal records in (``handle``), the current time in (``on_timer(now)``),
conclusions out. It never reads a clock: record times and timer times move it forward, and
every deadline is judged once, with the state the journal shows at that moment.

- **Armed state.** Open/close events of MESSAGE records (category ``open`` / ``close``) set
  their area disarmed / armed. The account counts as armed when every area seen is armed; it
  is unknown until its first open/close event, and nothing is judged while it is unknown.
- ``schedule.late_to_arm``: not armed ``grace`` after an open period ends.
- ``schedule.unexpected_disarm``: a disarm received outside every open period and overtime.
- ``schedule.not_armed_evening``: not armed at the end of the evening window, unless an open
  period or overtime (with its grace) covers that moment.
- ``rearm.missing``: disarmed after an alarm received while armed, and not armed again
  ``rearm_after`` later (unless an open period covers that moment).
- ``schedule.overtime``: an accepted ``overtime`` command: open from the command until
  ``until``; given within the grace after a period, it extends that period.

A deadline at the very moment of a record is judged after it: arming exactly at the deadline
is in time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from alarmrx.journal import bodies
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.command_records import accepted_action
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.derived import iso as _iso
from alarmrx.rules.events import StoredEvent, panel_events
from alarmrx.rules.weekly import (
    DAY,
    Interval,
    SchedulePlan,
    evening_ends,
    open_intervals,
)

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_COMMAND, _MESSAGE = RecordKind.COMMAND, RecordKind.MESSAGE

Area = int | str | None
TICK = timedelta(microseconds=1)
CHUNK = timedelta(days=7)  # a long silence is judged a week at a time
LOOKAHEAD = timedelta(days=8)  # a weekly schedule has a deadline within it
OVERTIME_KEPT = timedelta(days=2)


@dataclass(slots=True)
class Premises:
    """One account's schedule and what the journal told about it so far."""

    plan: SchedulePlan
    checked: datetime | None = None  # every deadline up to here was judged
    areas: dict[Area, bool] = field(default_factory=dict)
    last_change: int | None = None  # journal_seq of the last open/close
    overtime: list[Interval] = field(default_factory=list)
    alarm_seq: int | None = None  # an alarm while armed, no disarm since
    rearm: tuple[datetime, int, int] | None = None  # (due, alarm seq, disarm seq)
    due: datetime | None = None  # the next deadline (in the core's heap)
    dirty: bool = True  # ``due`` must be worked out again

    @property
    def armed(self) -> bool | None:
        """True when every area seen is armed; None before any open/close event."""
        return all(self.areas.values()) if self.areas else None

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """The open intervals, overtime included, around ``[start, end]``."""
        return open_intervals(self.plan, start, end, self.overtime)

    def is_open(self, at: datetime) -> bool:
        """True inside an open period or overtime (start included, end excluded)."""
        return any(begin <= at < end for begin, end in self.intervals(at, at))


@dataclass(frozen=True, slots=True)
class Deadline:
    """A moment to judge: ``kind`` is ``late``, ``evening`` or ``rearm``; ``mark`` names it
    (the period's end, the evening's date)."""

    due: datetime
    kind: str
    mark: str


# what a panel event of one category does: (premises, record, index, event) -> conclusions
_Action = Callable[[Premises, Record, int, StoredEvent], list[Derived]]


class ScheduleCore:
    """Every scheduled account's armed state, overtime and pending checks."""

    def __init__(self, plans: Mapping[str, SchedulePlan]) -> None:
        self._premises = {account: Premises(plan) for account, plan in plans.items()}
        self._heap: list[tuple[datetime, str]] = []
        self._last_seq = 0
        # what a panel event of each category does (premises, record, index, event)
        self._actions: Mapping[str, _Action] = MappingProxyType(
            {"close": self._closed, "open": self._opened, "alarm": self._alarm}
        )

    def configure(self, plans: Mapping[str, SchedulePlan], now: datetime) -> None:
        """New plans (a reload): a changed plan judges only from ``now`` on; states stay."""
        for account in set(self._premises) - set(plans):
            del self._premises[account]
        for account, plan in plans.items():
            premises = self._premises.setdefault(account, Premises(plan))
            if premises.plan != plan:
                premises.plan, premises.dirty = plan, True
                premises.checked = max(premises.checked or now, now)
                self._schedule(account, premises)

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record: the deadlines before it, then what it tells."""
        if record.journal_seq <= self._last_seq or record.account is None:
            return []
        self._last_seq = record.journal_seq
        premises = self._premises.get(record.account)
        if premises is None:
            return []
        out = self._judge(premises, record.received_at - TICK, record.received_at)
        if record.kind is _MESSAGE:
            out += self._message(premises, record)
        elif record.kind is _COMMAND and accepted_action(record) == "overtime":
            out += self._overtime(premises, record)
        self._schedule(record.account, premises)
        return out

    def on_timer(self, now: datetime) -> list[Derived]:
        """Judge every deadline due by ``now``."""
        out: list[Derived] = []
        while self._heap and self._heap[0][0] <= now:
            due, account = heapq.heappop(self._heap)
            premises = self._premises.get(account)
            if premises is None or premises.due != due:
                continue  # stale: rescheduled or removed since
            out += self._judge(premises, now, now)
            self._schedule(account, premises)
        return out

    def next_deadline(self) -> datetime | None:
        """The earliest pending deadline."""
        while self._heap:
            due, account = self._heap[0]
            premises = self._premises.get(account)
            if premises is not None and premises.due == due:
                return due
            heapq.heappop(self._heap)
        return None

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """Nothing to remember: the state comes from panel events and commands."""

    def overtime_refusal(self, account: str, until: datetime, now: datetime) -> str | None:
        """Why an ``overtime`` command cannot be granted now, or None."""
        premises = self._premises.get(account)
        if premises is None:
            return f"account {account!r} has no schedule"
        if until <= now:
            return "until must be in the future"
        limit = premises.plan.max_overtime
        if until - now > limit:
            return f"until must be at most {limit.total_seconds():.0f} s from now"
        return None

    def armed(self, account: str) -> bool | None:
        """The account's armed state (None: unknown or not scheduled)."""
        premises = self._premises.get(account)
        return None if premises is None else premises.armed

    # -- the journal's records -----------------------------------------------------

    def _message(self, premises: Premises, record: Record) -> list[Derived]:
        out: list[Derived] = []
        for index, event in panel_events(record):
            action = self._actions.get(str(event.category))
            if action is not None:
                out += action(premises, record, index, event)
        return out

    def _closed(
        self, premises: Premises, record: Record, index: int, event: StoredEvent
    ) -> list[Derived]:
        del index
        premises.dirty |= not premises.areas
        premises.areas[event.area] = True
        premises.last_change = record.journal_seq
        if premises.armed:
            premises.dirty |= premises.rearm is not None
            premises.rearm = premises.alarm_seq = None
        return []

    def _opened(
        self, premises: Premises, record: Record, index: int, event: StoredEvent
    ) -> list[Derived]:
        premises.dirty |= not premises.areas
        premises.areas[event.area] = False
        premises.last_change = record.journal_seq
        after = premises.plan.rearm_after
        if premises.alarm_seq is not None and after is not None:
            premises.rearm = (record.received_at + after, premises.alarm_seq, record.journal_seq)
            premises.dirty = True
        premises.alarm_seq = None
        if premises.is_open(record.received_at):
            return []
        return [_unexpected_disarm(premises.plan, record, index, event)]

    def _alarm(
        self, premises: Premises, record: Record, index: int, event: StoredEvent
    ) -> list[Derived]:
        del index, event
        if premises.armed and premises.alarm_seq is None:
            premises.alarm_seq = record.journal_seq
        return []

    def _overtime(self, premises: Premises, record: Record) -> list[Derived]:
        at, plan = record.received_at, premises.plan
        command = bodies.command(record)
        until = datetime.fromisoformat(str(command.until if command else None))
        ended = [
            end
            for _, end in premises.intervals(at - plan.grace, at)
            if end <= at <= end + plan.grace
        ]
        start = min([at, *ended])
        premises.overtime = [i for i in premises.overtime if i[1] > at - OVERTIME_KEPT]
        premises.overtime.append((start, until))
        premises.dirty = True
        fields = {"from": iso(start), "until": iso(until), "command_seq": record.journal_seq}
        return [
            Derived(
                type=DerivedType.OVERTIME,
                account=plan.account,
                at=at,
                key=f"schedule.overtime|{plan.account}|{record.journal_seq}",
                description=f"Overtime until {_local(plan, until)}",
                refs=(record.journal_seq,),
                fields=MappingProxyType(fields),
            )
        ]

    # -- deadlines -----------------------------------------------------------------

    def _judge(self, premises: Premises, upto: datetime, at: datetime) -> list[Derived]:
        """Judge the deadlines after ``checked`` up to ``upto``; ``at`` is now."""
        if premises.checked is None or (premises.armed is None and premises.rearm is None):
            premises.checked = max(premises.checked or upto, upto)
            return []
        if not premises.dirty and premises.due is not None and upto < premises.due:
            # ``due`` is the first deadline after ``checked`` (``_schedule``), and nothing it
            # depends on changed since: no deadline lies in ``(checked, upto]``.
            premises.checked = max(premises.checked, upto)
            return []
        out: list[Derived] = []
        while premises.checked < upto:
            step = min(upto, premises.checked + CHUNK)
            for deadline in _deadlines(premises, premises.checked, step):
                out += self._conclude(premises, deadline, at)
            premises.checked = step
        return out

    def _conclude(self, premises: Premises, deadline: Deadline, at: datetime) -> list[Derived]:
        if deadline.kind == "rearm":
            return _rearm_missing(premises, deadline, at)
        if premises.armed is not False:
            return []
        if deadline.kind == "late":
            return [_late_to_arm(premises, deadline, at)]
        return _not_armed_evening(premises, deadline, at)

    def _schedule(self, account: str, premises: Premises) -> None:
        """Work out the next deadline when it may have changed: it passed, or the plan,
        the overtime, a re-arm check or the state being known changed."""
        checked = premises.checked
        if checked is None:
            return
        if not premises.dirty and premises.due is not None and premises.due > checked:
            return
        premises.dirty = False
        due = None
        for horizon in (DAY, LOOKAHEAD):
            due = next((d.due for d in _deadlines(premises, checked, checked + horizon)), None)
            if due is not None:
                break
        if due != premises.due:
            premises.due = due
            if due is not None:
                heapq.heappush(self._heap, (due, account))


def _deadlines(premises: Premises, after: datetime, upto: datetime) -> list[Deadline]:
    """The deadlines in ``(after, upto]``, in time order."""
    if premises.armed is None and premises.rearm is None:
        return []
    plan = premises.plan
    found = [
        Deadline(due, "evening", day.isoformat()) for due, day in evening_ends(plan, after, upto)
    ]
    found += [Deadline(end + plan.grace, "late", iso(end)) for end in _ends(premises, after, upto)]
    if premises.rearm is not None and after < premises.rearm[0] <= upto:
        found.append(Deadline(premises.rearm[0], "rearm", str(premises.rearm[2])))
    return sorted(found, key=lambda d: d.due)


def _ends(premises: Premises, after: datetime, upto: datetime) -> Iterator[datetime]:
    """Ends of open intervals whose grace runs out in ``(after, upto]``."""
    grace = premises.plan.grace
    for _, end in premises.intervals(after - grace - DAY, upto + DAY):
        if after < end + grace <= upto:
            yield end


def iso(moment: datetime) -> str:
    """A moment in UTC as stored in bodies and keys, whatever zone it was given in."""
    return _iso(moment.astimezone(UTC))


def _local(plan: SchedulePlan, moment: datetime) -> str:
    return moment.astimezone(plan.zone).isoformat(timespec="minutes")


def _late_to_arm(premises: Premises, deadline: Deadline, at: datetime) -> Derived:
    plan = premises.plan
    end = datetime.fromisoformat(deadline.mark)
    fields = {
        "period_end": deadline.mark,
        "due": iso(deadline.due),
        "grace_s": plan.grace.total_seconds(),
        "timezone": plan.timezone,
    }
    return Derived(
        type=DerivedType.LATE_TO_ARM,
        account=plan.account,
        at=at,
        key=f"schedule.late_to_arm|{plan.account}|{deadline.mark}",
        description=f"Not armed after the open period ending {_local(plan, end)}",
        refs=_refs(premises.last_change),
        fields=MappingProxyType(fields),
    )


def _not_armed_evening(premises: Premises, deadline: Deadline, at: datetime) -> list[Derived]:
    plan = premises.plan
    due, grace = deadline.due, plan.grace
    if any(start <= due <= end + grace for start, end in premises.intervals(due, due)):
        return []  # an open period or overtime covers it: late_to_arm judges that
    fields = {"evening": deadline.mark, "due": iso(deadline.due), "timezone": plan.timezone}
    return [
        Derived(
            type=DerivedType.NOT_ARMED_EVENING,
            account=plan.account,
            at=at,
            key=f"schedule.not_armed_evening|{plan.account}|{deadline.mark}",
            description=f"Not armed at the end of the evening check of {deadline.mark}",
            refs=_refs(premises.last_change),
            fields=MappingProxyType(fields),
        )
    ]


def _rearm_missing(premises: Premises, deadline: Deadline, at: datetime) -> list[Derived]:
    assert premises.rearm is not None  # noqa: S101 - a rearm deadline exists only with it
    _, alarm_seq, disarm_seq = premises.rearm
    premises.rearm = None
    if premises.armed is not False or premises.is_open(deadline.due):
        return []
    plan = premises.plan
    after = (plan.rearm_after or timedelta()).total_seconds()
    fields = {
        "alarm_seq": alarm_seq,
        "disarm_seq": disarm_seq,
        "due": iso(deadline.due),
        "rearm_after_s": after,
    }
    return [
        Derived(
            type=DerivedType.REARM_MISSING,
            account=plan.account,
            at=at,
            key=f"rearm.missing|{plan.account}|{disarm_seq}",
            description=f"Not armed again {after:.0f} s after the disarm that followed an alarm",
            refs=(alarm_seq, disarm_seq),
            fields=MappingProxyType(fields),
        )
    ]


def _unexpected_disarm(
    plan: SchedulePlan, record: Record, index: int, event: StoredEvent
) -> Derived:
    fields = {
        "user": event.user,
        "event_code": event.code,
        "index": index,
        "timezone": plan.timezone,
    }
    return Derived(
        type=DerivedType.UNEXPECTED_DISARM,
        account=plan.account,
        at=record.received_at,
        key=f"schedule.unexpected_disarm|{plan.account}|{record.journal_seq}:{index}",
        description=f"Disarmed outside the open periods at {_local(plan, record.received_at)}",
        refs=(record.journal_seq,),
        area=event.area,
        fields=MappingProxyType(fields),
    )


def _refs(seq: int | None) -> tuple[int, ...]:
    return () if seq is None else (seq,)
