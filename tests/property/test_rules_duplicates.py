"""Hypothesis: delivering input events more than once never changes what the rules conclude.

The rules engine is driven the way ``RulesRunner`` drives it (fold what the journal holds
after the position, call the timers, append and record the conclusions), over an in-memory
journal, with random frames, alarms, restores, periodic test reports, link tests, commands
and clock ticks.

- Duplicate delivery: every frame is observed up to three times live (the receiver's
  callback) besides its journal record, earlier frames are observed again late, and earlier
  records are folded again. The derived records must be exactly those of a clean run.
- Crash and replay: the process dies after any step, before or after appending that step's
  conclusions, with any older saved cursor, and is rebuilt from the journal. The journal must
  end exactly as without the crash. (Supervision is left out here by design: link tests are
  not journaled, so a restart re-arms every interval from the start time; its restart rules
  have their own tests.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from alarmrx.config.model import (
    AccountSettings,
    PathSettings,
    SupervisionSettings,
    VerificationSettings,
)
from alarmrx.journal.records import NewRecord, Record, RecordKind
from alarmrx.rules.derived import Derived, new_record
from alarmrx.rules.engine import RuleEngine
from alarmrx.rules.plans import RulePlans, plans_from

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CHAIN = VerificationSettings(window_s=120.0, chains=((1, 2, 3, 4),))
SUPERVISED = plans_from(
    (
        AccountSettings(
            account="1",
            supervision=SupervisionSettings(interval_s=60.0, grace_s=5.0),
            verification=CHAIN,
        ),
        AccountSettings(
            account="2",
            supervision=SupervisionSettings(category="DP4"),
            paths=(PathSettings(name="eth", line="1"), PathSettings(name="lte", line="2")),
            verification=CHAIN,
        ),
    )
)
UNSUPERVISED = plans_from(
    (AccountSettings(account="1", verification=CHAIN), AccountSettings(account="2"))
)
ACCOUNTS = ("1", "2")


# -- the inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    account: str
    line: str
    kind: str  # null, alarm, restore, test_report
    zone: int
    dt: float


@dataclass(frozen=True)
class Tick:
    dt: float


@dataclass(frozen=True)
class TestCommand:
    __test__ = False

    account: str
    on: bool
    duration_s: float
    dt: float


@dataclass(frozen=True)
class VerifyCommand:
    account: str
    pick: int  # which earlier alarm record
    dt: float


Step = Frame | Tick | TestCommand | VerifyCommand
_dt = st.floats(min_value=0.0, max_value=90.0, allow_nan=False).map(lambda x: round(x, 3))
steps = st.lists(
    st.one_of(
        st.builds(
            Frame,
            st.sampled_from(ACCOUNTS),
            st.sampled_from(("1", "2", "9")),
            st.sampled_from(("null", "alarm", "alarm", "restore", "test_report")),
            st.integers(1, 5),
            _dt,
        ),
        st.builds(Tick, _dt),
        st.builds(
            TestCommand,
            st.sampled_from(ACCOUNTS),
            st.booleans(),
            st.sampled_from((30.0, 100.0, 400.0)),
            _dt,
        ),
        st.builds(VerifyCommand, st.sampled_from(ACCOUNTS), st.integers(0, 20), _dt),
    ),
    max_size=40,
)


def _event(frame: Frame) -> dict[str, Any]:
    code, category = {
        "alarm": ("BA", "alarm"),
        "restore": ("BR", "restore"),
        "test_report": ("RP", "test"),
    }[frame.kind]
    return {
        "code": code,
        "category": category,
        "description": code,
        "zone": frame.zone,
        "area": None,
        "user": None,
        "text": None,
        "qualifier": None,
    }


def _message(frame: Frame, now: datetime) -> NewRecord:
    body = {
        "token": "SIA-DCS",
        "sequence": "0001",
        "receiver": None,
        "line": frame.line,
        "events": [_event(frame)],
    }
    return NewRecord(
        kind=RecordKind.MESSAGE, received_at=now, account=frame.account, body=body, transport="tcp"
    )


def _command(account: str, now: datetime, accepted: bool, **fields: Any) -> NewRecord:
    body = {**fields, "accepted": accepted, "error": None if accepted else "refused"}
    return NewRecord(kind=RecordKind.COMMAND, received_at=now, account=account, body=body)


# -- the runner's loop, without I/O -------------------------------------------------------


@dataclass
class Memory:
    """An in-memory journal."""

    records: list[Record] = field(default_factory=list)

    def append(self, new: NewRecord) -> int:
        seq = len(self.records) + 1
        self.records.append(
            Record(
                journal_seq=seq,
                kind=new.kind,
                received_at=new.received_at,
                account=new.account,
                body=new.body,
                raw=new.raw,
                peer=new.peer,
                transport=new.transport,
                reply=new.reply,
                priority=new.priority,
                hash="",
                prev_hash="",
            )
        )
        return seq


def append(engine: RuleEngine, memory: Memory, concluded: list[Derived]) -> None:
    """``RulesRunner._flush``: the conclusions, then what follows from them."""
    while concluded:
        batch = [engine.flagged(d) for d in concluded]
        for derived in batch:
            engine.recorded(derived, memory.append(new_record(derived)))
        concluded = engine.follow_ups()


def step(engine: RuleEngine, memory: Memory, now: datetime, *, keep: bool = True) -> None:
    """``RulesRunner._step``; ``keep=False`` dies before the append."""
    concluded = [d for r in memory.records[engine.position :] for d in engine.fold(r)]
    concluded += engine.on_timer(now)
    if keep:
        append(engine, memory, concluded)


def rebuild(plans: RulePlans, memory: Memory, cursor: int, now: datetime) -> RuleEngine:
    """``RulesRunner._rebuild``."""
    engine = RuleEngine(plans)
    for record in memory.records[:cursor]:
        engine.fold(record)
    engine.supervision.start(now)
    for record in memory.records[cursor:]:
        for derived in engine.fold(record):
            engine.hold(derived)
    append(engine, memory, [*engine.release(), *engine.on_timer(now)])
    return engine


def command_record(engine: RuleEngine, memory: Memory, item: Step, now: datetime) -> NewRecord:
    """What ``RulesRunner.command`` journals (accepted or refused by the same checks)."""
    if isinstance(item, TestCommand):
        accepted = item.on or engine.test_mode.session(item.account) is not None
        return _command(
            item.account, now, accepted, action="test_mode", on=item.on, duration_s=item.duration_s
        )
    assert isinstance(item, VerifyCommand)
    alarms = [
        r.journal_seq
        for r in memory.records
        if r.kind is RecordKind.MESSAGE
        and r.account == item.account
        and r.body["events"][0]["category"] == "alarm"
    ]
    seq = alarms[item.pick % len(alarms)] if alarms else 0
    found = engine.verification.alarms_of(item.account, seq)
    accepted = bool(found) and not all(a.verified for a in found)
    return _command(item.account, now, accepted, action="verify", journal_seq=seq, by="operator")


@dataclass
class Run:
    """One run through the steps; the hooks add duplicates or a crash."""

    plans: RulePlans
    memory: Memory = field(default_factory=Memory)
    now: datetime = T0
    frames: list[tuple[Frame, datetime]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = rebuild(self.plans, self.memory, 0, self.now)

    def feed(self, item: Step, observations: int = 1) -> None:
        self.now += timedelta(seconds=item.dt)
        if isinstance(item, Frame):
            for _ in range(observations):
                self.observe(item, self.now)
            self.frames.append((item, self.now))
            if item.kind != "null":
                self.memory.append(_message(item, self.now))
        elif not isinstance(item, Tick):
            self.memory.append(command_record(self.engine, self.memory, item, self.now))

    def observe(self, frame: Frame, at: datetime) -> None:
        self.engine.supervision.observe(frame.account, None, frame.line, "tcp", at)


def journal_of(memory: Memory) -> list[tuple[Any, ...]]:
    return [(r.kind, r.account, r.received_at, r.body) for r in memory.records]


@given(steps, st.data())
def test_duplicate_delivery_never_changes_the_derived_output(
    items: list[Step], data: st.DataObject
) -> None:
    clean = Run(SUPERVISED)
    for item in items:
        clean.feed(item)
        step(clean.engine, clean.memory, clean.now)
    noisy = Run(SUPERVISED)
    for item in items:
        noisy.feed(item, observations=data.draw(st.integers(1, 3)))
        if noisy.frames and data.draw(st.booleans()):
            frame, at = data.draw(st.sampled_from(noisy.frames))
            noisy.observe(frame, at)  # an earlier frame observed again, late
        folded = noisy.memory.records[: noisy.engine.position]
        if folded and data.draw(st.booleans()):
            assert noisy.engine.fold(data.draw(st.sampled_from(folded))) == []  # read again
        step(noisy.engine, noisy.memory, noisy.now)
    assert journal_of(noisy.memory) == journal_of(clean.memory)


@given(steps, st.data())
def test_a_crash_anywhere_leaves_the_journal_as_without_it(
    items: list[Step], data: st.DataObject
) -> None:
    clean = Run(UNSUPERVISED)
    for item in items:
        clean.feed(item)
        step(clean.engine, clean.memory, clean.now)
    crashed = Run(UNSUPERVISED)
    cursors = [0]  # the cursor saved after each step
    for item in items:
        crashed.feed(item)
        if data.draw(st.integers(0, 4)) == 0:
            step(crashed.engine, crashed.memory, crashed.now, keep=data.draw(st.booleans()))
            cursor = data.draw(st.sampled_from(cursors))
            crashed.engine = rebuild(UNSUPERVISED, crashed.memory, cursor, crashed.now)
        else:
            step(crashed.engine, crashed.memory, crashed.now)
        cursors.append(crashed.engine.position)
    assert journal_of(crashed.memory) == journal_of(clean.memory)
    keys = [r.body["key"] for r in crashed.memory.records if r.kind is RecordKind.DERIVED]
    assert len(keys) == len(set(keys))
