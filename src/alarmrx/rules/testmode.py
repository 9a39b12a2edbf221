"""Test mode: an account put in test for a limited time (at most ``MAX_DURATION``).

A pure core: accepted ``test_mode`` commands (COMMAND records) in, ``test.started`` and
``test.ended`` out; ``on_timer(now)`` ends the sessions whose time is up. An account is in
test from the command's receipt until ``until`` (exclusive): at ``until`` it is not. A new
``on`` while in test replaces the session (one ``test.started``, no end in between); an
``off`` ends it. Each session ends once, by command or by expiry, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from alarmrx.journal.isotime import parse_iso_time
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.command_records import accepted_action
from alarmrx.rules.derived import Derived, DerivedType, derived_type, iso

MAX_DURATION = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Session:
    """One period of test mode. ``key`` is its ``test.started`` key."""

    account: str
    started_at: datetime
    until: datetime
    key: str
    by_seq: int  # the command that started it

    def covers(self, at: datetime) -> bool:
        """True for a moment inside the session."""
        return self.started_at <= at < self.until


class TestModeCore:
    """The accounts in test and until when."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
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
        ended = [s for s in self._sessions.values() if s.until <= now]
        return [self._end(session, now, reason="expired") for session in ended]

    def next_deadline(self) -> datetime | None:
        """The earliest end of a session."""
        return min((s.until for s in self._sessions.values()), default=None)

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """Nothing to remember."""

    def _command(self, record: Record) -> list[Derived]:
        body = record.body
        if accepted_action(body) != "test_mode":
            return []
        account = str(record.account)
        if body.get("on") is True:
            return [self._start(account, record)]
        session = self._sessions.get(account)
        if session is None:
            return []
        return [self._end(session, record.received_at, reason="command", by=record.journal_seq)]

    def _start(self, account: str, record: Record) -> Derived:
        duration = min(timedelta(seconds=float(record.body["duration_s"])), MAX_DURATION)
        session = Session(
            account=account,
            started_at=record.received_at,
            until=record.received_at + duration,
            key=f"test.started|{account}|{record.journal_seq}",
            by_seq=record.journal_seq,
        )
        self._sessions[account] = session
        fields = {
            "until": iso(session.until),
            "duration_s": duration.total_seconds(),
            "command_seq": record.journal_seq,
        }
        return Derived(
            type=DerivedType.TEST_STARTED,
            account=account,
            at=session.started_at,
            key=session.key,
            description=f"Test mode until {iso(session.until)}",
            refs=(record.journal_seq,),
            test=True,
            fields=MappingProxyType(fields),
        )

    def _end(
        self, session: Session, at: datetime, *, reason: str, by: int | None = None
    ) -> Derived:
        del self._sessions[session.account]
        fields: dict[str, Any] = {
            "reason": reason,
            "started": session.key,
            "until": iso(session.until),
            "command_seq": by,
        }
        refs = (session.by_seq,) if by is None else (session.by_seq, by)
        return Derived(
            type=DerivedType.TEST_ENDED,
            account=session.account,
            at=at,
            key=f"test.ended|{session.key}",
            description=_ENDED[reason],
            refs=refs,
            test=False,
            fields=MappingProxyType(fields),
        )

    def _apply(self, record: Record) -> None:
        """A start or an end written by an earlier run."""
        account, body = str(record.account), record.body
        kind = derived_type(body)
        if kind is DerivedType.TEST_ENDED:
            current = self._sessions.get(account)
            if current is not None and current.key == body.get("started"):
                del self._sessions[account]
        elif kind is DerivedType.TEST_STARTED:
            until = parse_iso_time(body.get("until"))
            if until is not None:
                self._sessions[account] = Session(
                    account=account,
                    started_at=record.received_at,
                    until=until,
                    key=str(body.get("key")),
                    by_seq=int(body.get("command_seq") or 0),
                )


_ENDED: Mapping[str, str] = MappingProxyType(
    {"expired": "Test mode ended: its time was up", "command": "Test mode ended by command"}
)
