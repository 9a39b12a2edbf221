"""Where and how to reach the brokers, from the ``[mqtt]`` settings; and the reconnect delay.

Pure: no sockets, no MQTT client. ``[mqtt] url`` is one URL or a list of them (the nodes of
a clustered broker, tried in turn); ``publish.py`` connects to one ``BrokerAddress`` at a
time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

_DEFAULT_PORT = MappingProxyType({"mqtt": 1883, "mqtts": 8883})


class BrokerURLError(ValueError):
    """The ``[mqtt] url`` is not ``mqtt://host[:port]`` or ``mqtts://host[:port]``."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Host, port, and whether the connection uses TLS (``mqtts://``)."""

    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        """``mqtt://host:port`` (the port always given): how logs and metrics name it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://host:1883`` / ``mqtts://host:8883`` (IPv6 as ``[::1]``); port optional."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        msg = f"{url!r} is not mqtt://host[:port] or mqtts://host[:port]"
        raise BrokerURLError(msg)
    try:
        port = parts.port or _DEFAULT_PORT[scheme]
    except ValueError as exc:
        raise BrokerURLError(f"{url!r}: {exc}") from None
    return BrokerAddress(host=parts.hostname, port=port, tls=scheme == "mqtts")


def parse_urls(url: str | Sequence[str]) -> tuple[BrokerAddress, ...]:
    """One URL or several, in the order given (at least one)."""
    urls = (url,) if isinstance(url, str) else tuple(url)
    if not urls:
        raise BrokerURLError("no broker URL given")
    return tuple(parse_url(one) for one in urls)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with "equal jitter": attempt n waits between half and
    all of ``min(cap_s, initial_s * factor**n)``, so reconnecting receivers spread out
    but never hammer a broker that is down."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt`` (0 = right after a failure)."""
        ceiling = min(self.cap_s, self.initial_s * self.factor ** min(attempt, 64))
        return ceiling / 2 + random() * ceiling / 2
