"""What the rules need to know about each account, built once from the settings.

The cores never read the configuration: the runner hands them these plans, and a reload
hands them new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from types import MappingProxyType

from alarmrx.config.card_model import CardSettings
from alarmrx.config.model import (
    AccountSettings,
    PathSettings,
    SupervisionSettings,
    VerificationSettings,
)
from alarmrx.rules.categories import REPORTING_TIMES
from alarmrx.rules.weekly import SchedulePlan, schedule_plan

DEFAULT_VERIFICATION = VerificationSettings()


@dataclass(frozen=True, slots=True, kw_only=True)
class PathPlan:
    """One supervised path. ``name`` is None for the only path of a single-path account."""

    name: str | None
    interval_s: float
    grace_s: float
    receiver: str | None = None
    line: str | None = None
    transport: str | None = None

    @property
    def timeout(self) -> timedelta:
        """Silence allowed before the path counts as lost: interval plus grace."""
        return timedelta(seconds=self.interval_s + self.grace_s)

    def matches(self, receiver: str | None, line: str | None, transport: str | None) -> bool:
        """True when every field this path names equals the frame's."""
        return (
            (self.receiver is None or self.receiver == receiver)
            and (self.line is None or self.line == line)
            and (self.transport is None or self.transport == transport)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisionPlan:
    """How one account is supervised."""

    account: str
    paths: tuple[PathPlan, ...]
    category: str | None = None
    reset_by: str = "any_frame"

    @property
    def dual(self) -> bool:
        """More than one path: a lost path is a path fault, all of them a loss."""
        return len(self.paths) > 1

    def path_index(
        self, receiver: str | None, line: str | None, transport: str | None
    ) -> int | None:
        """The first path a frame matches; None when it matches none."""
        for index, path in enumerate(self.paths):
            if path.matches(receiver, line, transport):
                return index
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationPlan:
    """Which zones of one account are neighbours, and the window."""

    account: str
    window: timedelta
    neighbours: Mapping[int, frozenset[int]]

    def adjacent(self, zone: object, other: object) -> bool:
        """True for two different zones next to each other."""
        if not isinstance(zone, int) or zone == other:
            return False
        return other in self.neighbours.get(zone, frozenset())


DEFAULT_OPEN_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RulePlans:
    """Every account's plans; ``accounts`` are all configured accounts (for commands)."""

    supervision: Mapping[str, SupervisionPlan] = field(default_factory=dict)
    verification: Mapping[str, VerificationPlan] = field(default_factory=dict)
    accounts: frozenset[str] = frozenset()
    cards: Mapping[str, CardSettings] = field(default_factory=dict)
    schedule: Mapping[str, SchedulePlan] = field(default_factory=dict)
    open_max_age: timedelta = DEFAULT_OPEN_MAX_AGE  # ``[alarms] open_max_age_s``


def plans_from(
    entries: Iterable[AccountSettings], *, open_max_age: timedelta = DEFAULT_OPEN_MAX_AGE
) -> RulePlans:
    """The plans of the configured accounts; the first entry of an account that sets a rule
    decides it (``alarmrx check`` refuses two). ``open_max_age``: ``[alarms]``."""
    entries = tuple(entries)
    supervision: dict[str, SupervisionPlan] = {}
    verification: dict[str, VerificationPlan] = {}
    for entry in entries:
        if entry.supervision is not None and entry.account not in supervision:
            supervision[entry.account] = supervision_plan(
                entry.account, entry.supervision, entry.paths
            )
        plan = verification_plan(entry)
        if plan is not None and entry.account not in verification:
            verification[entry.account] = plan
    schedule = {p.account: p for e in reversed(entries) if (p := schedule_plan(e)) is not None}
    return RulePlans(
        supervision=MappingProxyType(supervision),
        verification=MappingProxyType(verification),
        accounts=frozenset(e.account for e in entries),
        cards=MappingProxyType({e.account: e.card for e in reversed(entries) if e.card}),
        schedule=MappingProxyType(schedule),
        open_max_age=open_max_age,
    )


def supervision_plan(
    account: str, settings: SupervisionSettings, paths: tuple[PathSettings, ...]
) -> SupervisionPlan:
    """One account's supervision: every path with its interval resolved."""
    configured = paths or (PathSettings(name=""),)
    resolved = tuple(
        PathPlan(
            name=path.name if paths else None,
            interval_s=_interval_s(settings, path, index),
            grace_s=settings.grace_s,
            receiver=path.receiver,
            line=path.line,
            transport=path.transport,
        )
        for index, path in enumerate(configured)
    )
    return SupervisionPlan(
        account=account, paths=resolved, category=settings.category, reset_by=settings.reset_by
    )


def _interval_s(settings: SupervisionSettings, path: PathSettings, index: int) -> float:
    """The path's own value; else for a secondary path of a dual-path category the
    category's secondary value; else the account's ``interval_s``; else the category's."""
    if path.interval_s is not None:
        return path.interval_s
    times = REPORTING_TIMES.get(settings.category or "")
    if index > 0 and times is not None and times.secondary_s is not None:
        return times.secondary_s
    if settings.interval_s is not None:
        return settings.interval_s
    if times is not None:
        return times.primary_s
    msg = f"no interval for path {path.name!r}"  # unreachable: the config check refuses it
    raise ValueError(msg)


def verification_plan(entry: AccountSettings) -> VerificationPlan | None:
    """The account's neighbour graph (zones' neighbours and chains, both ways); None when
    no zone has a neighbour."""
    settings = entry.verification or DEFAULT_VERIFICATION
    pairs = [(z.zone, n) for z in entry.zones for n in z.neighbours]
    pairs += [pair for chain in settings.chains for pair in pairwise(chain)]
    graph: dict[int, set[int]] = {}
    for zone, other in pairs:
        graph.setdefault(zone, set()).add(other)
        graph.setdefault(other, set()).add(zone)
    if not graph:
        return None
    frozen = {zone: frozenset(others) for zone, others in graph.items()}
    return VerificationPlan(
        account=entry.account,
        window=timedelta(seconds=settings.window_s),
        neighbours=MappingProxyType(frozen),
    )
