"""Open alarms that nothing closed: ``alarm.expired`` (docs/mqtt.md, "Open alarms").

A pure core: journal records in, conclusions out; it never reads a clock. It folds every
account's open alarms exactly as the retained state does (``rules/state.py``,
``open_alarms_after``) and concludes ``alarm.expired`` for an alarm

- that stayed open for ``max_age`` (``[alarms] open_max_age_s``): ``reason: "age"``, from
  ``on_timer``;
- that was the oldest of its account when one more than ``MAX_OPEN_ALARMS`` were open:
  ``reason: "limit"``, from ``handle``.

The state closes the alarm on its own when it is pushed out, and on the derived record when
it aged out. Expiries are looked for at most every ``SWEEP`` (or a hundredth of
``max_age`` when that is shorter), so an alarm expires up to that much late; one sweep reads
every open alarm once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType

from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.derived import Derived, DerivedType, iso
from alarmrx.rules.plans import DEFAULT_OPEN_MAX_AGE
from alarmrx.rules.state import (
    CLOSING_TYPES,
    MAX_OPEN_ALARMS,
    Alarms,
    OpenAlarm,
    open_alarms_after,
)

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_ALARM_EXPIRED = DerivedType.ALARM_EXPIRED

SWEEP = timedelta(minutes=1)


def _label(value: object) -> str:
    return "no zone" if value is None else f"zone {value}"


def expired(account: str, alarm: OpenAlarm, at: datetime, reason: str) -> Derived:
    """The ``alarm.expired`` record closing ``alarm``."""
    code = alarm.code if not alarm.contact_id else f"CID {alarm.code}"
    why = "no restore, cancel, disarm or close" if reason == "age" else "too many open alarms"
    fields = {
        "alarm_seq": alarm.journal_seq,
        "index": alarm.index,
        "reason": reason,
        "since": iso(alarm.since),
        "kind": alarm.kind,
        "alarm_code": alarm.code,
    }
    return Derived(
        type=DerivedType.ALARM_EXPIRED,
        account=account,
        at=at,
        key=f"alarm.expired|{account}|{alarm.journal_seq}:{alarm.index}",
        description=f"Open alarm {code} ({_label(alarm.zone)}) closed: {why}",
        refs=(alarm.journal_seq,),
        zone=alarm.zone,
        area=alarm.area,
        fields=MappingProxyType(fields),
    )


_FOLDED = frozenset({RecordKind.MESSAGE, RecordKind.DERIVED})  # the kinds that open or close


class OpenAlarmCore:
    """Every account's open alarms, and when the oldest of them is due to expire."""

    def __init__(self, max_age: timedelta = DEFAULT_OPEN_MAX_AGE) -> None:
        self._open: dict[str, Alarms] = {}
        self._last_seq = 0
        self._max_age = max_age
        self._pause = _pause(max_age)
        self._due: datetime | None = None  # the next sweep; None: nothing open
        self._swept: datetime | None = None

    def configure(self, max_age: timedelta, now: datetime) -> None:
        """A new maximum age (a reload): look again now."""
        self._max_age, self._pause = max_age, _pause(max_age)
        self._due = now if self._open else None

    def is_open(self, account: str, journal_seq: int) -> bool:
        """True while an alarm of record ``journal_seq`` is open for ``account``."""
        return any(a.journal_seq == journal_seq for a in self._open.get(account, ()))

    def open_count(self) -> int:
        """Open alarms over every account."""
        return sum(len(alarms) for alarms in self._open.values())

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; the alarms it pushed out."""
        if record.journal_seq <= self._last_seq or record.account is None:
            return []
        self._last_seq = record.journal_seq
        if record.kind not in _FOLDED:
            return []
        account = str(record.account)
        before = self._open.get(account, ())
        after = open_alarms_after(before, record)
        if after is before:
            return []
        pushed: Alarms = ()
        if len(after) > MAX_OPEN_ALARMS:
            pushed, after = after[:-MAX_OPEN_ALARMS], after[-MAX_OPEN_ALARMS:]
        self._store(account, after)
        if after and after[-1].journal_seq == record.journal_seq:  # this record opened one
            self._soon(after[-1].since + self._max_age)
        if not pushed:
            return []
        return [expired(account, alarm, record.received_at, "limit") for alarm in pushed]

    def on_timer(self, now: datetime) -> list[Derived]:
        """The alarms open for ``max_age`` by ``now`` (one sweep, when it is due)."""
        if self._due is None or now < self._due:
            return []
        cutoff, out = now - self._max_age, []
        for account, alarms in list(self._open.items()):
            if any(a.since <= cutoff for a in alarms):
                out += [expired(account, a, now, "age") for a in alarms if a.since <= cutoff]
                self._store(account, tuple(a for a in alarms if a.since > cutoff))
        oldest = min((a.since for alarms in self._open.values() for a in alarms), default=None)
        self._swept = now
        self._due = None if oldest is None else max(oldest + self._max_age, now + self._pause)
        return out

    def next_deadline(self) -> datetime | None:
        """The next sweep."""
        return self._due

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """A conclusion of this engine was appended: a cancel or close closes alarms here."""
        del journal_seq
        if derived.type not in CLOSING_TYPES or derived.type is _ALARM_EXPIRED:
            return
        seq = derived.fields.get("alarm_seq")
        alarms = self._open.get(derived.account, ())
        self._store(derived.account, tuple(a for a in alarms if a.journal_seq != seq))

    def _store(self, account: str, alarms: Alarms) -> None:
        if alarms:
            self._open[account] = alarms
        else:
            self._open.pop(account, None)

    def _soon(self, deadline: datetime) -> None:
        """An alarm opened: sweep by its expiry, but not sooner than a pause after the last."""
        if self._swept is not None:
            deadline = max(deadline, self._swept + self._pause)
        if self._due is None or deadline < self._due:
            self._due = deadline


def _pause(max_age: timedelta) -> timedelta:
    """The least time between two sweeps."""
    return min(SWEEP, max_age / 100)
