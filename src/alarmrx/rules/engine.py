"""``RuleEngine``: the rule cores together, with no I/O: what the runner drives.

It folds journal records in order (a record at or below ``position`` is a re-delivery and
is ignored), recognises the derived records it concluded itself by their key, collects what
the cores conclude and when they next need the time, and flags each conclusion with the
account's test mode.

Conclusions are *held* (start-up pass 2, see ``runner.py``) or *recorded* (appended): a
DERIVED record read from the journal whose key is held or recorded is the engine's own and
is not folded again; a held one is dropped, since the journal already has it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from alarmrx.journal import bodies
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.alarms import OpenAlarmCore
from alarmrx.rules.auth import AuthCore
from alarmrx.rules.cards import CardCore
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.dispatch import DispatchCore
from alarmrx.rules.interfaces import Rule
from alarmrx.rules.plans import RulePlans
from alarmrx.rules.schedule import ScheduleCore
from alarmrx.rules.supervision import SupervisionCore, on_wall
from alarmrx.rules.testmode import TestModeCore
from alarmrx.rules.unrecognised import UnrecognisedCore
from alarmrx.rules.verification import VerificationCore

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_DERIVED = RecordKind.DERIVED

_UNFLAGGED = frozenset({DerivedType.TEST_STARTED, DerivedType.TEST_ENDED})
_SUPERVISED = frozenset({RecordKind.MESSAGE, RecordKind.DERIVED})  # what supervision folds


class RuleEngine:
    """Supervision, verification and test mode over one stream of journal records."""

    def __init__(self, plans: RulePlans) -> None:
        self.plans = plans
        self.supervision = SupervisionCore(plans.supervision)
        self.verification = VerificationCore(plans.verification)
        self.test_mode = TestModeCore()
        self.schedule = ScheduleCore(plans.schedule)
        self.rules: tuple[Rule, ...] = (
            self.supervision,
            self.verification,
            self.test_mode,
            self.schedule,
        )
        self.cards = CardCore(plans.cards)
        self.auth = AuthCore()
        self.unrecognised = UnrecognisedCore()
        self.alarms = OpenAlarmCore(plans.open_max_age)
        self.dispatch = DispatchCore(
            plans.cards, plans.accounts, self.cards.account_standing, self.test_mode.in_test
        )
        self.rules += (self.cards, self.auth, self.unrecognised, self.alarms, self.dispatch)
        # The cores that read each kind of record, in ``rules`` order: a record is shown
        # only to them (the others' ``handle`` returns at once for it). Supervision is fed
        # apart, on its own time base, and concludes nothing when folding.
        self._readers: dict[RecordKind, tuple[Rule, ...]] = {
            RecordKind.MESSAGE: (
                self.verification,
                self.schedule,
                self.cards,
                self.unrecognised,
                self.alarms,
                self.dispatch,
            ),
            RecordKind.COMMAND: (
                self.verification,
                self.test_mode,
                self.schedule,
                self.cards,
                self.auth,
            ),
            RecordKind.DERIVED: (
                self.verification,
                self.test_mode,
                self.schedule,
                self.cards,
                self.alarms,
                self.dispatch,
            ),
        }
        self._any_kind: tuple[Rule, ...] = (self.schedule,)  # judges deadlines on any record
        self.position = 0  # the last journal_seq folded
        self._held: dict[str, Derived] = {}
        self._recorded: dict[str, Derived] = {}  # appended, not yet read back
        self._recorded_at: dict[int, str] = {}  # their journal_seq -> key
        self._follow_ups: list[Derived] = []

    def fold(self, record: Record, supervision_at: datetime | None = None) -> list[Derived]:
        """Fold the next journal record; what the cores conclude from it. ``supervision_at``:
        when supervision takes it as received, on its own time base (``runner.py``)."""
        if record.journal_seq <= self.position:
            return []
        self.position = record.journal_seq
        if record.kind is _DERIVED:
            key = self._key_of(record)
            held = self._held.pop(key, None)
            mine = held or self._recorded.pop(key, None)
            if mine is not None:
                self._tell(mine, record.journal_seq)
                # held: an earlier run appended it, and what follows from it once journaled
                # (``follow_ups``) is concluded now; recorded: that was done when recorded
                return self.dispatch.handle(record) if held is not None else []
        if record.kind in _SUPERVISED:
            heard = record.received_at if supervision_at is None else supervision_at
            self.supervision.fold(record, heard)
        out: list[Derived] = []
        for rule in self._readers.get(record.kind, self._any_kind):
            found = rule.handle(record)
            if found:
                out += found
        return out

    def _key_of(self, record: Record) -> str:
        """A DERIVED record's ``key``: known without reading the body when this engine
        appended it (``recorded``)."""
        key = self._recorded_at.pop(record.journal_seq, None)
        if key is not None:
            return key
        typed = bodies.derived(record)
        return str(typed.key if typed is not None else None)

    def on_timer(self, now: datetime, supervision_now: datetime | None = None) -> list[Derived]:
        """What is due by ``now``. Given ``supervision_now``, supervision measures silence on
        that time base (``runner.py``) and its conclusions are moved onto ``now``'s clock."""
        if supervision_now is None:
            return [derived for rule in self.rules for derived in rule.on_timer(now)]
        offset = now - supervision_now
        own = [on_wall(derived, offset) for derived in self.supervision.on_timer(supervision_now)]
        return own + [
            derived
            for rule in self.rules
            if rule is not self.supervision
            for derived in rule.on_timer(now)
        ]

    def next_deadline(self) -> datetime | None:
        """When ``on_timer`` next has work."""
        deadlines = [d for rule in self.rules if (d := rule.next_deadline()) is not None]
        return min(deadlines, default=None)

    def hold(self, derived: Derived) -> None:
        """Keep ``derived`` back until the journal shows it already holds it (or not)."""
        self._held.setdefault(derived.key, derived)

    def release(self) -> list[Derived]:
        """The held conclusions the journal did not hold, in order; none are held after."""
        held, self._held = list(self._held.values()), {}
        return held

    def flagged(self, derived: Derived) -> Derived:
        """``derived`` with ``test`` as the account's test mode says at its time."""
        if derived.type in _UNFLAGGED:
            return derived
        test = self.test_mode.in_test(derived.account, derived.at)
        return derived if derived.test == test else msgspec.structs.replace(derived, test=test)

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """``derived`` was appended as ``journal_seq``."""
        self._recorded[derived.key] = derived
        self._recorded_at[journal_seq] = derived.key
        self._tell(derived, journal_seq)
        self._follow_ups += self.dispatch.on_recorded(derived, journal_seq)

    def follow_ups(self) -> list[Derived]:
        """What follows from conclusions once appended (the advice for an
        ``alarm.verified``, which names its record): the runner appends these right after
        them, before it reads on, so they stand in the journal where a replay puts them."""
        out, self._follow_ups = self._follow_ups, []
        return out

    def _tell(self, derived: Derived, journal_seq: int) -> None:
        for rule in self.rules:
            rule.recorded(derived, journal_seq)
