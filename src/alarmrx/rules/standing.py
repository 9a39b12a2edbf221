"""An account's standing: its false-alarm card and its test mode, one fold of the derived
records ``card.*`` and ``test.*``.

The same fold serves every reader of that part of an account: the retained account state
(``state.py``), the card core (``cards.py``), test mode (``testmode.py``) and the dispatch
advice (``dispatch.py``). ``standing_after`` folds one derived record's body; a core that
concludes one of these records folds its own conclusion the same way (``derived.body``), so
it is one fold whether the record comes from this run or an earlier one. Folding the same
record twice changes nothing.

- ``card.yellow`` / ``card.red`` give a card held from ``since`` until ``until``
  (exclusive); the one they replace is kept in ``past_cards`` (the last ``PAST_CARDS``), so
  an alarm judged late still sees the card that held at its receipt;
- ``card.cleared`` ends the card it names (``ends``, the key of its ``card.yellow`` /
  ``card.red``) at the record's time;
- ``card.temporary`` adds a note in force from the record's time until ``until`` (the last
  ``MAX_NOTES``, each kept a day past its end);
- ``test.started`` starts a test session until ``until``; ``test.ended`` ends the session it
  names (``started``, the key of its ``test.started``). A session ended or replaced is kept
  in ``past_sessions`` (the last ``PAST_SESSIONS``, cut at its end), so a message judged late
  (the publisher folds a window after its records were received) is judged by the session
  that held at its receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from alarmrx.journal.bodies import CardBody, DerivedBody, OtherDerived, TestEnded, TestStarted
from alarmrx.journal.isotime import parse_iso_time
from alarmrx.rules.derived import DerivedType

PAST_CARDS = 4
PAST_SESSIONS = 4
MAX_NOTES = 4  # temporary changes per account
MAX_NOTE = 64  # characters kept of a temporary change's note (the journal keeps it whole)
KEEP_NOTES = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CardPeriod:
    """A yellow or red false-alarm card, held from ``since`` until ``until`` (exclusive);
    ``key`` is the key of the derived record that gave it."""

    level: str
    since: datetime
    until: datetime
    key: str | None = None


@dataclass(frozen=True, slots=True)
class TemporaryNote:
    """A temporary change to the account card (command ``temporary_change``)."""

    note: str
    since: datetime
    until: datetime
    journal_seq: int


@dataclass(frozen=True, slots=True)
class TestSession:
    """One period of test mode, from ``started_at`` until ``until`` (exclusive). ``key`` is
    its ``test.started`` key, ``by_seq`` the command that started it."""

    __test__ = False  # not a pytest test class, despite the name

    started_at: datetime
    until: datetime
    key: str
    by_seq: int

    def covers(self, at: datetime) -> bool:
        """True for a moment inside the session."""
        return self.started_at <= at < self.until


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's card, its recent past cards, its temporary changes and its test
    session."""

    card: CardPeriod | None = None
    past_cards: tuple[CardPeriod, ...] = ()
    temporary: tuple[TemporaryNote, ...] = ()
    session: TestSession | None = None
    past_sessions: tuple[TestSession, ...] = ()

    def card_at(self, at: datetime) -> str:
        """The false-alarm card that held at ``at``: ``none``, ``yellow`` or ``red``."""
        if self.card is None and not self.past_cards:
            return "none"  # never carded: asked for every alarm
        for card in (self.card, *reversed(self.past_cards)):
            if card is not None and card.since <= at < card.until:
                return card.level
        return "none"

    def notes_at(self, at: datetime) -> list[str]:
        """The temporary changes in force at ``at``."""
        if not self.temporary:
            return []
        return [t.note for t in self.temporary if t.since <= at < t.until]

    def in_test(self, at: datetime) -> bool:
        """True when ``at`` lies inside the current test session."""
        return self.session is not None and self.session.covers(at)

    def was_in_test(self, at: datetime) -> bool:
        """True when ``at`` lies inside the current session or one of the past ones kept."""
        return any(s.covers(at) for s in (self.session, *self.past_sessions) if s is not None)


