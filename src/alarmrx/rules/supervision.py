"""Supervision: every supervised path must be heard within its interval plus grace.

A pure core in the aioquic shape: frames (``observe``) and journal records (``handle``) in,
conclusions out of ``on_timer(now)``, and ``next_deadline()`` says when to call it. It never
reads a clock.

- A path is silent when ``now`` is later than its last frame plus interval plus grace (a
  frame exactly at that instant is in time).
- Single-path account: its path going silent raises ``supervision.lost``; the next frame
  ``supervision.restored``.
- Dual-path account: each silent path raises ``supervision.path_fault`` and its next frame
  ``supervision.path_restored``; when the last path goes silent ``supervision.lost`` follows
  its fault, and the first frame on any path ``supervision.restored``.
- A frame restores a silent path when it is newer than the path's last frame, or when its
  record comes after the record of the loss; the restore is concluded at the next
  ``on_timer`` (the runner is woken for it) and its ``refs`` name the loss (or fault) and the
  restoring frame's record.
- A frame heard live (``heard``: the receiver's callback, before the frame's record exists)
  resets the interval at once, but the restore it makes waits for the frame's record
  (``observe`` with its ``journal_seq``) so that the restore can name it; a frame that gets
  no record (a link test) restores after ``RECORD_WAIT``, naming the loss alone.
- Start-up (``start(now)``): link tests are not journaled, so every path that the journal
  does not show silent starts with a fresh interval from ``now``; a path the journal shows
  silent (its last ``path_fault``/``lost`` record) stays silent until a frame arrives.

Derived records this core wrote earlier (read back at start-up) are folded by ``handle``;
the ones written in this process are not fed back (the runner knows them by key).

All times given to one core are on one time base; the runner uses supervision time
(``timebase.py``) and moves each conclusion onto the wall clock with ``on_wall``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import msgspec

from alarmrx.journal import bodies
from alarmrx.journal.bodies import MessageBody, PathBody
from alarmrx.journal.isotime import parse_iso_time
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.derived import Derived, DerivedType, iso, kind_of
from alarmrx.rules.events import is_periodic_test
from alarmrx.rules.plans import SupervisionPlan

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_PATH_FAULT, _SUPERVISION_LOST, _DERIVED, _MESSAGE = (
    DerivedType.PATH_FAULT,
    DerivedType.SUPERVISION_LOST,
    RecordKind.DERIVED,
    RecordKind.MESSAGE,
)

RESOLUTION = timedelta(microseconds=1)
# Conclusions per ``on_timer`` call at most: a mass outage (or its end) is concluded in
# slices, so the event loop stays free for the receiver between them.
MAX_PER_TIMER = 1000
# How long a restore heard live waits for the restoring frame's record before it is concluded
# without it: a link test is never journaled; a message's record normally follows at once.
RECORD_WAIT = timedelta(seconds=1)
NEVER = datetime.min.replace(tzinfo=UTC)
_Slot = tuple[str, int]  # (account, path index)


@dataclass(slots=True)
class _Path:
    """What is known about one path: its last frame and whether it is silent."""

    name: str | None
    timeout: timedelta
    interval_s: float
    grace_s: float
    last_seen: datetime = NEVER
    down: bool = False
    scheduled: datetime | None = None  # the heap entry that is current for this path
    message_seq: int | None = None  # the last journaled frame seen on it
    fault_seq: int | None = None  # the record that said it went silent
    restored_by: int | None = None  # the record of the first frame after it went silent

    @property
    def expires_at(self) -> datetime:
        """The first instant at which the path counts as silent."""
        return self.last_seen + self.timeout + RESOLUTION


@dataclass(slots=True)
class _Watch:
    """One supervised account."""

    plan: SupervisionPlan
    paths: list[_Path]
    lost_seq: int | None = None  # the record that said the account was lost
    catch_all: bool = False  # the first path names no receiver, line or transport

    def path_of(self, receiver: str | None, line: str | None, transport: str | None) -> int | None:
        """The index of the path a frame belongs to (``SupervisionPlan.path_index``)."""
        return 0 if self.catch_all else self.plan.path_index(receiver, line, transport)

    def index_of(self, name: object) -> int | None:
        """The index of the path called ``name`` (None names the only path)."""
        return next((i for i, p in enumerate(self.paths) if p.name == name), None)


def _watch(plan: SupervisionPlan) -> _Watch:
    paths = [
        _Path(name=p.name, timeout=p.timeout, interval_s=p.interval_s, grace_s=p.grace_s)
        for p in plan.paths
    ]
    first = plan.paths[0] if plan.paths else None
    catch_all = first is not None and (first.receiver, first.line, first.transport) == (
        None,
        None,
        None,
    )
    return _Watch(plan=plan, paths=paths, catch_all=catch_all)


def _same_path(watch: _Watch | None, name: str | None) -> _Path | None:
    index = watch.index_of(name) if watch is not None else None
    return watch.paths[index] if watch is not None and index is not None else None


class SupervisionCore:
    """Every supervised account's paths, their deadlines, and the restores that are due."""

    def __init__(self, plans: Mapping[str, SupervisionPlan]) -> None:
        self._watches = {account: _watch(plan) for account, plan in plans.items()}
        self._heap: list[tuple[datetime, str, int]] = []
        self._due: set[_Slot] = set()  # restores to conclude
        self._due_order: deque[_Slot] = deque()  # the same, in arrival order
        self._awaiting: dict[_Slot, datetime] = {}  # heard live: restores awaiting a record
        self._awaiting_order: deque[tuple[datetime, _Slot]] = deque()  # by deadline
        self._lost: set[str] = set()
        self._last_seq = 0
        self._started = False
        # a conclusion of an earlier run, by type: (account, record)
        self._appliers: Mapping[DerivedType, Callable[[str, Record], None]] = MappingProxyType(
            {
                DerivedType.SUPERVISION_LOST: self._apply_lost,
                DerivedType.SUPERVISION_RESTORED: self._apply_restored,
                DerivedType.PATH_FAULT: self._apply_fault,
                DerivedType.PATH_RESTORED: self._apply_path_restored,
            }
        )

    @property
    def offline(self) -> int:
        """Accounts whose supervision is lost."""
        return len(self._lost)

    def supervises(self, account: str) -> bool:
        """True when ``account`` is supervised (O(1))."""
        return account in self._watches

    def is_lost(self, account: str) -> bool:
        """True while ``account``'s supervision is lost."""
        return account in self._lost

    def start(self, now: datetime) -> None:
        """After the journal was folded: every path not known silent starts afresh."""
        for account, watch in self._watches.items():
            for index, path in enumerate(watch.paths):
                if not path.down:
                    path.last_seen = max(path.last_seen, now)
                    self._schedule(account, index, path)
        self._started = True

    def observe(
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str | None,
        at: datetime,
        *,
        journal_seq: int | None = None,
        test_report: bool = False,
    ) -> bool:
        """A frame from ``account`` at ``at`` (its record ``journal_seq``, when it has one);
        True when it made a restore due. O(paths)."""
        located = self._locate(account, receiver, line, transport, test_report=test_report)
        if located is None:
            return False
        slot, watch, path = located
        if journal_seq is not None and at >= path.last_seen:
            path.message_seq = journal_seq
        newer = at > path.last_seen
        path.last_seen = max(path.last_seen, at)
        if not path.down:
            return False
        if journal_seq is not None and (newer or _after(journal_seq, _loss_seq(watch, path))):
            path.restored_by = path.restored_by or journal_seq
        elif not newer:
            return False
        self._make_due(slot)
        return True

    def heard(
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str | None,
        at: datetime,
    ) -> bool:
        """A frame heard live at ``at``, before its record exists (link tests included): it
        restarts the interval now; a restore it makes waits up to ``RECORD_WAIT`` for the
        frame's record (``observe``). True when ``next_deadline`` moved. O(paths)."""
        located = self._locate(account, receiver, line, transport, test_report=False)
        if located is None:
            return False
        slot, _, path = located
        if at <= path.last_seen:
            return False
        path.last_seen = at
        if not path.down or slot in self._due or slot in self._awaiting:
            return False
        self._awaiting[slot] = deadline = at + RECORD_WAIT
        self._awaiting_order.append((deadline, slot))
        return True

    def _locate(
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str | None,
        *,
        test_report: bool,
    ) -> tuple[_Slot, _Watch, _Path] | None:
        watch = self._watches.get(account)
        if watch is None or (watch.plan.reset_by == "test_reports" and not test_report):
            return None
        index = watch.path_of(receiver, line, transport)
        return None if index is None else ((account, index), watch, watch.paths[index])

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; supervision concludes only in ``on_timer``."""
        return self.fold(record, record.received_at)

    def fold(self, record: Record, heard: datetime) -> list[Derived]:
        """``handle``, with a MESSAGE taken as heard at ``heard`` (its receipt time moved
        onto this core's time base) rather than at its ``received_at``."""
        if record.journal_seq <= self._last_seq:
            return []
        self._last_seq = record.journal_seq
        if record.kind is _MESSAGE and record.account is not None:
            self._observe_message(record, heard)
        elif record.kind is _DERIVED and record.account in self._watches:
            kind = kind_of(bodies.derived(record))
            apply = self._appliers.get(kind) if kind is not None else None
            if apply is not None:
                apply(record.account, record)
        return []

    def on_timer(self, now: datetime) -> list[Derived]:
        """The restores that are due, then the paths that went silent by ``now``; at most
        about ``MAX_PER_TIMER`` (``next_deadline`` is then still due)."""
        self._settle(now)
        out = self._conclude_restores(now)
        while self._heap and self._heap[0][0] <= now and len(out) < MAX_PER_TIMER:
            out += self._expire(heapq.heappop(self._heap), now)
        return out

    def next_deadline(self) -> datetime | None:
        """When ``on_timer`` has something to do: at once if a restore is due."""
        if self._due:
            return NEVER
        deadlines = (self._next_awaiting(), self._heap[0][0] if self._heap else None)
        return min((d for d in deadlines if d is not None), default=None)

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """``derived`` was journaled as ``journal_seq``: later restores refer to it."""
        watch = self._watches.get(derived.account)
        if watch is None:
            return
        if derived.type is _SUPERVISION_LOST:
            watch.lost_seq = journal_seq
        elif derived.type is _PATH_FAULT:
            index = watch.index_of(derived.fields.get("path"))
            if index is not None and watch.paths[index].down:
                watch.paths[index].fault_seq = journal_seq

    def configure(self, plans: Mapping[str, SupervisionPlan], now: datetime) -> None:
        """New plans (a reload): unchanged accounts keep their state; a changed account keeps
        its silent paths (by name) and restarts the others; removed accounts are dropped."""
        watches: dict[str, _Watch] = {}
        for account, plan in plans.items():
            old = self._watches.get(account)
            watches[account] = old if old and old.plan == plan else self._rebuilt(plan, old, now)
        self._watches = watches
        self._lost &= set(watches)
        self._due = {slot for slot in self._due if slot[0] in watches}
        self._due_order = deque(slot for slot in self._due_order if slot in self._due)
        self._awaiting = {slot: d for slot, d in self._awaiting.items() if slot[0] in watches}

    # -- folding records ------------------------------------------------------------------

    def _observe_message(self, record: Record, heard: datetime) -> None:
        watch = self._watches.get(str(record.account))
        if watch is None:
            return  # not supervised: nothing to read from the body
        body = bodies.message(record) or MessageBody()
        test_report = watch.plan.reset_by == "test_reports" and any(
            is_periodic_test(e) for e in body.events
        )
        self.observe(
            str(record.account),
            body.receiver,
            body.line,
            record.transport,
            heard,
            journal_seq=record.journal_seq,
            test_report=test_report,
        )

    def _apply_lost(self, account: str, record: Record) -> None:
        watch = self._watches[account]
        self._lost.add(account)
        watch.lost_seq = record.journal_seq
        for index, path in enumerate(watch.paths):
            if not path.down:
                self._take_down(account, index, path, record)

    def _apply_fault(self, account: str, record: Record) -> None:
        watch = self._watches[account]
        index = watch.index_of(_path_of(record).path)
        if index is not None and not watch.paths[index].down:
            self._take_down(account, index, watch.paths[index], record)

    def _take_down(self, account: str, index: int, path: _Path, record: Record) -> None:
        path.down, path.scheduled, path.fault_seq = True, None, record.journal_seq
        path.restored_by = None
        seen = parse_iso_time(_path_of(record).last_seen, zoned=True)
        if seen is not None and seen > path.last_seen:
            path.last_seen = seen
        if path.last_seen > record.received_at:  # heard again after the loss was concluded
            self._make_due((account, index))

    def _apply_restored(self, account: str, record: Record) -> None:
        self._lost.discard(account)
        self._watches[account].lost_seq = None
        self._apply_path_restored(account, record)

    def _apply_path_restored(self, account: str, record: Record) -> None:
        watch = self._watches[account]
        index = watch.index_of(_path_of(record).path)
        if index is None or not watch.paths[index].down:
            return
        path = watch.paths[index]
        path.down, path.fault_seq, path.restored_by = False, None, None
        path.last_seen = max(path.last_seen, record.received_at)
        if self._started:
            self._schedule(account, index, path)

    # -- concluding -----------------------------------------------------------------------

    def _settle(self, now: datetime) -> None:
        """Restores heard live whose record did not come by their deadline become due."""
        while self._awaiting_order and self._awaiting_order[0][0] <= now:
            deadline, slot = self._awaiting_order.popleft()
            if self._awaiting.get(slot) == deadline:
                self._make_due(slot)

    def _next_awaiting(self) -> datetime | None:
        while self._awaiting_order:
            deadline, slot = self._awaiting_order[0]
            if self._awaiting.get(slot) == deadline:
                return deadline
            self._awaiting_order.popleft()  # stale: its record came, or it was dropped
        return None

    def _conclude_restores(self, now: datetime) -> list[Derived]:
        out: list[Derived] = []
        while self._due_order and len(out) < MAX_PER_TIMER:
            account, index = slot = self._due_order.popleft()
            self._due.discard(slot)
            watch = self._watches.get(account)
            if watch is not None and index < len(watch.paths) and watch.paths[index].down:
                out += self._restore(account, watch, index, now)
        return out

    def _restore(self, account: str, watch: _Watch, index: int, now: datetime) -> list[Derived]:
        path = watch.paths[index]
        fault_seq, frame_seq = path.fault_seq, path.restored_by
        path.down, path.fault_seq, path.restored_by = False, None, None
        self._schedule(account, index, path)
        out = []
        if watch.plan.dual:
            out.append(
                self._derived(
                    DerivedType.PATH_RESTORED, account, now, path, refs=(fault_seq, frame_seq)
                )
            )
        if account in self._lost:
            self._lost.discard(account)
            out.append(
                self._derived(
                    DerivedType.SUPERVISION_RESTORED,
                    account,
                    now,
                    path,
                    refs=(watch.lost_seq, frame_seq),
                )
            )
            watch.lost_seq = None
        return out

    def _expire(self, entry: tuple[datetime, str, int], now: datetime) -> list[Derived]:
        at, account, index = entry
        watch = self._watches.get(account)
        if watch is None or index >= len(watch.paths):
            return []
        path = watch.paths[index]
        if path.scheduled != at or path.down:
            return []  # a stale entry: the path was rescheduled or went silent meanwhile
        path.scheduled = None
        if path.expires_at > now:
            self._schedule(account, index, path)
            return []
        return self._go_down(account, watch, path, now)

    def _go_down(self, account: str, watch: _Watch, path: _Path, now: datetime) -> list[Derived]:
        path.down, path.restored_by = True, None
        out = []
        if watch.plan.dual:
            out.append(
                self._derived(DerivedType.PATH_FAULT, account, now, path, refs=(path.message_seq,))
            )
        if account not in self._lost and all(p.down for p in watch.paths):
            self._lost.add(account)
            latest = max(watch.paths, key=lambda p: p.last_seen)
            out.append(
                self._derived(
                    DerivedType.SUPERVISION_LOST,
                    account,
                    now,
                    latest,
                    refs=tuple(p.message_seq for p in watch.paths),
                )
            )
        return out

    def _make_due(self, slot: _Slot) -> None:
        self._awaiting.pop(slot, None)
        if slot not in self._due:
            self._due.add(slot)
            self._due_order.append(slot)

    def _schedule(self, account: str, index: int, path: _Path) -> None:
        if path.scheduled == path.expires_at:
            return
        path.scheduled = path.expires_at
        heapq.heappush(self._heap, (path.scheduled, account, index))

    def _rebuilt(self, plan: SupervisionPlan, old: _Watch | None, now: datetime) -> _Watch:
        watch = _watch(plan)
        lost = plan.account in self._lost
        for index, path in enumerate(watch.paths):
            before = _same_path(old, path.name)
            if before is not None and (before.down or lost):
                path.down, path.last_seen = True, before.last_seen
                path.fault_seq, path.message_seq = before.fault_seq, before.message_seq
            else:
                path.last_seen = now
                self._schedule(plan.account, index, path)
        if lost and not all(p.down for p in watch.paths):
            self._lost.discard(plan.account)  # a new path is up: restored by the reload
        watch.lost_seq = old.lost_seq if old is not None else None
        return watch

    def _derived(
        self,
        kind: DerivedType,
        account: str,
        now: datetime,
        path: _Path,
        refs: tuple[int | None, ...],
    ) -> Derived:
        watch = self._watches[account]
        return Derived(
            type=kind,
            account=account,
            at=now,
            key=_key(kind, account, path.name, now),
            description=_DESCRIPTIONS[kind].format(path=path.name or "", s=path.interval_s),
            refs=tuple(sorted(r for r in refs if r is not None)),
            fields=MappingProxyType(_fields(watch, path)),
        )


def on_wall(derived: Derived, offset: timedelta) -> Derived:
    """A conclusion of this core with its times (``at``, ``last_seen``, the key's) moved by
    ``offset``: from the time base it was concluded on to the wall clock's."""
    at = derived.at + offset
    fields = dict(derived.fields)
    seen = parse_iso_time(fields.get("last_seen"), zoned=True)
    if seen is not None:
        fields["last_seen"] = iso(seen + offset)
    key = _key(derived.type, derived.account, fields.get("path"), at)
    return msgspec.structs.replace(derived, at=at, key=key, fields=MappingProxyType(fields))


def _loss_seq(watch: _Watch, path: _Path) -> int | None:
    """The record that said ``path`` went silent (its fault or the account's loss), the
    later of the two; None until it was recorded."""
    return max((s for s in (path.fault_seq, watch.lost_seq) if s is not None), default=None)


def _after(journal_seq: int, loss_seq: int | None) -> bool:
    return loss_seq is not None and journal_seq > loss_seq


def _key(kind: DerivedType, account: str, path: str | None, at: datetime) -> str:
    return f"{kind.value}|{account}|{path or ''}|{iso(at)}"


def _fields(watch: _Watch, path: _Path) -> dict[str, Any]:
    return {
        "path": path.name,
        "interval_s": path.interval_s,
        "grace_s": path.grace_s,
        "category": watch.plan.category,
        "reset_by": watch.plan.reset_by,
        "last_seen": iso(path.last_seen) if path.last_seen > NEVER else None,
    }


_DESCRIPTIONS: Mapping[DerivedType, str] = MappingProxyType(
    {
        DerivedType.SUPERVISION_LOST: "Supervision lost: nothing heard for over {s:g} s",
        DerivedType.SUPERVISION_RESTORED: "Supervision restored",
        DerivedType.PATH_FAULT: "Path {path} fault: nothing heard on it for over {s:g} s",
        DerivedType.PATH_RESTORED: "Path {path} restored",
    }
)


def _path_of(record: Record) -> PathBody:
    """The typed body of a supervision record (``path``, ``last_seen``)."""
    body = bodies.derived(record)
    return body if isinstance(body, PathBody) else PathBody()
