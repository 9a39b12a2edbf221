"""The closed label sets of every metric: values outside a set are counted as ``other``.

Labels come from enums (``RejectReason``, ``Reply``, ``Quirk``, ``RecordKind``,
``FailureReason``) or from the short lists below, never from accounts or peers, so the
number of series is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable

from alarmrx.journal.records import RecordKind
from alarmrx.mqtt.interfaces import FailureReason
from alarmrx.protocols import Quirk, RejectReason, Reply

OTHER = "other"


def closed(values: Iterable[str]) -> frozenset[str]:
    """A label set, always including ``other``."""
    return frozenset((*values, OTHER))


def label(value: str, allowed: frozenset[str]) -> str:
    """``value`` when it is in ``allowed``, else ``other``."""
    return value if value in allowed else OTHER


TRANSPORTS = closed(("tcp", "udp"))
REASONS = closed(r.value for r in RejectReason)
REPLIES = closed(r.value for r in Reply)
QUIRKS = closed(q.value for q in Quirk)
RECORD_KINDS = closed(k.value for k in RecordKind)
MQTT_FAILURES = closed(f.value for f in FailureReason)
LIMITS = closed(
    (
        "connections_total",
        "connections_per_ip",
        "connection_rate",
        "frame_bytes",
        "idle_timeout",
        "peer_rate",
        "unknown_accounts",
        "udp_in_flight",
        "shutting_down",
    )
)
# Task roots that catch what they did not expect (logged with a traceback, and counted).
ERROR_PLACES = closed(
    (
        "tcp_connection",
        "udp_datagram",
        "reject_sample",
        "reply",
        "journal",
        "publisher",
        "pipeline",
        "http",
        "app",
    )
)
DERIVED_TYPES = closed(
    (
        "supervision.lost",
        "supervision.restored",
        "supervision.path_fault",
        "supervision.path_restored",
        "alarm.verified",
        "test.started",
        "test.ended",
        "false_alarm.card",
        "alarm.cancelled",
        "alarm.false",
        "alarm.closed",
        "alarm.expired",
        "card.yellow",
        "card.red",
        "card.cleared",
        "card.temporary",
        "schedule.late_to_arm",
        "schedule.disarmed_outside",
        "schedule.unexpected_disarm",
        "schedule.not_armed_evening",
        "schedule.overtime",
        "rearm.missing",
        "payload.unrecognised",
        "dispatch.advice",
    )
)
