"""``PrometheusReceiverMetrics``: the receiver's ``ReceiverMetrics`` hooks on ``Metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from alarmrx.observability import labels as lb
from alarmrx.observability.metrics import Metrics


class PrometheusReceiverMetrics:
    """Implements ``alarmrx.receiver.ReceiverMetrics``; label values are closed sets.

    The per-frame hooks keep the labelled children they use (``labels()`` costs a lock and
    a tuple per call; the sets are closed, so the cache is bounded).

    ``batched``: the counters every accepted frame moves (frames received, messages
    committed, duplicates, link tests, replies) are added up in plain integers and written
    to the registry by ``flush``, which the owner calls on a timer (a receiver worker:
    ``processes/worker.py``, ``METRICS_FLUSH_S``) and once more when it stops. Under the
    supervisor every counter write is a locked write into a memory-mapped file, several per
    frame; batched, it is one per series and flush. The reply latencies are observed once
    the turn of the event loop that wrote their replies is over (the histogram's public API
    takes one observation at a time): the same observations, right after the replies rather
    than between them; without a running loop, by ``flush``. The rare counters (rejections,
    limits, quirks) are written at once.
    """

    __slots__ = ("_batched", "_children", "_latencies", "_m", "_pending")

    def __init__(self, metrics: Metrics, *, batched: bool = False) -> None:
        self._m = metrics
        self._batched = batched
        self._children: dict[tuple[str, str, str], Any] = {}
        self._pending: dict[tuple[str, str, str], int] = {}
        # transport -> (received_at, sent_at) of the replies not observed yet
        self._latencies: dict[str, list[tuple[datetime, datetime]]] = {}

    def _child(self, name: str, first: str, second: str = "") -> Any:
        key = (name, first, second)
        child = self._children.get(key)
        if child is None:
            labels = (first, second) if second else (first,)
            child = self._children[key] = getattr(self._m, name).labels(*labels)
        return child

    def _count(self, name: str, transport: str, second: str = "") -> None:
        """One more for a per-frame counter: kept for ``flush`` when batched."""
        key = (name, transport, second)
        if self._batched:
            self._pending[key] = self._pending.get(key, 0) + 1
        else:
            self._add(key, 1)

    def _add(self, key: tuple[str, str, str], count: int) -> None:
        name, transport, second = key
        labels = (
            lb.label(transport, lb.TRANSPORTS),
            lb.label(second, lb.REPLIES) if second else "",
        )
        self._child(name, *labels).inc(count)

    def flush(self) -> None:
        """Write the counts and latencies kept since the last flush (nothing to do unless
        batched)."""
        pending, self._pending = self._pending, {}
        for key, count in pending.items():
            self._add(key, count)
        self._observe_latencies()

    def _observe_latencies(self) -> None:
        latencies, self._latencies = self._latencies, {}
        for transport, replies in latencies.items():
            self._observe(transport, replies)

    def _observe(self, transport: str, replies: list[tuple[datetime, datetime]]) -> None:
        observe = self._child("ack_latency", lb.label(transport, lb.TRANSPORTS)).observe
        for received_at, sent_at in replies:
            observe(max((sent_at - received_at).total_seconds(), 0.0))

    def frame_received(self, transport: str) -> None:
        """A complete frame (or datagram) arrived."""
        self._count("frames_received", transport)

    def committed(self, transport: str) -> None:
        """A message became durable in the journal."""
        self._count("messages_committed", transport)

    def duplicate(self, transport: str) -> None:
        """A retransmission was ACKed again and not journaled twice."""
        self._count("duplicates", transport)

    def link_test(self, transport: str) -> None:
        """A NULL link test was answered."""
        self._count("link_tests", transport)

    def rejected(self, transport: str, reason: str) -> None:
        """A frame was rejected for ``reason`` (a ``RejectReason`` value)."""
        labels = (lb.label(transport, lb.TRANSPORTS), lb.label(reason, lb.REASONS))
        self._m.frames_rejected.labels(*labels).inc()

    def replied(self, transport: str, reply: str, received_at: datetime, sent_at: datetime) -> None:
        """A reply was written; the gap since the frame arrived is the ACK latency."""
        self._count("replies", transport, reply)
        if not self._batched:
            self._observe(transport, [(received_at, sent_at)])
            return
        if not self._latencies:
            _after_this_turn(self._observe_latencies)
        replies = self._latencies.get(transport)
        if replies is None:
            replies = self._latencies[transport] = []
        replies.append((received_at, sent_at))

    def unrecognised(self, transport: str, reason: str) -> None:
        """An intact frame was accepted without being understood."""
        labels = (lb.label(transport, lb.TRANSPORTS), lb.label(reason, lb.REASONS))
        self._m.frames_unrecognised.labels(*labels).inc()

    def quirk_seen(self, quirk: str) -> None:
        """A frame used a known field quirk."""
        self._m.quirks.labels(lb.label(quirk, lb.QUIRKS)).inc()

    def limit_hit(self, limit: str) -> None:
        """A limit refused something."""
        self._m.limits_hit.labels(lb.label(limit, lb.LIMITS)).inc()

    def connections(self, count: int) -> None:
        """The number of open TCP connections."""
        self._m.connections.set(count)

    def internal_error(self, where: str) -> None:
        """A bug surfaced at a task root."""
        self._m.internal_error(where)


def _after_this_turn(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current turn of the running event loop is over; without a
    running loop (a test, a tool), never: ``flush`` does the work then."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_soon(callback)
