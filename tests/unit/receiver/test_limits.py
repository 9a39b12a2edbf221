"""The receiver's limits as pure objects: per connection by default, per address on request."""

from __future__ import annotations

from alarmrx.config import ReceiverSettings
from alarmrx.receiver.limits import ConnectionLimiter, FrameRateLimits


def _rates(**settings: float) -> FrameRateLimits:
    receiver = ReceiverSettings(**settings)  # type: ignore[arg-type]
    return FrameRateLimits(
        connection_rate=receiver.connection_rate,
        connection_burst=receiver.connection_burst,
        peer_rate=receiver.peer_rate,
        peer_burst=receiver.peer_burst,
    )


def test_by_default_many_connections_from_one_address_are_not_throttled() -> None:
    """Panels behind one NAT: 100 connections from one address, each well within its own
    rate, send 1 000 frames in the same instant; the old per-address default (burst 200)
    would have refused 800 of them."""
    limits = _rates()
    refused = [
        limits.refused(f"10.0.0.1:{port}", "10.0.0.1", now=0.0)
        for port in range(40000, 40100)
        for _ in range(10)
    ]
    assert refused == [None] * 1000


def test_one_connection_past_its_burst_is_refused_as_connection_rate() -> None:
    limits = _rates(connection_rate=50.0, connection_burst=200)
    results = [limits.refused("10.0.0.1:40000", "10.0.0.1", now=0.0) for _ in range(201)]
    assert results[:200] == [None] * 200
    assert results[200] == "connection_rate"
    # another connection from the same address still has its own bucket
    assert limits.refused("10.0.0.1:40001", "10.0.0.1", now=0.0) is None
    # a second later the first has 50 tokens again
    assert limits.refused("10.0.0.1:40000", "10.0.0.1", now=1.0) is None


def test_peer_rate_is_opt_in_and_counts_every_connection_of_an_address() -> None:
    limits = _rates(peer_rate=50.0, peer_burst=200)
    results = [limits.refused(f"10.0.0.1:{40000 + n}", "10.0.0.1", now=0.0) for n in range(201)]
    assert results[:200] == [None] * 200
    assert results[200] == "peer_rate"
    assert limits.refused("10.0.0.2:40000", "10.0.0.2", now=0.0) is None


def test_connections_per_address_unbounded_by_default() -> None:
    default = ReceiverSettings()
    limiter = ConnectionLimiter(total=5000, per_peer=default.max_connections_per_ip)
    assert [limiter.acquire("10.0.0.1") for _ in range(3000)] == [None] * 3000
    assert limiter.open == 3000
    for _ in range(3000):
        limiter.release("10.0.0.1")
    assert limiter.open == 0


def test_connections_per_address_when_configured() -> None:
    limiter = ConnectionLimiter(total=10, per_peer=2)
    assert limiter.acquire("10.0.0.1") is None
    assert limiter.acquire("10.0.0.1") is None
    assert limiter.acquire("10.0.0.1") == "connections_per_ip"
    assert limiter.acquire("10.0.0.2") is None
    limiter.release("10.0.0.1")
    assert limiter.acquire("10.0.0.1") is None
    assert limiter.open == 3


def test_connections_total_still_holds_without_a_per_address_bound() -> None:
    limiter = ConnectionLimiter(total=3, per_peer=0)
    assert [limiter.acquire(f"10.0.0.{n}") for n in range(4)] == [
        None,
        None,
        None,
        "connections_total",
    ]
