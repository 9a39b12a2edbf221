"""The flight: plans sent in order within the in-flight limit, settled in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alarmrx.mqtt.flight import Flight
from alarmrx.mqtt.outbox import Outgoing, Plan

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def plan(last_seq: int, *names: str) -> Plan:
    messages = tuple(Outgoing(f"t/{n}", n.encode(), received_at=T0) for n in names)
    return Plan(messages, last_seq, frozenset(), {})


class Wire:
    """Records what was published, hands out packet ids from 1."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.mids: dict[str, int] = {}

    def publish(self, message: Outgoing) -> int:
        self.sent.append(message.topic)
        self.mids[message.topic] = len(self.sent)
        return len(self.sent)


def flight(wire: Wire, settled: list[tuple[int, list[float]]], limit: int = 2) -> Flight:
    now = [0.0]
    return Flight(
        wire.publish,
        limit=limit,
        monotonic=lambda: now[0],
        settled=lambda p, lat: settled.append((p.last_seq, lat)),
        clock=lambda: T0 + timedelta(milliseconds=5),
    )


def test_sends_within_the_limit_and_refills_on_each_ack() -> None:
    wire, settled = Wire(), []
    f = flight(wire, settled)
    f.add(plan(1, "a", "b", "c"))
    assert (wire.sent, f.outstanding) == (["t/a", "t/b"], 3)
    f.acked(wire.mids["t/a"])
    assert wire.sent == ["t/a", "t/b", "t/c"]
    assert f.outstanding == 2
    assert settled == []


def test_a_plan_settles_only_after_every_earlier_plan() -> None:
    wire, settled = Wire(), []
    f = flight(wire, settled, limit=10)
    f.add(plan(1, "a"))
    f.add(plan(2, "b"))
    f.acked(wire.mids["t/b"])  # acknowledgements may come out of order
    assert settled == []
    f.acked(wire.mids["t/a"])
    assert [seq for seq, _ in settled] == [1, 2]
    assert settled[0][1] == [0.005]
    assert f.outstanding == 0
    assert f.oldest_sent_at() is None


def test_a_plan_without_messages_settles_in_its_turn() -> None:
    wire, settled = Wire(), []
    f = flight(wire, settled)
    f.add(plan(1, "a"))
    f.add(plan(2))
    assert settled == []
    f.acked(wire.mids["t/a"])
    assert [seq for seq, _ in settled] == [1, 2]
    f.add(plan(3))
    assert [seq for seq, _ in settled] == [1, 2, 3]


def test_unknown_packet_ids_are_ignored() -> None:
    wire, settled = Wire(), []
    f = flight(wire, settled)
    f.add(plan(1, "a"))
    f.acked(999)
    f.acked(wire.mids["t/a"])
    f.acked(wire.mids["t/a"])  # a second PUBACK for the same id
    assert [seq for seq, _ in settled] == [1]
    assert f.oldest_sent_at() is None


def test_knows_which_packet_ids_are_its_own() -> None:
    """The publisher tells a refused event (its own id) from a refused reply (not its own)."""
    wire, settled = Wire(), []
    f = flight(wire, settled, limit=1)
    f.add(plan(1, "a", "b"))
    assert wire.mids["t/a"] in f
    assert 99 not in f
    f.acked(wire.mids["t/a"])
    assert wire.mids["t/a"] not in f
    assert wire.mids["t/b"] in f
