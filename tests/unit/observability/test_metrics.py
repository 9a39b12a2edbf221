"""Metrics: Prometheus names, closed labels (every enum value is a valid label), hooks."""

from __future__ import annotations

import asyncio
import math
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alarmrx.journal.records import RecordKind
from alarmrx.mqtt.interfaces import FailureReason
from alarmrx.observability import labels as lb
from alarmrx.observability.clock import ClockStatus
from alarmrx.observability.metrics import Metrics
from alarmrx.observability.receiver import PrometheusReceiverMetrics
from alarmrx.protocols import Quirk, RejectReason, Reply

REQUIRED = {
    "alarmrx_build_info",
    "alarmrx_frames_received_total",
    "alarmrx_messages_committed_total",
    "alarmrx_frames_rejected_total",
    "alarmrx_replies_total",
    "alarmrx_link_tests_total",
    "alarmrx_duplicates_total",
    "alarmrx_ack_latency_seconds",
    "alarmrx_connections",
    "alarmrx_limits_hit_total",
    "alarmrx_quirks_total",
    "alarmrx_internal_errors_total",
    "alarmrx_journal_commit_seconds",
    "alarmrx_journal_batch_records",
    "alarmrx_journal_records_total",
    "alarmrx_journal_healthy",
    "alarmrx_journal_last_seq",
    "alarmrx_clock_synchronised",
    "alarmrx_clock_estimated_error_seconds",
    "alarmrx_mqtt_connected",
    "alarmrx_mqtt_publish_backlog",
    "alarmrx_mqtt_receipt_to_ack_seconds",
    "alarmrx_mqtt_published_total",
    "alarmrx_mqtt_publish_failures_total",
    "alarmrx_accounts_offline",
    "alarmrx_derived_events_total",
    "alarmrx_consumers_active",
    "alarmrx_journal_size_bytes",
    "alarmrx_journal_disk_free_bytes",
}
FORBIDDEN_LABELS = {"account", "peer", "ip", "host", "address"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, version="9.9.9")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, (name, labels)
    return found


def exposed_names(registry: CollectorRegistry) -> set[str]:
    text = generate_latest(registry).decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def test_every_required_metric_is_exposed(metrics: Metrics, registry: CollectorRegistry) -> None:
    assert exposed_names(registry) >= REQUIRED
    assert value(registry, "alarmrx_build_info", version="9.9.9") == 1.0


def test_names_follow_prometheus_conventions_and_labels_are_closed(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    for family in registry.collect():
        # process_*: prometheus-client's standard process collector, named by convention
        assert family.name.startswith(("alarmrx_", "process_"))
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples)
        for sample in family.samples:
            assert not set(sample.labels) & FORBIDDEN_LABELS, family.name
    assert "_created" not in generate_latest(registry).decode()


@pytest.mark.parametrize("reason", list(RejectReason))
def test_every_reject_reason_is_a_label(registry: CollectorRegistry, reason: RejectReason) -> None:
    adapter = PrometheusReceiverMetrics(Metrics(registry))
    before = value(registry, "alarmrx_frames_rejected_total", transport="udp", reason=reason)
    adapter.rejected("udp", reason.value)
    after = value(registry, "alarmrx_frames_rejected_total", transport="udp", reason=reason)
    assert after == before + 1


