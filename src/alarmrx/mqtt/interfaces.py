"""What the MQTT publisher needs from the rest of the daemon, as structural types.

The journal, the settings and the metrics are built elsewhere (``journal/``, ``config/``,
``observability/``); the publisher only relies on the members named here, so each side can
change its internals without touching the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from os import PathLike
from typing import Protocol

StrPath = str | PathLike[str]


class MQTTOptions(Protocol):
    """The ``[mqtt]`` settings (``config.MQTTSettings``)."""

    @property
    def url(self) -> str | Sequence[str]: ...
    @property
    def topic_root(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def tls_ca(self) -> StrPath | None: ...
    @property
    def tls_cert(self) -> StrPath | None: ...
    @property
    def tls_key(self) -> StrPath | None: ...
    @property
    def tls_insecure(self) -> bool: ...
    @property
    def keepalive_s(self) -> float: ...
    @property
    def protocol(self) -> str: ...
    @property
    def qos(self) -> int: ...
    @property
    def ha_discovery(self) -> bool: ...
    @property
    def ha_prefix(self) -> str: ...
    @property
    def publish_timeout_s(self) -> float: ...


class ZoneOptions(Protocol):
    """One configured zone of an account (``config.ZoneSettings``)."""

    @property
    def zone(self) -> int | str: ...
    @property
    def name(self) -> str | None: ...


class AccountOptions(Protocol):
    """One configured account (``config.AccountSettings``): its name and zones."""

    @property
    def account(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def zones(self) -> Sequence[ZoneOptions]: ...


# The accounts as a mapping, or a callable returning the current mapping (config reload).
AccountsSource = Mapping[str, AccountOptions] | Callable[[], Mapping[str, AccountOptions]]


class PublisherMetrics(Protocol):
    """The publisher's metrics (``observability.metrics.Metrics`` provides these)."""

    def mqtt_connected(self, connected: bool) -> None:
        """``alarmrx_mqtt_connected`` = 1 / 0."""

    def mqtt_publish_backlog(self, records: int) -> None:
        """``alarmrx_mqtt_publish_backlog``: journal records not yet acknowledged."""

    def mqtt_published(self, latencies_s: Iterable[float]) -> None:
        """One acknowledged event message per latency: ``alarmrx_mqtt_published_total``
        and ``alarmrx_mqtt_receipt_to_ack_seconds`` (receipt at the receiver to PUBACK)."""

    def mqtt_publish_failed(self, reason: str) -> None:
        """``alarmrx_mqtt_publish_failures_total{reason}``; reason from ``FailureReason``."""

    def mqtt_broker(self, url: str) -> None:
        """``alarmrx_mqtt_broker{url}`` = 1 for the broker connected to (last), 0 for the
        others it was connected to before."""


class NoMetrics:
    """A ``PublisherMetrics`` that records nothing (tools, tests without metrics)."""

    def mqtt_connected(self, connected: bool) -> None:
        """Ignore."""

    def mqtt_publish_backlog(self, records: int) -> None:
        """Ignore."""

    def mqtt_published(self, latencies_s: Iterable[float]) -> None:
        """Ignore."""

    def mqtt_publish_failed(self, reason: str) -> None:
        """Ignore."""

    def mqtt_broker(self, url: str) -> None:
        """Ignore."""


class FailureReason(StrEnum):
    """The closed set of ``reason`` labels of ``alarmrx_mqtt_publish_failures_total``."""

    CONNECT = "connect"  # the broker could not be reached (refused, unreachable, TLS)
    REFUSED = "refused"  # CONNACK or a PUBACK with an error (auth, client id, ACL)
    DISCONNECTED = "disconnected"  # the connection dropped with publications in flight
    TIMEOUT = "timeout"  # no PUBACK / CONNACK within publish_timeout_s
    ERROR = "error"  # anything else (a bug): logged with its traceback
