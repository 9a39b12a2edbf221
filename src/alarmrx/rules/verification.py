"""Verification: a burglary alarm is verified by a second one from a different detector in
a neighbouring zone within the window, or by an operator or a camera (a command).

A pure core: journal records in, ``alarm.verified`` conclusions out of ``handle``; it never
reads a clock, and ``on_timer`` has nothing to do (a window only ever closes).

- Burglary alarms are the alarm events of the intrusion class (``protocols/priority.py``),
  the ones published with ``verified: false``; a detector is a zone.
- Two alarms pair when their zones differ and are neighbours (``zones.neighbours`` or
  consecutive in a ``verification.chains`` entry) and their receipt times differ by at most
  the window, in either order (a frame journaled late still pairs). The same detector twice,
  restores, and zones that are not neighbours never pair.
- A new alarm pairs with the most recent such alarm; the conclusion names both, and each
  alarm is verified once: a later alarm pairing with an already verified one is verified
  itself, an alarm that is already verified raises nothing more.
- ``verify`` commands verify every burglary alarm of the named record not yet verified.
- Alarms are kept for ``HORIZON`` (commands may verify them that long), at most ``CAP`` per
  account; records at or below the last one folded are ignored (a re-delivery).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import msgspec

from alarmrx.journal import bodies
from alarmrx.journal.bodies import AlarmVerified, CommandBody
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.command_records import accepted_action
from alarmrx.rules.derived import Derived, DerivedType, iso
from alarmrx.rules.events import StoredEvent, is_burglary_alarm, panel_events
from alarmrx.rules.interfaces import Untimed
from alarmrx.rules.plans import VerificationPlan

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_COMMAND, _DERIVED, _MESSAGE = RecordKind.COMMAND, RecordKind.DERIVED, RecordKind.MESSAGE

HORIZON = timedelta(hours=24)
CAP = 64  # per account (docs/performance.md, "Memory")


@dataclass(slots=True)
class Alarm:
    """One burglary alarm event: where it is in the journal, its zone, and whether it is
    verified."""

    journal_seq: int
    index: int
    zone: int | str | None
    area: int | str | None
    code: str
    at: datetime
    verified: bool = False

    @property
    def ident(self) -> str:
        """``journal_seq:index``."""
        return f"{self.journal_seq}:{self.index}"

    def as_field(self) -> dict[str, Any]:
        """How it is named in an ``alarm.verified`` body."""
        return {
            "journal_seq": self.journal_seq,
            "index": self.index,
            "zone": self.zone,
            "code": self.code,
            "received_at": iso(self.at),
        }


def _alarm(record: Record, index: int, event: StoredEvent) -> Alarm:
    return Alarm(
        journal_seq=record.journal_seq,
        index=index,
        zone=event.zone,
        area=event.area,
        code=str(event.code or ""),
        at=record.received_at,
    )


class VerificationCore(Untimed):
    """The recent burglary alarms of every account, and which are verified."""

    def __init__(self, plans: Mapping[str, VerificationPlan]) -> None:
        self._plans = plans
        self._alarms: dict[str, deque[Alarm]] = {}
        self._last_seq = 0

    def configure(self, plans: Mapping[str, VerificationPlan], now: datetime) -> None:
        """New plans (a reload); the alarms seen so far are kept."""
        del now  # the window is evaluated on receipt times only
        self._plans = plans

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; the alarms it verifies."""
        if record.journal_seq <= self._last_seq or record.account is None:
            return []
        self._last_seq = record.journal_seq
        if record.kind is _MESSAGE:
            return self._arrived(record)
        if record.kind is _DERIVED:
            self._apply_verified(record)
        elif record.kind is _COMMAND and accepted_action(record) == "verify":
            return self._by_command(record)
        return []

    def alarms_of(self, account: str, journal_seq: int) -> list[Alarm]:
        """The burglary alarms of record ``journal_seq`` still kept for ``account``."""
        return [a for a in self._alarms.get(account, ()) if a.journal_seq == journal_seq]

    def _arrived(self, record: Record) -> list[Derived]:
        account = str(record.account)
        out: list[Derived] = []
        for index, event in panel_events(record):
            if is_burglary_alarm(event):
                derived = self._pair(account, _alarm(record, index, event))
                out += [derived] if derived is not None else []
        return out

    def _pair(self, account: str, alarm: Alarm) -> Derived | None:
        kept = self._alarms.setdefault(account, deque())
        plan = self._plans.get(account)
        partner = _partner(plan, kept, alarm) if plan is not None else None
        kept.append(alarm)
        _prune(kept, alarm.at)
        if plan is None or partner is None:
            return None
        alarm.verified = partner.verified = True
        return _verified(
            account,
            (partner, alarm),
            alarm.at,
            by="rule",
            extra={"window_s": plan.window.total_seconds()},
        )

    def _by_command(self, record: Record) -> list[Derived]:
        account, body = str(record.account), bodies.command(record) or CommandBody()
        seq = -1 if body.journal_seq is None else body.journal_seq
        alarms = [a for a in self.alarms_of(account, seq) if not a.verified]
        if not alarms:
            return []
        for alarm in alarms:
            alarm.verified = True
        by = str(body.by)
        extra = {"note": body.note, "command_seq": record.journal_seq}
        derived = _verified(account, alarms, record.received_at, by=by, extra=extra)
        return [msgspec.structs.replace(derived, refs=(*derived.refs, record.journal_seq))]

    def _apply_verified(self, record: Record) -> None:
        body = bodies.derived(record)
        if not isinstance(body, AlarmVerified):
            return
        named = {(a.get("journal_seq"), a.get("index")) for a in body.alarms}
        for alarm in self._alarms.get(str(record.account), ()):
            if (alarm.journal_seq, alarm.index) in named:
                alarm.verified = True


def _partner(plan: VerificationPlan, kept: Iterable[Alarm], alarm: Alarm) -> Alarm | None:
    """The most recent alarm pairing with ``alarm``, if any."""
    found = None
    for other in kept:
        if plan.adjacent(alarm.zone, other.zone) and abs(alarm.at - other.at) <= plan.window:
            found = other
    return found


def _prune(kept: deque[Alarm], newest: datetime) -> None:
    oldest = newest - HORIZON
    while kept and (len(kept) > CAP or kept[0].at < oldest):
        kept.popleft()


def _verified(
    account: str, alarms: Iterable[Alarm], at: datetime, *, by: str, extra: Mapping[str, Any]
) -> Derived:
    alarms = tuple(alarms)
    last = alarms[-1]
    zones = [a.zone for a in alarms]
    return Derived(
        type=DerivedType.ALARM_VERIFIED,
        account=account,
        at=at,
        key=f"alarm.verified|{account}|" + "|".join(a.ident for a in alarms),
        description=_DESCRIPTIONS.get(by, "Alarm verified").format(zones=zones),
        refs=tuple(a.journal_seq for a in alarms),
        zone=last.zone,
        area=last.area,
        fields=MappingProxyType(
            {
                **extra,
                "verified": True,
                "verified_by": by,
                "zones": zones,
                "alarms": [a.as_field() for a in alarms],
            }
        ),
    )


_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "rule": "Alarm verified: burglary alarms in neighbouring zones {zones}",
        "operator": "Alarm verified by an operator",
        "camera": "Alarm verified by a camera",
    }
)