def test_every_enum_value_starts_as_a_zero_series(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    for reply in Reply:
        assert value(registry, "alarmrx_replies_total", transport="tcp", reply=reply) == 0
    for quirk in Quirk:
        assert value(registry, "alarmrx_quirks_total", quirk=quirk) == 0
    for kind in RecordKind:
        assert value(registry, "alarmrx_journal_records_total", kind=kind) == 0
    for failure in FailureReason:
        assert value(registry, "alarmrx_mqtt_publish_failures_total", reason=failure) == 0
    for limit in lb.LIMITS:
        assert value(registry, "alarmrx_limits_hit_total", limit=limit) == 0


def test_unknown_label_values_count_as_other(metrics: Metrics, registry: CollectorRegistry) -> None:
    adapter = PrometheusReceiverMetrics(metrics)
    adapter.limit_hit("something_new")
    adapter.rejected("sctp", "weird")
    metrics.derived_event("made.up")
    assert value(registry, "alarmrx_limits_hit_total", limit="other") == 1
    assert value(registry, "alarmrx_frames_rejected_total", transport="other", reason="other") == 1
    assert value(registry, "alarmrx_derived_events_total", type="other") == 1


def test_receiver_adapter(metrics: Metrics, registry: CollectorRegistry) -> None:
    adapter = PrometheusReceiverMetrics(metrics)
    received = datetime(2024, 1, 1, tzinfo=UTC)
    adapter.frame_received("tcp")
    adapter.committed("tcp")
    adapter.duplicate("udp")
    adapter.link_test("tcp")
    adapter.replied("tcp", "ACK", received, received + timedelta(milliseconds=3))
    adapter.quirk_seen(Quirk.BINARY_CRC.value)
    adapter.connections(7)
    adapter.internal_error("tcp_connection")
    assert value(registry, "alarmrx_frames_received_total", transport="tcp") == 1
    assert value(registry, "alarmrx_messages_committed_total", transport="tcp") == 1
    assert value(registry, "alarmrx_duplicates_total", transport="udp") == 1
    assert value(registry, "alarmrx_link_tests_total", transport="tcp") == 1
    assert value(registry, "alarmrx_replies_total", transport="tcp", reply="ACK") == 1
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 1
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.003") == 1
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.002") == 0
    assert value(registry, "alarmrx_quirks_total", quirk="binary_crc") == 1
    assert value(registry, "alarmrx_connections") == 7
    assert value(registry, "alarmrx_internal_errors_total", where="tcp_connection") == 1


def test_batched_receiver_adapter_writes_per_frame_counters_on_flush(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    adapter = PrometheusReceiverMetrics(metrics, batched=True)
    received = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(3):
        adapter.frame_received("tcp")
        adapter.committed("tcp")
        adapter.replied("tcp", "ACK", received, received + timedelta(milliseconds=3))
    adapter.duplicate("udp")
    adapter.link_test("udp")
    adapter.replied("sctp", "WHAT", received, received)
    adapter.rejected("tcp", "crc")
    # the rare counters are written at once
    assert value(registry, "alarmrx_frames_rejected_total", transport="tcp", reason="crc") == 1
    assert value(registry, "alarmrx_frames_received_total", transport="tcp") == 0
    # no running loop: the latencies wait for the flush too
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 0
    adapter.flush()
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 3
    assert value(registry, "alarmrx_ack_latency_seconds_sum", transport="tcp") == pytest.approx(
        0.009
    )
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.003") == 3
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.002") == 0
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="other") == 1
    assert value(registry, "alarmrx_frames_received_total", transport="tcp") == 3
    assert value(registry, "alarmrx_messages_committed_total", transport="tcp") == 3
    assert value(registry, "alarmrx_replies_total", transport="tcp", reply="ACK") == 3
    assert value(registry, "alarmrx_duplicates_total", transport="udp") == 1
    assert value(registry, "alarmrx_link_tests_total", transport="udp") == 1
    assert value(registry, "alarmrx_replies_total", transport="other", reply="other") == 1
    adapter.flush()  # nothing new: nothing counted twice
    assert value(registry, "alarmrx_frames_received_total", transport="tcp") == 3
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 3


async def test_batched_ack_latencies_are_observed_after_the_turn_that_wrote_the_replies(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """Under a running loop the latencies wait for the end of the turn, not for ``flush``."""
    adapter = PrometheusReceiverMetrics(metrics, batched=True)
    received = datetime(2024, 1, 1, tzinfo=UTC)
    for ms in (1, 3, 40):
        adapter.replied("tcp", "ACK", received, received + timedelta(milliseconds=ms))
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 0
    await asyncio.sleep(0)  # the turn is over
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 3
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.003") == 2
    assert value(registry, "alarmrx_ack_latency_seconds_sum", transport="tcp") == pytest.approx(
        0.044
    )
    adapter.replied("tcp", "ACK", received, received - timedelta(milliseconds=1))  # clock step
    await asyncio.sleep(0)
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 4
    assert value(registry, "alarmrx_ack_latency_seconds_bucket", transport="tcp", le="0.001") == 2
    adapter.flush()  # observed once only
    assert value(registry, "alarmrx_ack_latency_seconds_count", transport="tcp") == 4


def test_journal_publisher_and_clock_hooks(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.observe_commit(0.004, 12)
    metrics.record_appended("message")
    metrics.record_appended("derived", 3)  # a commit's records of one kind, counted at once
    metrics.set_healthy(False)
    metrics.track_journal_last_seq(lambda: 42)
    metrics.mqtt_connected(True)
    metrics.mqtt_publish_backlog(5)
    metrics.mqtt_published([0.01, 0.2])
    metrics.mqtt_publish_failed("timeout")
    metrics.accounts_offline(3)
    metrics.account_index_at(40)
    metrics.set_clock(ClockStatus(True, 0.002, 0.1, "adjtimex"))
    assert value(registry, "alarmrx_journal_commit_seconds_count") == 1
    assert value(registry, "alarmrx_journal_batch_records_sum") == 12
    assert value(registry, "alarmrx_journal_records_total", kind="message") == 1
    assert value(registry, "alarmrx_journal_records_total", kind="derived") == 3
    assert value(registry, "alarmrx_journal_healthy") == 0
    assert value(registry, "alarmrx_journal_last_seq") == 42
    assert value(registry, "alarmrx_mqtt_connected") == 1
    assert value(registry, "alarmrx_mqtt_publish_backlog") == 5
    assert value(registry, "alarmrx_mqtt_published_total") == 2
    assert value(registry, "alarmrx_mqtt_receipt_to_ack_seconds_count") == 2
    assert value(registry, "alarmrx_mqtt_publish_failures_total", reason="timeout") == 1
    assert value(registry, "alarmrx_accounts_offline") == 3
    assert value(registry, "alarmrx_account_index_last_seq") == 40
    assert value(registry, "alarmrx_clock_synchronised") == 1
    assert value(registry, "alarmrx_clock_estimated_error_seconds") == 0.002


def test_ack_latency_buckets_are_fine_from_half_a_millisecond_to_five_seconds(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    buckets = [
        s.labels["le"]
        for f in registry.collect()
        if f.name == "alarmrx_ack_latency_seconds"
        for s in f.samples
        if s.name.endswith("_bucket") and s.labels["transport"] == "tcp"
    ]
    assert buckets[0] == "0.0005"
    assert "5.0" in buckets
    assert len(buckets) >= 15


def test_journal_disk_gauges_read_the_files_at_each_scrape(
    metrics: Metrics, registry: CollectorRegistry, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.db"
    metrics.track_journal_disk(journal)
    assert value(registry, "alarmrx_journal_size_bytes") == 0.0  # not created yet
    journal.write_bytes(b"x" * 4096)
    (tmp_path / "journal.db-wal").write_bytes(b"x" * 1000)
    assert value(registry, "alarmrx_journal_size_bytes") == 5096.0
    assert value(registry, "alarmrx_journal_disk_free_bytes") > 0


def test_disk_free_is_nan_when_the_directory_is_gone(
    metrics: Metrics, registry: CollectorRegistry, tmp_path: Path
) -> None:
    metrics.track_journal_disk(tmp_path / "gone" / "journal.db")
    assert math.isnan(value(registry, "alarmrx_journal_disk_free_bytes"))


@pytest.mark.skipif(sys.platform != "linux", reason="prometheus-client reads /proc")
def test_process_metrics_are_exposed(metrics: Metrics, registry: CollectorRegistry) -> None:
    names = exposed_names(registry)
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    } <= names