NOTHING = Standing()

Body = DerivedBody | OtherDerived
Effect = Callable[[Standing, Body, datetime, int], Standing]


def _card_given(standing: Standing, body: Body, at: datetime, journal_seq: int) -> Standing:
    if not isinstance(body, CardBody):
        return standing
    since, until = parse_iso_time(body.since), parse_iso_time(body.until)
    if since is None or until is None:
        return standing
    card = CardPeriod(str(body.card), since, until, body.key)
    if card == standing.card:
        return standing
    past = (*standing.past_cards, standing.card) if standing.card else standing.past_cards
    return replace(standing, card=card, past_cards=past[-PAST_CARDS:])


def _card_cleared(standing: Standing, body: Body, at: datetime, journal_seq: int) -> Standing:
    card, ends = standing.card, body.ends if isinstance(body, CardBody) else None
    if card is None or (ends is not None and card.key is not None and ends != card.key):
        return standing
    ended = replace(card, until=min(card.until, at))
    return replace(standing, card=None, past_cards=(*standing.past_cards, ended)[-PAST_CARDS:])


def _temporary(standing: Standing, body: Body, at: datetime, journal_seq: int) -> Standing:
    until = parse_iso_time(body.until) if isinstance(body, CardBody) else None
    if until is None or not isinstance(body, CardBody):
        return standing
    note = TemporaryNote(str(body.note)[:MAX_NOTE], at, until, journal_seq)
    same = [t for t in standing.temporary if (t.note, t.since, t.until) == (note.note, at, until)]
    if same:
        return standing
    return replace(standing, temporary=(*standing.temporary, note)[-MAX_NOTES:])


def _test_started(standing: Standing, body: Body, at: datetime, journal_seq: int) -> Standing:
    until = parse_iso_time(body.until) if isinstance(body, TestStarted) else None
    if until is None:
        return standing
    session = TestSession(
        started_at=at, until=until, key=str(body.key), by_seq=body.command_seq or 0
    )
    if session == standing.session:
        return standing
    return replace(standing, session=session, past_sessions=_ended(standing, at))


def _test_ended(standing: Standing, body: Body, at: datetime, journal_seq: int) -> Standing:
    session = standing.session
    started = body.started if isinstance(body, TestEnded) else None
    if session is None or (started is not None and started != session.key):
        return standing
    return replace(standing, session=None, past_sessions=_ended(standing, at))


def _ended(standing: Standing, at: datetime) -> tuple[TestSession, ...]:
    """The past sessions once the current one (if any) ends at ``at``."""
    session = standing.session
    if session is None:
        return standing.past_sessions
    ended = replace(session, until=min(session.until, at))
    return (*standing.past_sessions, ended)[-PAST_SESSIONS:]


_EFFECTS: Mapping[DerivedType, Effect] = MappingProxyType(
    {
        DerivedType.CARD_YELLOW: _card_given,
        DerivedType.CARD_RED: _card_given,
        DerivedType.CARD_CLEARED: _card_cleared,
        DerivedType.CARD_TEMPORARY: _temporary,
        DerivedType.TEST_STARTED: _test_started,
        DerivedType.TEST_ENDED: _test_ended,
    }
)

# The derived types this fold reads.
STANDING_TYPES = frozenset(_EFFECTS)


def standing_after(
    standing: Standing,
    kind: DerivedType | None,
    body: Body | None,
    at: datetime,
    journal_seq: int,
) -> Standing:
    """``standing`` after a derived record of type ``kind`` (its typed ``body``, received ``at``, as
    ``journal_seq``; 0 for a conclusion not appended yet). Temporary changes a day past
    their end are dropped on the way."""
    if standing.temporary:
        kept = tuple(t for t in standing.temporary if t.until > at - KEEP_NOTES)
        standing = replace(standing, temporary=kept) if kept != standing.temporary else standing
    effect = _EFFECTS.get(kind) if kind is not None else None
    if effect is None or body is None:
        return standing
    return effect(standing, body, at, journal_seq)
