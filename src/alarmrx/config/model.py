"""The validated settings: frozen values built by ``load_settings``, read everywhere else.

Each field's default here is the default of the TOML key of the same name;
``docs/configuration.md`` is checked against these classes by a test.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from alarmrx.config.card_model import CardSettings
from alarmrx.config.problems import Problem

_ADDRESS = re.compile(r"^(?:\[(?P<v6>[^\[\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*$")
_DOTTED_DIGITS = re.compile(r"^[0-9.]+$")
MQTT_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """A host and port to listen on; port 0 asks the kernel for a free one (tests)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        """``"127.0.0.1:12128"``, ``"[::1]:12128"`` or ``"localhost:9108"``; ValueError else."""
        match = _ADDRESS.match(text)
        if match is None:
            msg = f"{text!r} is not host:port (write IPv6 as [::1]:12128)"
            raise ValueError(msg)
        host = match["v6"] if match["v6"] is not None else match["host"]
        _check_host(host, ipv6=match["v6"] is not None)
        port = int(match["port"])
        if port > 65535:
            msg = f"port {port} is above 65535"
            raise ValueError(msg)
        return cls(host=host, port=port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _check_host(host: str, *, ipv6: bool) -> None:
    try:
        if ipv6:
            ipaddress.IPv6Address(host)
        elif _DOTTED_DIGITS.match(host):
            ipaddress.IPv4Address(host)
        elif not _HOSTNAME.match(host):
            raise ValueError(host)
    except ValueError:
        msg = f"{host!r} is not an IP address or host name"
        raise ValueError(msg) from None


LOCALHOST_DC09 = ListenAddress(host="127.0.0.1", port=12128)
LOCALHOST_METRICS = ListenAddress(host="127.0.0.1", port=9108)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverSettings:
    """``[receiver]``: the DC-09 listeners and their limits."""

    id: str = "rx1"
    listen: tuple[ListenAddress, ...] = (LOCALHOST_DC09,)
    unknown_accounts: Literal["reject", "accept"] = "reject"
    max_connections: int = 20000
    max_connections_per_ip: int = 0
    max_frame_bytes: int = 4096
    idle_timeout_s: float = 3600.0
    connection_rate: float = 50.0
    connection_burst: int = 200
    peer_rate: float = 0.0
    peer_burst: int = 200
    linger_s: float = 0.0
    nak_on_corrupt: bool = False
    check_plain_timestamp: bool = False
    ack_timestamp: bool = False
    max_unknown_accounts: int = 1000
    long_pad: bool = False
    unrecognised_payload: Literal["ack", "duh"] = "ack"
    workers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalSettings:
    """``[journal]``: where and how events are recorded.

    ``backend`` "sqlite" uses ``path``; "postgresql" uses ``dsn`` (a libpq connection string
    without a password) and ``password`` (read from ``password_file``/``password_credential``).
    """

    backend: str = "sqlite"
    path: Path = Path("var/journal.db")
    dsn: str | None = None
    password: str | None = field(default=None, repr=False)
    fsync: bool = True
    retention_days: int = 730
    reject_samples_per_minute: int = 60
    dedupe_window_s: float = 120.0
    takeover_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """``[metrics]``: the HTTP endpoint for /metrics, /healthz and /readyz; None = off."""

    listen: ListenAddress | None = LOCALHOST_METRICS


@dataclass(frozen=True, slots=True, kw_only=True)
class MQTTSettings:
    """``[mqtt]``: the broker events are published to (one URL, or several: the nodes of a
    clustered broker, tried in turn, sharing every other setting)."""

    url: str | tuple[str, ...]
    topic_root: str = "alarmrx"
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_insecure: bool = False
    keepalive_s: int = 60
    protocol: Literal["3.1.1", "5"] = "5"
    qos: int = 1
    ha_discovery: bool = False
    ha_prefix: str = "homeassistant"
    publish_timeout_s: float = 10.0

    @property
    def urls(self) -> tuple[str, ...]:
        """Every broker URL, in the order given."""
        return (self.url,) if isinstance(self.url, str) else self.url

    @property
    def tls(self) -> bool:
        """True when a url is ``mqtts://``."""
        return any(urlsplit(url).scheme == "mqtts" for url in self.urls)

    @property
    def host(self) -> str:
        """The (first) broker's host name or address."""
        return urlsplit(self.urls[0]).hostname or ""

    @property
    def port(self) -> int:
        """The (first) broker's port; 1883 or 8883 when the url names none."""
        parts = urlsplit(self.urls[0])
        return parts.port or MQTT_DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmSettings:
    """``[alarms]``: how long an alarm nothing closed stays open (docs/mqtt.md)."""

    open_max_age_s: float = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSettings:
    """``[logging]``: level, line format, and whether each accepted message and each rules
    conclusion is logged at info level."""

    level: str = "info"
    format: Literal["auto", "json", "console"] = "auto"
    events: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneSettings:
    """``[[accounts.zones]]``: a zone's name and the zones next to it (for verification)."""

    zone: int
    name: str | None = None
    neighbours: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PathSettings:
    """``[[accounts.paths]]``: one transmission path of a dual-path account.

    A frame belongs to the first path whose given ``receiver`` (``R``), ``line`` (``L``) and
    ``transport`` all match it; a path giving none of them matches every frame.
    ``interval_s`` overrides the interval the supervision category gives this path.
    """

    name: str
    receiver: str | None = None
    line: str | None = None
    transport: Literal["tcp", "udp"] | None = None
    interval_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisionSettings:
    """``[accounts.supervision]``: how often the account must be heard (docs/rules.md).

    ``category`` is an EN 50136-1 ATS category (``SP1``-``SP6``, ``DP1``-``DP4``) whose
    reporting time is the interval; ``interval_s`` sets it in seconds instead.
    """

    category: str | None = None
    interval_s: float | None = None
    grace_s: float = 0.0
    reset_by: Literal["any_frame", "test_reports"] = "any_frame"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationSettings:
    """``[accounts.verification]``: the window of the two-detector rule, and zone chains."""

    window_s: float = 300.0
    chains: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class OpenPeriod:
    """One weekly period when the premises are expected open (disarmed), in local time:
    ``weekday`` 0 is Monday; ``start`` and ``end`` are minutes after midnight, ``end`` 1440
    is 24:00, and an ``end`` at or before ``start`` lies on the next day (``22:00-06:00``)."""

    weekday: int
    start: int
    end: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSettings:
    """``[accounts.schedule]``: when the premises are open, and the arming checks
    (docs/schedules.md). ``evening_check`` is a (start, end) pair of minutes like a period."""

    timezone: str | None = None
    open: tuple[OpenPeriod, ...] = ()
    grace_s: float = 900.0
    evening_check: tuple[int, int] | None = None
    rearm_after_alarm_s: float | None = None
    max_overtime_s: float = 43200.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InsuranceSettings:
    """``[accounts.insurance]``: the insurance security level whose reaction time the
    evidence export measures responses against (docs/evidence.md)."""

    level: int | None = None
    reaction_minutes: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettings:
    """``[[accounts]]``: one served account. ``account`` is verbatim (``"0123"`` != 123).

    ``receiver`` and ``line`` (the frame's ``R`` and ``L`` fields) None match any value.
    The loader sets ``require_encryption`` True when a key is set, unless the file says no.
    """

    account: str
    receiver: str | None = None
    line: str | None = None
    key: bytes | None = field(default=None, repr=False)
    require_encryption: bool = False
    clock_offset_s: float = 0.0
    timezone: str | None = None
    window_past_s: float = 40.0
    window_future_s: float = 20.0
    check_plain_timestamp: bool | None = None
    name: str | None = None
    zones: tuple[ZoneSettings, ...] = ()
    paths: tuple[PathSettings, ...] = ()
    supervision: SupervisionSettings | None = None
    verification: VerificationSettings | None = None
    card: CardSettings | None = None
    schedule: ScheduleSettings | None = None
    insurance: InsuranceSettings | None = None


# Placeholders: the Danish F&P levels require a maximum response time from level 20, whose
# minute values could not be found (docs/protocol.md, "National rules"); set your insurer's values.
PLACEHOLDER_REACTION_MINUTES = ((20, 30.0), (30, 30.0), (40, 20.0), (50, 20.0), (60, 15.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceSettings:
    """``[evidence]``: what the evidence export measures (docs/evidence.md).

    ``reaction_minutes`` pairs an insurance level with its required reaction time.
    """

    reaction_minutes: tuple[tuple[int, float], ...] = PLACEHOLDER_REACTION_MINUTES
    keybox_codes: tuple[str, ...] = ()
    follow_up_s: float = 86400.0

    def required_minutes(self, insurance: InsuranceSettings | None) -> float | None:
        """The account's required reaction time: its own, else its level's; None: none."""
        if insurance is None:
            return None
        if insurance.reaction_minutes is not None:
            return insurance.reaction_minutes
        return dict(self.reaction_minutes).get(insurance.level or -1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The whole configuration; ``source`` is the file it came from, ``unread_secrets`` the
    keys and passwords the load left unread, each with where it is and why."""

    source: Path
    receiver: ReceiverSettings = ReceiverSettings()
    journal: JournalSettings = JournalSettings()
    metrics: MetricsSettings = MetricsSettings()
    mqtt: MQTTSettings | None = None
    logging: LoggingSettings = LoggingSettings()
    accounts: tuple[AccountSettings, ...] = ()
    evidence: EvidenceSettings = EvidenceSettings()
    alarms: AlarmSettings = AlarmSettings()
    unread_secrets: tuple[Problem, ...] = ()
