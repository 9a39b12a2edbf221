"""What the receiver reports. ``alarmrx.observability.metrics.ReceiverMetricsAdapter``
implements it on the Prometheus registry; tests may pass a recorder."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ReceiverMetrics(Protocol):
    """Counters and gauges the receiver updates; labels come from closed sets only."""

    def frame_received(self, transport: str) -> None:
        """A complete frame (or datagram) arrived."""

    def committed(self, transport: str) -> None:
        """A message became durable in the journal."""

    def duplicate(self, transport: str) -> None:
        """A retransmission was recognised, ACKed again and not journaled twice."""

    def link_test(self, transport: str) -> None:
        """A NULL link test was answered."""

    def rejected(self, transport: str, reason: str) -> None:
        """A frame was rejected for ``reason`` (a ``RejectReason`` value)."""

    def replied(self, transport: str, reply: str, received_at: datetime, sent_at: datetime) -> None:
        """A reply was written; the gap is the ACK latency."""

    def unrecognised(self, transport: str, reason: str) -> None:
        """An intact frame from a known account was accepted without being understood
        (``reason``: ``unsupported_token``, ``payload`` or ``framing``)."""

    def quirk_seen(self, quirk: str) -> None:
        """A frame used a known field quirk."""

    def limit_hit(self, limit: str) -> None:
        """A limit refused something (connections, frame size, rate, idle, unknown accounts)."""

    def connections(self, count: int) -> None:
        """The number of open TCP connections."""

    def internal_error(self, where: str) -> None:
        """A bug surfaced at a task root."""
