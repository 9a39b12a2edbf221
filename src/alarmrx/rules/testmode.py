"""Test mode: an account put in test for a limited time (at most ``MAX_DURATION``).

A pure core: accepted ``test_mode`` commands (COMMAND records) in, ``test.started`` and
``test.ended`` out; ``on_timer(now)`` ends the sessions whose time is up. An account is in
test from the command's receipt until ``until`` (exclusive): at ``until`` it is not. A new
``on`` while in test replaces the session (one ``test.started``, no end in between); an
``off`` ends it. Each session ends once, by command or by expiry, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from alarmrx.journal import bodies
from alarmrx.journal.bodies import DerivedBody, OtherDerived
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.command_records import accepted
from alarmrx.rules.derived import Derived, DerivedType, iso, kind_of
from alarmrx.rules.derived import body as derived_body
from alarmrx.rules.standing import Standing, TestSession, standing_after

MAX_DURATION = timedelta(days=7)


Session = TestSession  # one period of test mode (``standing.py``)


class TestModeCore:
    """The accounts in test and until when."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}  # the test part of ``standing.py``'s fold
        self._last_seq = 0

    def sessions(self) -> Mapping[str, Session]:
        """Every account in test, with its current session (read-only)."""
        return self._sessions

    def session(self, account: str) -> Session | None:
        """The account's current session, if it is in test."""
        return self._sessions.get(account)

    def in_test(self, account: str, at: datetime) -> bool:
        """True when ``at`` lies inside the account's current session."""
        session = self._sessions.get(account) if self._sessions else None
        return session is not None and session.covers(at)

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; a start or an end for an accepted command."""
        if record.journal_seq <= self._last_seq or record.account is None:
            return []
        self._last_seq = record.journal_seq
        if record.kind is RecordKind.COMMAND:
            return self._command(record)
        if record.kind is RecordKind.DERIVED:
            self._apply(record)
        return []

    def on_timer(self, now: datetime) -> list[Derived]:
        """The sessions whose time is up end now."""
        ended = [(a, s) for a, s in self._sessions.items() if s.until <= now]
        return [self._end(account, session, now, reason="expired") for account, session in ended]

    def next_deadline(self) -> datetime | None:
        """The earliest end of a session."""
        return min((s.until for s in self._sessions.values()), default=None)

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """Nothing to remember."""

    def _command(self, record: Record) -> list[Derived]:
        body = accepted(record)
        if body is None or body.action != "test_mode":
            return []
        account = str(record.account)
        if body.on is True:
            return [self._start(account, record, body.duration_s or 0.0)]
        session = self._sessions.get(account)
        if session is None:
            return []
        at = record.received_at
        return [self._end(account, session, at, reason="command", by=record.journal_seq)]

    def _start(self, account: str, record: Record, duration_s: float) -> Derived:
        duration = min(timedelta(seconds=duration_s), MAX_DURATION)
        until = record.received_at + duration
        fields = {
            "until": iso(until),
            "duration_s": duration.total_seconds(),
            "command_seq": record.journal_seq,
        }
        return self._concluded(
            Derived(
                type=DerivedType.TEST_STARTED,
                account=account,
                at=record.received_at,
                key=f"test.started|{account}|{record.journal_seq}",
                description=f"Test mode until {iso(until)}",
                refs=(record.journal_seq,),
                test=True,
                fields=MappingProxyType(fields),
            )
        )

    def _end(
        self, account: str, session: Session, at: datetime, *, reason: str, by: int | None = None
    ) -> Derived:
        fields: dict[str, Any] = {
            "reason": reason,
            "started": session.key,
            "until": iso(session.until),
            "command_seq": by,
        }
        refs = (session.by_seq,) if by is None else (session.by_seq, by)
        return self._concluded(
            Derived(
                type=DerivedType.TEST_ENDED,
                account=account,
                at=at,
                key=f"test.ended|{session.key}",
                description=_ENDED[reason],
                refs=refs,
                test=False,
                fields=MappingProxyType(fields),
            )
        )

    def _concluded(self, derived: Derived) -> Derived:
        """Fold a start or an end concluded here, as its record will be folded."""
        self._fold(
            derived.account, derived.type, bodies.derived_of(derived_body(derived)), derived.at
        )
        return derived

    def _apply(self, record: Record) -> None:
        """A start or an end written by an earlier run."""
        body = bodies.derived(record)
        kind = kind_of(body)
        if kind in _TEST_TYPES and body is not None:
            self._fold(str(record.account), kind, body, record.received_at)

    def _fold(
        self, account: str, kind: DerivedType, body: DerivedBody | OtherDerived, at: datetime
    ) -> None:
        """One test record through ``standing.py``'s fold."""
        before = Standing(session=self._sessions.get(account))
        session = standing_after(before, kind, body, at, 0).session
        if session is None:
            self._sessions.pop(account, None)
        else:
            self._sessions[account] = session


_TEST_TYPES = frozenset({DerivedType.TEST_STARTED, DerivedType.TEST_ENDED})

_ENDED: Mapping[str, str] = MappingProxyType(
    {"expired": "Test mode ended: its time was up", "command": "Test mode ended by command"}
)
