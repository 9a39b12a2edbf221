"""Every metric alarmrx exports, defined in one place on a given ``CollectorRegistry``.

``Metrics`` also implements the hooks other parts call: the journal's ``JournalMetrics``
(``observe_commit``, ``record_appended``, ``set_healthy``), the publisher's
``PublisherMetrics`` (``mqtt_*``) and ``set_clock``; the receiver's ``ReceiverMetrics`` is
``observability.receiver.PrometheusReceiverMetrics`` over this object. Labels are closed
(``observability.labels``); every labelled series exists from the start, at 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)

from alarmrx import __version__
from alarmrx.observability import labels as lb

if TYPE_CHECKING:
    from alarmrx.observability.clock import ClockStatus

ACK_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    0.75,
    1.0,
    2.0,
    5.0,
)
COMMIT_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
# Under the supervisor every process writes its values to PROMETHEUS_MULTIPROC_DIR; a gauge
# set by one process reads as the value most recently set by a live one.
LATEST: Final = "livemostrecent"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
MQTT_ACK_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def counter(r: CollectorRegistry, name: str, doc: str, **labels: frozenset[str]) -> Counter:
    """A counter whose labels take the given closed sets; every series starts at 0."""
    metric = Counter(name, doc, list(labels), registry=r)
    combos: list[tuple[str, ...]] = [()] if labels else []
    for values in labels.values():
        combos = [(*c, v) for c in combos for v in sorted(values)]
    for combo in combos:
        metric.labels(*combo)
    return metric


def histogram(
    r: CollectorRegistry, name: str, doc: str, buckets: tuple[float, ...], *labels: str
) -> Histogram:
    """A histogram with explicit buckets."""
    return Histogram(name, doc, labels, buckets=buckets, registry=r)


class Metrics:
    """The registry's metrics, as attributes, and the hooks that update them."""

    def __init__(self, registry: CollectorRegistry, version: str = __version__) -> None:
        r = registry
        # Process-wide: the *_created series only double the output. Untyped upstream.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        Info("alarmrx_build", "alarmrx version", registry=r).info({"version": version})
        ProcessCollector(registry=r)  # process_*: CPU, memory, open files of this process
        self._receiver(r)
        self._journal(r)
        self._clock(r)
        self._mqtt(r)
        self._rules(r)

    def _receiver(self, r: CollectorRegistry) -> None:
        t = lb.TRANSPORTS
        self.frames_received = counter(
            r, "alarmrx_frames_received_total", "Frames and datagrams received", transport=t
        )
        self.messages_committed = counter(
            r, "alarmrx_messages_committed_total", "Messages durable in the journal", transport=t
        )
        self.frames_rejected = counter(
            r,
            "alarmrx_frames_rejected_total",
            "Frames rejected, by RejectReason",
            transport=t,
            reason=lb.REASONS,
        )
        self.frames_unrecognised = counter(
            r,
            "alarmrx_frames_unrecognised_total",
            "Intact frames from known accounts ACKed without being understood, by RejectReason",
            transport=t,
            reason=lb.REASONS,
        )
        self.replies = counter(
            r, "alarmrx_replies_total", "Replies sent", transport=t, reply=lb.REPLIES
        )
        self.link_tests = counter(
            r, "alarmrx_link_tests_total", "NULL link tests answered", transport=t
        )
        self.duplicates = counter(
            r, "alarmrx_duplicates_total", "Retransmissions ACKed, journaled once", transport=t
        )
        self.ack_latency = histogram(
            r,
            "alarmrx_ack_latency_seconds",
            "Frame complete to reply written",
            ACK_LATENCY_BUCKETS,
            "transport",
        )
        for transport in sorted(t):
            self.ack_latency.labels(transport)
        self.connections = Gauge(
            "alarmrx_connections", "Open TCP connections", registry=r, multiprocess_mode="livesum"
        )
        self.limits_hit = counter(
            r, "alarmrx_limits_hit_total", "Refusals by a configured limit", limit=lb.LIMITS
        )
        self.quirks = counter(
            r, "alarmrx_quirks_total", "Frames accepted with a known deviation", quirk=lb.QUIRKS
        )
        self.link_reports_dropped = counter(
            r,
            "alarmrx_link_reports_dropped_total",
            "Link reports a receiver worker could not hand to supervision (channel full)",
        )
        self.internal_errors = counter(
            r,
            "alarmrx_internal_errors_total",
            "Unexpected errors caught at a task root",
            where=lb.ERROR_PLACES,
        )

    def _journal(self, r: CollectorRegistry) -> None:
        self.journal_commit = histogram(
            r,
            "alarmrx_journal_commit_seconds",
            "One group commit, BEGIN to durable COMMIT",
            COMMIT_BUCKETS,
        )
        self.journal_batch = histogram(
            r, "alarmrx_journal_batch_records", "Appends served by one commit", BATCH_BUCKETS
        )
        self.journal_records = counter(
            r, "alarmrx_journal_records_total", "Records chained, by kind", kind=lb.RECORD_KINDS
        )
        self.journal_healthy = Gauge(
            "alarmrx_journal_healthy",
            "1 while the journal commits, 0 after a failure",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.journal_last_seq = Gauge(
            "alarmrx_journal_last_seq",
            "Sequence number of the newest record",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.account_index_last_seq = Gauge(
            "alarmrx_account_index_last_seq",
            "Sequence number of the newest record the per-account index holds",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.journal_size = Gauge(
            "alarmrx_journal_size_bytes",
            "The journal's files (database, WAL, shared memory) on disk",
            registry=r,
        )
        self.journal_disk_free = Gauge(
            "alarmrx_journal_disk_free_bytes",
            "Space an unprivileged process may still use on the journal's filesystem",
            registry=r,
        )

    def _clock(self, r: CollectorRegistry) -> None:
        self.clock_synchronised = Gauge(
            "alarmrx_clock_synchronised",
            "1 when the kernel says the clock is synchronised",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.clock_error = Gauge(
            "alarmrx_clock_estimated_error_seconds",
            "The kernel's estimated clock error",
            registry=r,
            multiprocess_mode=LATEST,
        )

    def _mqtt(self, r: CollectorRegistry) -> None:
        self.mqtt_connected_gauge = Gauge(
            "alarmrx_mqtt_connected",
            "1 while connected to the broker",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.mqtt_backlog = Gauge(
            "alarmrx_mqtt_publish_backlog",
            "Records journaled, not yet acknowledged by the broker",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.mqtt_receipt_to_ack = histogram(
            r,
            "alarmrx_mqtt_receipt_to_ack_seconds",
            "Receipt at the receiver to broker PUBACK",
            MQTT_ACK_BUCKETS,
        )
        self.mqtt_published_total = counter(
            r, "alarmrx_mqtt_published_total", "Event messages acknowledged by the broker"
        )
        self.mqtt_failures = counter(
            r,
            "alarmrx_mqtt_publish_failures_total",
            "Connection or publication failures",
            reason=lb.MQTT_FAILURES,
        )
        # one series per configured broker URL ([mqtt] url): a bounded set
        self.mqtt_broker_gauge = Gauge(
            "alarmrx_mqtt_broker",
            "1 for the broker (of [mqtt] url) connected to last, 0 for the others",
            ["url"],
            registry=r,
            multiprocess_mode=LATEST,
        )
        self._mqtt_brokers: set[str] = set()

    def _rules(self, r: CollectorRegistry) -> None:
        self.accounts_offline_gauge = Gauge(
            "alarmrx_accounts_offline",
            "Accounts whose supervision is lost",
            registry=r,
            multiprocess_mode=LATEST,
        )
        self.derived_events = counter(
            r,
            "alarmrx_derived_events_total",
            "Events concluded by the centre's rules",
            type=lb.DERIVED_TYPES,
        )
        self.consumers_active = Gauge(
            "alarmrx_consumers_active",
            "1 while this node runs the rules and the publisher; 0 on standby "
            "(PostgreSQL journal shared by several nodes)",
            registry=r,
            multiprocess_mode=LATEST,
        )

    # The journal's hooks (journal.metrics.JournalMetrics).
    def observe_commit(self, seconds: float, batch_size: int) -> None:
        """One group commit and the appends it served."""
        self.journal_commit.observe(seconds)
        self.journal_batch.observe(batch_size)

    def record_appended(self, kind: str, count: int = 1) -> None:
        """``count`` records chained; ``kind`` their ``RecordKind`` value."""
        self.journal_records.labels(lb.label(kind, lb.RECORD_KINDS)).inc(count)

    def set_healthy(self, healthy: bool) -> None:
        """The journal committed (True) or failed to (False)."""
        self.journal_healthy.set(1 if healthy else 0)

    def track_journal_last_seq(self, last_seq: Callable[[], int]) -> None:
        """Read ``alarmrx_journal_last_seq`` from ``last_seq`` at each scrape."""
        self.journal_last_seq.set_function(lambda: float(last_seq()))

    def track_journal_disk(self, path: Path) -> None:
        """Read the journal's size and its filesystem's free space at each scrape."""
        self.journal_size.set_function(lambda: journal_bytes(path))
        self.journal_disk_free.set_function(lambda: free_bytes(path.parent))

    # The publisher's hooks (mqtt.interfaces.PublisherMetrics).
    def mqtt_connected(self, connected: bool) -> None:
        """Connected to the broker, or not."""
        self.mqtt_connected_gauge.set(1 if connected else 0)

    def mqtt_publish_backlog(self, records: int) -> None:
        """Records journaled and not yet acknowledged by the broker."""
        self.mqtt_backlog.set(records)

    def mqtt_published(self, latencies_s: Iterable[float]) -> None:
        """One acknowledged event message per latency (receipt to PUBACK)."""
        for latency in latencies_s:
            self.mqtt_published_total.inc()
            self.mqtt_receipt_to_ack.observe(latency)

    def mqtt_publish_failed(self, reason: str) -> None:
        """A failure; ``reason`` a ``FailureReason`` value."""
        self.mqtt_failures.labels(lb.label(reason, lb.MQTT_FAILURES)).inc()

    def mqtt_broker(self, url: str) -> None:
        """Connected to the broker at ``url`` (one of ``[mqtt] url``)."""
        for other in self._mqtt_brokers - {url}:
            self.mqtt_broker_gauge.labels(other).set(0)
        self._mqtt_brokers.add(url)
        self.mqtt_broker_gauge.labels(url).set(1)

    # The rules and the clock.
    def account_index_at(self, journal_seq: int) -> None:
        """The per-account index beside a SQLite journal holds the records up to here."""
        self.account_index_last_seq.set(journal_seq)

    def accounts_offline(self, count: int) -> None:
        """Accounts whose supervision is currently lost."""
        self.accounts_offline_gauge.set(count)

    def derived_event(self, event_type: str) -> None:
        """A rule concluded ``event_type`` (e.g. ``supervision.lost``)."""
        self.derived_events.labels(lb.label(event_type, lb.DERIVED_TYPES)).inc()

    def link_report_dropped(self) -> None:
        """A worker's link report did not fit into the channel to supervision."""
        self.link_reports_dropped.inc()

    def internal_error(self, where: str) -> None:
        """An unexpected error caught at the task root ``where``."""
        self.internal_errors.labels(lb.label(where, lb.ERROR_PLACES)).inc()

    def set_clock(self, status: ClockStatus) -> None:
        """The kernel's clock state; NaN when unknown."""
        synced = status.synchronised
        self.clock_synchronised.set(float("nan") if synced is None else float(synced))
        error = status.estimated_error_s
        self.clock_error.set(float("nan") if error is None else error)


def journal_bytes(path: Path) -> float:
    """The SQLite journal's size with its ``-wal`` and ``-shm`` files; NaN when unreadable."""
    total = 0
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            total += name.stat().st_size
        except FileNotFoundError:
            continue
        except OSError:
            return float("nan")
    return float(total)


def free_bytes(directory: Path) -> float:
    """Bytes available to an unprivileged process under ``directory``; NaN when unknown."""
    try:
        found = os.statvfs(directory)
    except OSError:
        return float("nan")
    return float(found.f_bavail * found.f_frsize)
