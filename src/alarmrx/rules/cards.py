"""False-alarm cards (docs/commands.md): cancellations, false-alarm marking, yellow and red
cards, and temporary changes to the account card.

A pure core: journal records in, derived events out; ``on_timer(now)`` ends the cards whose
three months are up. It never reads a clock.

- Every panel alarm (an event of category ``alarm``) is kept for ``HORIZON`` (at most
  ``CAP`` per account), so it can be cancelled or marked false.
- ``cancel`` (by a contact on the account's card, within ``cancel_window_s`` of the alarm's
  receipt): ``alarm.cancelled``; the alarm then never counts as a false alarm.
- ``mark_false`` (an operator): ``alarm.false`` with ``counted``: it counts when the police
  were alerted (``police_alerted``) and it was not cancelled in time.
- Counted false alarms, by the alarms' receipt times: two within three months (the later at
  most three calendar months after the earlier) give ``card.yellow``; one received while the
  yellow card holds gives ``card.red``. A card holds for three calendar months from when it
  was given, ``since`` inclusive, ``until`` exclusive; then ``card.cleared``. The count
  starts afresh at every card change. While the red card holds, the dispatch advice says
  *no police* (``dispatch.py``).
- ``temporary_change``: a note on the card for at most 7 days (``card.temporary``).
- ``close_alarm`` (an operator): ``alarm.closed``; the alarm leaves the account's open
  alarms (docs/mqtt.md, "Open alarms").
"""

from __future__ import annotations

import calendar
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from alarmrx.config.card_model import DEFAULT_CANCEL_WINDOW_S, CardSettings
from alarmrx.journal import bodies
from alarmrx.journal.bodies import CommandBody, DerivedBody, OtherDerived
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.auth import ChangePin, parse_change_pin
from alarmrx.rules.command_records import accepted_action
from alarmrx.rules.commands import (
    Command,
    CommandRefused,
    account_field,
    parse_command,
    text_field,
)
from alarmrx.rules.derived import Derived, DerivedType, iso, kind_of
from alarmrx.rules.derived import body as derived_body
from alarmrx.rules.standing import NOTHING, Standing, standing_after

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_COMMAND, _DERIVED, _MESSAGE = RecordKind.COMMAND, RecordKind.DERIVED, RecordKind.MESSAGE

HORIZON = timedelta(days=31)
CAP = 64  # alarm records kept per account (docs/performance.md, "Memory")
CARD_MONTHS = 3
COUNT_KEPT = 16  # counted false alarms remembered while no card holds
MAX_TEMPORARY = timedelta(days=7)
DEFAULT_CANCEL_WINDOW = timedelta(seconds=DEFAULT_CANCEL_WINDOW_S)


