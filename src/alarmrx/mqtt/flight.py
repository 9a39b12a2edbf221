"""Plans on the wire: what was handed to the broker and is not acknowledged yet.

The publisher hands the flight one plan after another (``outbox.Plan``, journal order); the
flight sends their messages in that order, at most ``limit`` unacknowledged at once, the
rest waiting their turn. Each PUBACK (``acked(mid)``) frees a slot and sends the next
message at once, in the same callback, so a busy event loop costs one round of it per
acknowledgement and not three. A plan is *settled* once every message of it and of every
earlier plan was acknowledged: only then may the cursor move past its records.

No I/O and no clock of its own: ``publish`` puts one message on the wire and returns its
packet id, ``monotonic`` and ``clock`` are injected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from alarmrx.mqtt.outbox import Outgoing, Plan

Settled = Callable[[Plan, list[float]], None]


@dataclass(slots=True)
class _Boarding:
    """A plan in flight: how many of its messages still await their PUBACK."""

    plan: Plan
    left: int
    latencies: list[float] = field(default_factory=list)


class _Sent(NamedTuple):
    """One message on the wire (a named tuple: one is made for every message, and a frozen
    dataclass takes three times as long to build)."""

    message: Outgoing
    boarding: _Boarding
    at: float  # monotonic


class Flight:
    """Sends plans in order, ``limit`` messages unacknowledged at most; settles them in order."""

    def __init__(
        self,
        publish: Callable[[Outgoing], int],
        *,
        limit: int,
        settled: Settled,
        monotonic: Callable[[], float],
        clock: Callable[[], datetime],
    ) -> None:
        self._publish = publish
        self._limit = max(1, limit)
        self._settled = settled
        self._monotonic = monotonic
        self._clock = clock
        self._waiting: deque[tuple[Outgoing, _Boarding]] = deque()
        self._wire: dict[int, _Sent] = {}  # packet id -> message, oldest first
        self._boarded: deque[_Boarding] = deque()

    @property
    def outstanding(self) -> int:
        """Messages handed over and not acknowledged yet (waiting or on the wire)."""
        return len(self._waiting) + len(self._wire)

    def __contains__(self, mid: object) -> bool:
        """Whether packet ``mid`` is one of this flight's, on the wire."""
        return mid in self._wire

    def oldest_sent_at(self) -> float | None:
        """When the oldest message on the wire was sent (monotonic); None when none is."""
        for sent in self._wire.values():
            return sent.at
        return None

    def add(self, plan: Plan) -> None:
        """Send ``plan`` behind the plans already added (a plan without messages settles in
        its turn)."""
        boarding = _Boarding(plan, len(plan.messages))
        self._boarded.append(boarding)
        self._waiting.extend((message, boarding) for message in plan.messages)
        self._send_waiting()
        self._settle_ready()

    def acked(self, mid: int) -> None:
        """The broker acknowledged packet ``mid`` (ids this flight did not send are ignored)."""
        sent = self._wire.pop(mid, None)
        if sent is None:
            return
        boarding = sent.boarding
        boarding.left -= 1
        if sent.message.received_at is not None:
            boarding.latencies.append((self._clock() - sent.message.received_at).total_seconds())
        self._send_waiting()
        if boarding.left == 0:
            self._settle_ready()

    def _send_waiting(self) -> None:
        if not self._waiting:
            return
        now = self._monotonic()
        while self._waiting and len(self._wire) < self._limit:
            message, boarding = self._waiting.popleft()
            self._wire[self._publish(message)] = _Sent(message, boarding, now)

    def _settle_ready(self) -> None:
        while self._boarded and self._boarded[0].left == 0:
            boarding = self._boarded.popleft()
            self._settled(boarding.plan, boarding.latencies)
