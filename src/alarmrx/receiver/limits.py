"""Bounds on what peers can make the receiver hold: connections, frame rate, unknown accounts.

Each limit is a small pure object; the adapters count and log when one is hit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


class ConnectionLimiter:
    """At most ``total`` open connections, and ``per_peer`` from one IP address."""

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
        count = self._by_peer.get(peer_ip, 0)
        if count >= self.per_peer:
            return "connections_per_ip"
        self._by_peer[peer_ip] = count + 1
        self.open += 1
        return None

    def release(self, peer_ip: str) -> None:
        """Give back a slot taken by ``acquire``."""
        count = self._by_peer.get(peer_ip, 0) - 1
        if count <= 0:
            self._by_peer.pop(peer_ip, None)
        else:
            self._by_peer[peer_ip] = count
        self.open -= 1


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class PeerRateLimiter:
    """A token bucket per peer IP: ``rate`` frames/s, bursts up to ``burst``.

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
        bucket = self._buckets.get(peer_ip)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[peer_ip] = bucket
            if len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(peer_ip)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


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
