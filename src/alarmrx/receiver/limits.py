"""Bounds on what peers can make the receiver hold: connections, frame rate, unknown accounts.

Each limit is a small pure object; the adapters count and log when one is hit. The frame
rate is bounded per connection (a TCP connection, or a UDP source address and port) by
default; per peer address only when configured, since many panels may share one address
(a mobile carrier's NAT, a cloud relay). docs/operations.md says what each limit protects.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


class ConnectionLimiter:
    """At most ``total`` open connections, and ``per_peer`` from one IP address (0 = no
    bound per address)."""

    __slots__ = ("_by_peer", "open", "per_peer", "total")

    def __init__(self, *, total: int, per_peer: int) -> None:
        self.total = total
        self.per_peer = per_peer
        self.open = 0
        self._by_peer: dict[str, int] = {}

    def acquire(self, peer_ip: str) -> str | None:
        """Take a slot; return None, or the name of the limit that refused it."""
        if self.open >= self.total:
            return "connections_total"
        if not self.per_peer:
            self.open += 1
            return None
        count = self._by_peer.get(peer_ip, 0)
        if count >= self.per_peer:
            return "connections_per_ip"
        self._by_peer[peer_ip] = count + 1
        self.open += 1
        return None

    def release(self, peer_ip: str) -> None:
        """Give back a slot taken by ``acquire``."""
        self.open -= 1
        if not self.per_peer:
            return
        count = self._by_peer.get(peer_ip, 0) - 1
        if count <= 0:
            self._by_peer.pop(peer_ip, None)
        else:
            self._by_peer[peer_ip] = count


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class PeerRateLimiter:
    """A token bucket per peer (an IP address, or an address and port): ``rate`` frames/s,
    bursts up to ``burst``.

    At most ``max_peers`` buckets are kept; the least recently used is forgotten first (a
    forgotten peer starts with a full bucket, so forgetting only ever errs towards serving).
    """

    __slots__ = ("_buckets", "burst", "max_peers", "rate")

    def __init__(self, *, rate: float, burst: int, max_peers: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_peers = max_peers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, peer_ip: str, now: float) -> bool:
        """Spend one token for ``peer_ip`` at monotonic time ``now``; False when empty."""
        buckets = self._buckets
        bucket = buckets.get(peer_ip)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            buckets[peer_ip] = bucket
            if len(buckets) > self.max_peers:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(peer_ip)
            tokens = bucket.tokens + (now - bucket.stamp) * self.rate
            bucket.tokens = tokens if tokens < self.burst else self.burst  # min(), inline
            bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


class FrameRateLimits:
    """The frame-rate limits a frame must pass: ``connection`` (``connection_rate``, per TCP
    connection or UDP source address and port) and, when ``peer_rate`` is above 0,
    ``peer`` (per source address)."""

    __slots__ = ("connection", "peer")

    def __init__(
        self, *, connection_rate: float, connection_burst: int, peer_rate: float, peer_burst: int
    ) -> None:
        self.connection = PeerRateLimiter(rate=connection_rate, burst=connection_burst)
        self.peer = PeerRateLimiter(rate=peer_rate, burst=peer_burst) if peer_rate else None

    def refused(self, connection: str, peer_ip: str, now: float) -> str | None:
        """None when a frame from ``connection`` (host:port) may pass at monotonic ``now``;
        else the limit that refused it: ``connection_rate`` or ``peer_rate``."""
        if not self.connection.allow(connection, now):
            return "connection_rate"
        if self.peer is not None and not self.peer.allow(peer_ip, now):
            return "peer_rate"
        return None


class UnknownAccounts:
    """Accounts not in the config that the ``accept`` policy has let in, at most ``cap``.

    Beyond the cap a new unknown account is refused, so a scanner inventing accounts cannot
    grow memory, the journal or the logs without bound.
    """

    __slots__ = ("_seen", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: set[str] = set()

    def admit(self, key: str) -> bool:
        """True if ``key`` was admitted before or fits under the cap (then remembered)."""
        if key in self._seen:
            return True
        if len(self._seen) >= self.cap:
            return False
        self._seen.add(key)
        return True

    def __len__(self) -> int:
        return len(self._seen)