def add_months(moment: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months later; the day is clamped to the month's
    last (30 November + 3 months = 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


class Level(StrEnum):
    """The account's false-alarm card."""

    NONE = "none"
    YELLOW = "yellow"
    RED = "red"


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """A contact cancels the alarm(s) of record ``journal_seq``."""

    account: str
    journal_seq: int
    id_code: str
    by: str | None = None

    def journal_fields(self) -> dict[str, Any]:
        """The COMMAND record's typed fields."""
        return {
            "action": "cancel",
            "journal_seq": self.journal_seq,
            "id_code": self.id_code,
            "by": self.by,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkFalse:
    """An operator marks the alarm of record ``journal_seq`` false."""

    account: str
    journal_seq: int
    police_alerted: bool
    by: str
    note: str | None = None

    def journal_fields(self) -> dict[str, Any]:
        """The COMMAND record's typed fields."""
        return {
            "action": "mark_false",
            "journal_seq": self.journal_seq,
            "police_alerted": self.police_alerted,
            "by": self.by,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TemporaryChange:
    """A note on the account card for ``duration_s`` (at most 7 days)."""

    account: str
    note: str
    duration_s: float

    def journal_fields(self) -> dict[str, Any]:
        """The COMMAND record's typed fields."""
        return {"action": "temporary_change", "note": self.note, "duration_s": self.duration_s}


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseAlarm:
    """An operator closes the open alarm(s) of record ``journal_seq``."""

    account: str
    journal_seq: int
    by: str
    note: str | None = None

    def journal_fields(self) -> dict[str, Any]:
        """The COMMAND record's typed fields."""
        return {
            "action": "close_alarm",
            "journal_seq": self.journal_seq,
            "by": self.by,
            "note": self.note,
        }


CardCommand = Cancel | MarkFalse | TemporaryChange | CloseAlarm


def _seq(cmd: Mapping[str, Any]) -> int:
    value = cmd.get("journal_seq")
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandRefused("journal_seq must be the journal_seq of the alarm (an integer)")
    return value


def _by(cmd: Mapping[str, Any]) -> str:
    return text_field(cmd, "by") or "operator"


def parse_cancel(cmd: Mapping[str, Any]) -> Cancel:
    """``{"action": "cancel", "account", "journal_seq", "id_code"}``."""
    return Cancel(
        account=account_field(cmd),
        journal_seq=_seq(cmd),
        id_code=str(text_field(cmd, "id_code", required=True)),
        by=text_field(cmd, "by"),
    )


def parse_mark_false(cmd: Mapping[str, Any]) -> MarkFalse:
    """``{"action": "mark_false", "account", "journal_seq", "police_alerted", "by", "note"}``."""
    alerted = cmd.get("police_alerted")
    if not isinstance(alerted, bool):
        raise CommandRefused("police_alerted must be true or false")
    return MarkFalse(
        account=account_field(cmd),
        journal_seq=_seq(cmd),
        police_alerted=alerted,
        by=_by(cmd),
        note=text_field(cmd, "note"),
    )


def parse_temporary_change(cmd: Mapping[str, Any]) -> TemporaryChange:
    """``{"action": "temporary_change", "account", "note", "duration_s"}``."""
    duration = cmd.get("duration_s")
    limit = MAX_TEMPORARY.total_seconds()
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise CommandRefused("duration_s must be a number of seconds")
    if not 0 < duration < limit:
        raise CommandRefused(f"duration_s must be above 0 and below {limit:.0f} (a week)")
    return TemporaryChange(
        account=account_field(cmd),
        note=str(text_field(cmd, "note", required=True)),
        duration_s=float(duration),
    )


def parse_close_alarm(cmd: Mapping[str, Any]) -> CloseAlarm:
    """``{"action": "close_alarm", "account", "journal_seq", "by", "note"}``."""
    return CloseAlarm(
        account=account_field(cmd), journal_seq=_seq(cmd), by=_by(cmd), note=text_field(cmd, "note")
    )


CARD_PARSERS: Mapping[str, Callable[[Mapping[str, Any]], CardCommand]] = MappingProxyType(
    {
        "cancel": parse_cancel,
        "mark_false": parse_mark_false,
        "temporary_change": parse_temporary_change,
        "close_alarm": parse_close_alarm,
    }
)


Request = Command | CardCommand | ChangePin
_OWN: Mapping[str, Callable[[Mapping[str, Any]], CardCommand | ChangePin]] = MappingProxyType(
    {**CARD_PARSERS, "change_pin": parse_change_pin}
)


def parse_request(cmd: object) -> Request:
    """Any command: the card's and ``change_pin`` here, the others by ``parse_command``."""
    action = cmd.get("action") if isinstance(cmd, Mapping) else None
    parse = _OWN.get(action) if isinstance(action, str) else None
    if parse is not None:
        return parse(cmd)  # type: ignore[arg-type]  # a Mapping: it has an action
    try:
        return parse_command(cmd)
    except CommandRefused as refused:
        if str(refused).startswith("action must be one of"):
            raise CommandRefused(f"{refused}, {', '.join(_OWN)}") from None
        raise


# -- the core ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Alarm:
    """One panel alarm record kept for cancelling and marking."""

    journal_seq: int
    at: datetime
    cancelled: bool = False
    marked_false: bool = False
    closed: bool = False


@dataclass(frozen=True, slots=True)
class CardStanding:
    """An account's card as the card core judges it."""

    level: Level = Level.NONE
    since: datetime | None = None
    until: datetime | None = None
    key: str | None = None


_CARD_TYPES = frozenset(
    {
        DerivedType.CARD_YELLOW,
        DerivedType.CARD_RED,
        DerivedType.CARD_CLEARED,
        DerivedType.CARD_TEMPORARY,
    }
)


class CardCore:
    """Recent alarms and the card of every account."""

    def __init__(self, cards: Mapping[str, CardSettings]) -> None:
        self._cards = cards
        self._alarms: dict[str, OrderedDict[int, Alarm]] = {}
        self._standings: dict[str, Standing] = {}  # the card part of ``standing.py``'s fold
        # counted false alarms (alarm seq, receipt) since the card last changed
        self._counted: dict[str, list[tuple[int, datetime]]] = {}
        self._last_seq = 0
        # what an accepted command of each action concludes
        self._commands: Mapping[str, Callable[[Record], list[Derived]]] = MappingProxyType(
            {
                "cancel": self._cancelled,
                "mark_false": self._marked_false,
                "temporary_change": self._temporary,
                "close_alarm": self._closed,
            }
        )

    def configure(self, cards: Mapping[str, CardSettings], now: datetime) -> None:
        """New account cards (a reload); alarms and false-alarm cards are kept."""
        del now
        self._cards = cards

    def standing(self, account: str) -> CardStanding:
        """The account's card."""
        card = self.account_standing(account).card
        if card is None:
            return CardStanding()
        return CardStanding(Level(card.level), card.since, card.until, card.key)

    def account_standing(self, account: str) -> Standing:
        """The account's cards (current and recent) and temporary changes."""
        return self._standings.get(account, NOTHING)

    def alarm(self, account: str, journal_seq: int) -> Alarm | None:
        """The kept alarm of record ``journal_seq``, if any."""
        kept = self._alarms.get(account)
        return kept.get(journal_seq) if kept is not None else None

    def latest_alarm(self, account: str) -> Alarm | None:
        """The account's latest kept alarm, if any."""
        kept = self._alarms.get(account)
        return next(reversed(kept.values()), None) if kept else None

    def cancel_window(self, account: str) -> timedelta:
        """How long after an alarm's receipt it may be cancelled."""
        card = self._cards.get(account)
        return timedelta(seconds=card.cancel_window_s) if card else DEFAULT_CANCEL_WINDOW

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; what it concludes."""
        if record.journal_seq <= self._last_seq or record.account is None:
            return []
        self._last_seq = record.journal_seq
        if record.kind is _MESSAGE:
            self._keep(record)
        elif record.kind is _COMMAND:
            handler = self._commands.get(accepted_action(record) or "")
            return handler(record) if handler else []
        elif record.kind is _DERIVED:
            self._apply(record)
        return []

    def on_timer(self, now: datetime) -> list[Derived]:
        """The cards whose three months are up end now."""
        due = [a for a, s in self._standings.items() if s.card is not None and s.card.until <= now]
        return [self._clear(account, now) for account in due]

    def next_deadline(self) -> datetime | None:
        """The earliest end of a card."""
        ends = (s.card.until for s in self._standings.values() if s.card is not None)
        return min(ends, default=None)

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """Nothing to remember."""

    def refusal(self, command: CardCommand, now: datetime) -> str | None:
        """Why the current state does not allow ``command`` (None: it does)."""
        if isinstance(command, TemporaryChange):
            return None
        alarm = self.alarm(command.account, command.journal_seq)
        if alarm is None:
            return (
                f"record {command.journal_seq} holds no alarm of account "
                f"{command.account!r} from the last {HORIZON.days} days"
            )
        if isinstance(command, Cancel):
            return self._cancel_refusal(command.account, alarm, now)
        if isinstance(command, CloseAlarm):
            closed = alarm.closed or alarm.cancelled
            return f"the alarm of record {alarm.journal_seq} is already closed" if closed else None
        if alarm.marked_false:
            return f"the alarm of record {alarm.journal_seq} is already marked false"
        return None

    def _cancel_refusal(self, account: str, alarm: Alarm, now: datetime) -> str | None:
        window = self.cancel_window(account)
        if alarm.cancelled:
            return f"the alarm of record {alarm.journal_seq} is already cancelled"
        if alarm.marked_false:
            return f"the alarm of record {alarm.journal_seq} is already marked false"
        if now - alarm.at > window:
            return f"too late: an alarm may be cancelled within {window.total_seconds():.0f} s"
        return None

    # -- folding --------------------------------------------------------------------------

    def _keep(self, record: Record) -> None:
        body = bodies.message(record)
        if body is None or not any(event.category == "alarm" for event in body.events):
            return
        kept = self._alarms.setdefault(str(record.account), OrderedDict())
        kept[record.journal_seq] = Alarm(record.journal_seq, record.received_at)
        oldest = record.received_at - HORIZON
        while len(kept) > CAP or next(iter(kept.values())).at < oldest:
            kept.popitem(last=False)

    def _cancelled(self, record: Record) -> list[Derived]:
        account, body = str(record.account), _command(record)
        alarm = self.alarm(account, body.journal_seq or 0)
        if alarm is None:
            return []
        alarm.cancelled = True
        fields = {
            "alarm_seq": alarm.journal_seq,
            "id_code": body.id_code,
            "cancel_window_s": self.cancel_window(account).total_seconds(),
            "command_seq": record.journal_seq,
        }
        text = f"Alarm cancelled by contact {body.id_code}"
        return [_on_alarm(DerivedType.ALARM_CANCELLED, alarm, record, text, fields)]

    def _closed(self, record: Record) -> list[Derived]:
        account, body = str(record.account), _command(record)
        alarm = self.alarm(account, body.journal_seq or 0)
        if alarm is None:
            return []
        alarm.closed = True
        fields = {
            "alarm_seq": alarm.journal_seq,
            "by": body.by,
            "note": body.note,
            "command_seq": record.journal_seq,
        }
        text = f"Alarm closed by {body.by}"
        return [_on_alarm(DerivedType.ALARM_CLOSED, alarm, record, text, fields)]

    def _marked_false(self, record: Record) -> list[Derived]:
        account, body = str(record.account), _command(record)
        alarm = self.alarm(account, body.journal_seq or 0)
        if alarm is None:
            return []
        alarm.marked_false = True
        police = bool(body.police_alerted)
        why = "cancelled in time" if alarm.cancelled else None
        why = why or (None if police else "police not alerted")
        out = [_false_alarm(account, alarm, record, police=police, why=why)]
        if why is None:
            out += self._count(account, alarm, record.received_at, record.journal_seq)
        return out

    def _count(self, account: str, alarm: Alarm, now: datetime, by_seq: int) -> list[Derived]:
        until = self.standing(account).until
        out = [self._clear(account, now)] if until is not None and until <= now else []
        standing = self.standing(account)
        if standing.level is Level.RED:
            return out
        if standing.level is Level.YELLOW:
            held = standing.since is not None and standing.since <= alarm.at
            return out + ([self._give(account, Level.RED, now, by_seq, alarm)] if held else [])
        counted = self._counted.get(account, [])
        pair = [seq for seq, at in counted if _within_months(at, alarm.at)]
        if not pair:
            self._counted[account] = [*counted[-(COUNT_KEPT - 1) :], (alarm.journal_seq, alarm.at)]
            return out
        return [*out, self._give(account, Level.YELLOW, now, by_seq, alarm, pair[-1])]

    def _give(
        self, account: str, level: Level, now: datetime, by_seq: int, *alarms: Alarm | int
    ) -> Derived:
        seqs = sorted(a if isinstance(a, int) else a.journal_seq for a in alarms)
        previous = self.standing(account).level
        until = add_months(now, CARD_MONTHS)
        key = f"card.{level}|{account}|{by_seq}"
        fields = {
            "card": level.value,
            "previous": previous.value,
            "since": iso(now),
            "until": iso(until),
            "false_alarms": seqs,
            "command_seq": by_seq,
        }
        kind = DerivedType.CARD_RED if level is Level.RED else DerivedType.CARD_YELLOW
        return self._concluded(
            Derived(
                type=kind,
                account=account,
                at=now,
                key=key,
                description=_GIVEN[level].format(until=iso(until)),
                refs=(*seqs, by_seq),
                fields=MappingProxyType(fields),
            )
        )

    def _clear(self, account: str, now: datetime) -> Derived:
        standing = self.standing(account)
        fields = {
            "card": Level.NONE.value,
            "previous": standing.level.value,
            "since": iso(standing.since or now),
            "until": iso(standing.until or now),
            "ends": standing.key,
            "reason": "expired",
        }
        return self._concluded(
            Derived(
                type=DerivedType.CARD_CLEARED,
                account=account,
                at=now,
                key=f"card.cleared|{standing.key}",
                description=f"The {standing.level} card has expired",
                fields=MappingProxyType(fields),
            )
        )

    def _concluded(self, derived: Derived) -> Derived:
        """Fold a card change concluded here, as its record will be folded."""
        self._fold(
            derived.account, derived.type, bodies.derived_of(derived_body(derived)), derived.at, 0
        )
        return derived

    def _fold(
        self,
        account: str,
        kind: DerivedType,
        body: DerivedBody | OtherDerived,
        at: datetime,
        seq: int,
    ) -> None:
        """One card record through ``standing.py``'s fold; a changed card restarts the
        count of false alarms."""
        before = self._standings.get(account, NOTHING)
        after = standing_after(before, kind, body, at, seq)
        if after.card != before.card:
            self._counted.pop(account, None)
        if after is NOTHING or after == NOTHING:
            self._standings.pop(account, None)
        else:
            self._standings[account] = after

    def _temporary(self, record: Record) -> list[Derived]:
        account, body = str(record.account), _command(record)
        until = record.received_at + timedelta(seconds=body.duration_s or 0)
        fields = {
            "note": body.note,
            "since": iso(record.received_at),
            "until": iso(until),
            "duration_s": body.duration_s,
            "id_code": body.id_code,
            "command_seq": record.journal_seq,
        }
        return [
            self._concluded(
                Derived(
                    type=DerivedType.CARD_TEMPORARY,
                    account=account,
                    at=record.received_at,
                    key=f"card.temporary|{account}|{record.journal_seq}",
                    description=f"Temporary change until {iso(until)}",
                    refs=(record.journal_seq,),
                    fields=MappingProxyType(fields),
                )
            )
        ]

    def _apply(self, record: Record) -> None:
        """A card change written by an earlier run is the truth."""
        body = bodies.derived(record)
        kind = kind_of(body)
        if kind in _CARD_TYPES and body is not None:
            self._fold(str(record.account), kind, body, record.received_at, record.journal_seq)


def _command(record: Record) -> CommandBody:
    """The typed body of a COMMAND record (the card core reads only those here)."""
    return bodies.command(record) or CommandBody()


def _within_months(earlier: datetime, later: datetime) -> bool:
    """Two false alarms at most ``CARD_MONTHS`` calendar months apart, in either order."""
    first, second = sorted((earlier, later))
    return second <= add_months(first, CARD_MONTHS)


def _false_alarm(
    account: str, alarm: Alarm, record: Record, *, police: bool, why: str | None
) -> Derived:
    body = _command(record)
    fields = {
        "alarm_seq": alarm.journal_seq,
        "counted": why is None,
        "not_counted": why,
        "police_alerted": police,
        "by": body.by,
        "note": body.note,
        "command_seq": record.journal_seq,
    }
    text = "counted" if why is None else f"not counted: {why}"
    return _on_alarm(DerivedType.ALARM_FALSE, alarm, record, f"False alarm ({text})", fields)


def _on_alarm(
    kind: DerivedType, alarm: Alarm, record: Record, text: str, fields: dict[str, Any]
) -> Derived:
    """A command's conclusion about one alarm: keyed by the alarm (one per alarm and kind,
    however often the command is replayed), referring to the alarm and the command."""
    account = str(record.account)
    return Derived(
        type=kind,
        account=account,
        at=record.received_at,
        key=f"{kind.value}|{account}|{alarm.journal_seq}",
        description=text,
        refs=(alarm.journal_seq, record.journal_seq),
        fields=MappingProxyType(fields),
    )


_GIVEN: Mapping[Level, str] = MappingProxyType(
    {
        Level.YELLOW: "Yellow card: two false alarms within three months (until {until})",
        Level.RED: "Red card: no police dispatch until {until}",
    }
)
