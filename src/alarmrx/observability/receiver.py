"""``PrometheusReceiverMetrics``: the receiver's ``ReceiverMetrics`` hooks on ``Metrics``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alarmrx.observability import labels as lb
from alarmrx.observability.metrics import Metrics


class PrometheusReceiverMetrics:
    """Implements ``alarmrx.receiver.ReceiverMetrics``; label values are closed sets.

    The per-frame hooks keep the labelled children they use (``labels()`` costs a lock and
    a tuple per call; the sets are closed, so the cache is bounded)."""

    __slots__ = ("_children", "_m")

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        self._children: dict[tuple[str, str, str], Any] = {}

    def _child(self, name: str, first: str, second: str = "") -> Any:
        key = (name, first, second)
        child = self._children.get(key)
        if child is None:
            labels = (first, second) if second else (first,)
            child = self._children[key] = getattr(self._m, name).labels(*labels)
        return child

    def frame_received(self, transport: str) -> None:
        """A complete frame (or datagram) arrived."""
        self._child("frames_received", lb.label(transport, lb.TRANSPORTS)).inc()

    def committed(self, transport: str) -> None:
        """A message became durable in the journal."""
        self._child("messages_committed", lb.label(transport, lb.TRANSPORTS)).inc()

    def duplicate(self, transport: str) -> None:
        """A retransmission was ACKed again and not journaled twice."""
        self._m.duplicates.labels(lb.label(transport, lb.TRANSPORTS)).inc()

    def link_test(self, transport: str) -> None:
        """A NULL link test was answered."""
        self._child("link_tests", lb.label(transport, lb.TRANSPORTS)).inc()

    def rejected(self, transport: str, reason: str) -> None:
        """A frame was rejected for ``reason`` (a ``RejectReason`` value)."""
        labels = (lb.label(transport, lb.TRANSPORTS), lb.label(reason, lb.REASONS))
        self._m.frames_rejected.labels(*labels).inc()

    def replied(self, transport: str, reply: str, received_at: datetime, sent_at: datetime) -> None:
        """A reply was written; the gap since the frame arrived is the ACK latency."""
        transport = lb.label(transport, lb.TRANSPORTS)
        self._child("replies", transport, lb.label(reply, lb.REPLIES)).inc()
        seconds = (sent_at - received_at).total_seconds()
        self._child("ack_latency", transport).observe(max(seconds, 0.0))

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
