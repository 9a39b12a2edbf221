"""The configuration schema: every table, every key, its check and its one-line meaning.

This is the one place that knows the file's shape; ``docs/configuration.md`` is generated
from it (``alarmrx.config.reference``) and a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alarmrx.config import checks as c
from alarmrx.config.card_sections import CARD_OPTIONS
from alarmrx.config.model import (
    MQTT_DEFAULT_PORTS,
    AccountSettings,
    AlarmSettings,
    JournalSettings,
    LoggingSettings,
    MetricsSettings,
    MQTTSettings,
    ReceiverSettings,
    Settings,
    ZoneSettings,
)
from alarmrx.config.problems import Invalid, KeyPath, Reported
from alarmrx.config.rule_sections import RULE_OPTIONS, check_rule_owners, check_rules
from alarmrx.config.schedule_sections import EVIDENCE, SCHEDULE_OPTIONS
from alarmrx.config.schema import Check, Context, Option, Table
from alarmrx.config.secrets import (
    credential,
    in_file,
    inline,
    pick_secret,
    secret_given,
    secret_sources,
)
from alarmrx.protocols import parse_key

_TOPIC = r"[^#+/\s](?:[^#+\s]*[^#+/\s])?"
_TOPIC_HINT = "an MQTT topic without wildcards, spaces or a leading or trailing '/'"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

RECEIVER = Table(
    "receiver",
    ReceiverSettings,
    (
        Option(
            "id",
            c.string(r"[A-Za-z0-9_.-]{1,64}", "letters, digits, '_', '.', '-'"),
            "This receiver's name in MQTT topics (`receivers/{id}/status`) and logs.",
        ),
        Option(
            "listen",
            c.listen_addresses(),
            "Addresses served over both TCP and UDP; IPv6 as `[::1]:12128`.",
        ),
        Option(
            "unknown_accounts",
            c.choice("reject", "accept"),
            "`reject` answers frames from unlisted accounts with DUH; `accept` records "
            "and acknowledges them (plain frames only: there is no key).",
        ),
        Option("max_connections", c.integer(1), "Open TCP connections in total."),
        Option(
            "max_connections_per_ip",
            c.integer(0),
            "Open TCP connections per peer address; 0 = no bound per address (panels "
            "behind one NAT or relay share an address).",
        ),
        Option(
            "max_frame_bytes",
            c.integer(64, 65535),
            "Longest frame accepted; longer input is dropped and counted.",
        ),
        Option(
            "idle_timeout_s",
            c.number(positive=True),
            "Close a TCP connection silent this long; keep it above the link-test interval.",
        ),
        Option(
            "connection_rate",
            c.number(positive=True),
            "Frames per second allowed per TCP connection (UDP: per source address and port).",
        ),
        Option(
            "connection_burst",
            c.integer(1),
            "Frames a connection may send at once above `connection_rate`.",
        ),
        Option(
            "peer_rate",
            c.number(0),
            "Frames per second allowed per peer address, all its connections together; "
            "0 = no bound per address.",
        ),
        Option(
            "peer_burst", c.integer(1), "Frames a peer address may send at once above `peer_rate`."
        ),
        Option(
            "linger_s",
            c.number(0),
            "Keep a TCP connection open this long after a reply when the panel closes its "
            "side (Ajax reads the ACK only then); 0 = off.",
        ),
        Option(
            "nak_on_corrupt",
            c.boolean(),
            "NAK frames with a CRC, length or framing error, or longer than "
            "`max_frame_bytes`, instead of staying silent.",
        ),
        Option(
            "check_plain_timestamp",
            c.boolean(),
            "Apply the timestamp window to unencrypted frames that carry a timestamp too.",
        ),
        Option("ack_timestamp", c.boolean(), "Add the receiver's time to every ACK."),
        Option(
            "max_unknown_accounts",
            c.integer(1),
            "Distinct unknown accounts tracked and logged; more are counted only.",
        ),
        Option(
            "long_pad",
            c.boolean(),
            "Always pad encrypted ACKs with 16-31 bytes (DC-09-2026 style); otherwise a "
            "reply copies the panel's style (16-31 when its own pad was 16 or longer, "
            "else 1-16).",
        ),
        Option(
            "unrecognised_payload",
            c.choice("ack", "duh"),
            "An intact frame from a configured account whose token or data block is not "
            "understood: `ack` journals it raw, acknowledges it and raises "
            "`payload.unrecognised` for an operator; `duh` refuses it (the panel does not "
            "retry a DUH).",
        ),
        Option(
            "workers",
            c.integer(0, 256),
            "Receiver worker processes, each serving every address (`SO_REUSEPORT`); "
            "0 = one per CPU core but one (left to the journal writer and the consumers), "
            "at least one. The limits above apply per worker.",
        ),
    ),
    "The DC-09 listeners and their limits.",
)


def _dsn() -> Check:
    """A libpq connection string, parsed by libpq itself when the driver is installed."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        c.expect(value, str, 'a libpq connection string like "host=db1,db2 dbname=alarmrx"')
        try:
            from psycopg import ProgrammingError  # noqa: PLC0415 - the optional extra
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415
        except ImportError:
            return str(value)  # the builder says the extra is missing
        try:
            parsed = conninfo_to_dict(value)
        except ProgrammingError as err:
            raise Invalid(f"not a libpq connection string: {err}") from None
        if "password" in parsed:
            message = "keep the password out of the dsn: use password_file or password_credential"
            raise Invalid(message)
        return str(value)

    return Check('"host=… port=… dbname=… user=…"', convert)


def _build_journal(values: dict[str, Any], _ctx: Context) -> JournalSettings:
    password = pick_secret(values, "password")
    plain = {k: v for k, v in values.items() if k not in secret_sources("password")}
    settings = JournalSettings(password=password, **plain)
    if settings.backend != "postgresql":
        for name in ("dsn", "takeover_s", *secret_sources("password")):
            if name in values:
                raise Invalid('only for backend = "postgresql"', key=name)
        return settings
    if settings.dsn is None:
        raise Invalid('backend "postgresql" needs a dsn', key="backend")
    if importlib.util.find_spec("psycopg") is None:
        raise Invalid(
            "the PostgreSQL driver is not installed: pip install 'alarmrx[postgresql]'",
            key="backend",
        )
    return settings


JOURNAL = Table(
    "journal",
    JournalSettings,
    (
        Option(
            "backend",
            c.choice("sqlite", "postgresql"),
            "`sqlite`: one file on this machine; `postgresql`: a database several receiver "
            "nodes share (docs/deployment.md).",
        ),
        Option(
            "path",
            c.path(),
            "The SQLite journal file; relative to the config file. Its per-account index is "
            "kept beside it, `<path>-accounts` (docs/journal.md).",
        ),
        Option(
            "dsn",
            _dsn(),
            "PostgreSQL: a libpq connection string without the password, e.g. "
            "`host=db1,db2 dbname=alarmrx user=alarmrx target_session_attrs=read-write`.",
        ),
        Option(
            "password_file",
            in_file(),
            "PostgreSQL: file holding the password; must not be readable by group or others.",
        ),
        Option(
            "password_credential",
            credential(),
            "PostgreSQL: name of a systemd credential (`LoadCredential=`) holding the password.",
        ),
        Option(
            "fsync",
            c.boolean(),
            "SQLite: wait for the disk before acknowledging. Turn off only for tests. "
            "(PostgreSQL: the server's `synchronous_commit`, docs/deployment.md.)",
        ),
        Option(
            "retention_days", c.integer(42), "Days records are kept before pruning (at least 42)."
        ),
        Option(
            "reject_samples_per_minute",
            c.integer(0),
            "Rejected frames recorded per minute for diagnosis; 0 = none.",
        ),
        Option(
            "dedupe_window_s",
            c.number(0),
            "A retransmission within this time is recorded once and counted.",
        ),
        Option(
            "takeover_s",
            c.number(3),
            "PostgreSQL: at most this long after the node running the consumers (rules, "
            "MQTT) died or lost the database, another node runs them.",
        ),
    ),
    "The durable, hash-chained record of every event.",
    build=_build_journal,
)

METRICS = Table(
    "metrics",
    MetricsSettings,
    (
        Option(
            "listen",
            c.listen_or_off(),
            'Address for `/metrics`, `/healthz` and `/readyz`; `""` or `false` = off.',
        ),
    ),
    "The Prometheus and health endpoint.",
)


def _one_mqtt_url(value: Any) -> str:
    c.expect(value, str, 'a string like "mqtt://127.0.0.1:1883"')
    parts = urlsplit(value)
    if parts.scheme not in MQTT_DEFAULT_PORTS or not parts.hostname:
        raise Invalid(f"{value!r} is not mqtt://host:port or mqtts://host:port")
    if parts.username is not None or parts.path not in ("", "/"):
        raise Invalid("give only scheme, host and port; credentials have their own keys")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port when it is read
    except ValueError:
        raise Invalid(f"{value!r} has a bad port") from None
    return str(value)


def _mqtt_url() -> Check:
    """One broker URL, or an array of them (the nodes of a clustered broker, in turn)."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> str | tuple[str, ...]:
        if isinstance(value, str):
            return _one_mqtt_url(value)
        c.expect(value, list, 'a string like "mqtt://127.0.0.1:1883" or an array of them')
        if not value:
            raise Invalid("needs at least one broker URL")
        return tuple(c.each(value, ctx, path, _one_mqtt_url))

    return Check('"mqtt[s]://host:port" | ["mqtt[s]://host:port", …]', convert)


def _build_mqtt(values: dict[str, Any], _ctx: Context) -> MQTTSettings:
    password = pick_secret(values, "password")
    plain = {k: v for k, v in values.items() if k not in secret_sources("password")}
    settings = MQTTSettings(password=password, **plain)
    if secret_given(values, "password") and settings.username is None:
        given = next(source for source in secret_sources("password") if source in values)
        raise Invalid("a password needs a username", key=given)
    _check_tls(settings)
    return settings


def _check_tls(settings: MQTTSettings) -> None:
    tls_files = (settings.tls_ca, settings.tls_cert, settings.tls_key)
    if any(tls_files) and not settings.tls:
        raise Invalid("TLS files need an mqtts:// url", key="url")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise Invalid("a client certificate needs both tls_cert and tls_key", key="tls_cert")


MQTT = Table(
    "mqtt",
    MQTTSettings,
    (
        Option(
            "url",
            _mqtt_url(),
            "The broker, or a list of brokers tried in turn (the nodes of a clustered broker);"
            " `mqtts://` for TLS. Required in `[mqtt]`.",
        ),
        Option(
            "topic_root",
            c.string(_TOPIC, _TOPIC_HINT),
            "Prefix of every topic: `{topic_root}/v1/…`.",
        ),
        Option("client_id", c.string(), "MQTT client id; default: derived from `receiver.id`."),
        Option("username", c.string(), "Broker user name."),
        Option("password", inline(), "Broker password, inline (prefer the two below)."),
        Option(
            "password_file",
            in_file(),
            "File holding the password; must not be readable by group or others.",
        ),
        Option(
            "password_credential",
            credential(),
            "Name of a systemd credential (`LoadCredential=`) holding the password.",
        ),
        Option(
            "tls_ca",
            c.path(must_exist=True),
            "CA bundle to verify the broker; default: the system's CAs.",
        ),
        Option("tls_cert", c.path(must_exist=True), "Client certificate (PEM), with `tls_key`."),
        Option("tls_key", c.path(must_exist=True), "Client private key (PEM)."),
        Option("tls_insecure", c.boolean(), "Skip verifying the broker's host name. Tests only."),
        Option("keepalive_s", c.integer(1, 65535), "MQTT keep-alive interval."),
        Option("protocol", c.choice("3.1.1", "5"), "MQTT protocol version."),
        Option(
            "qos",
            c.integer(1, 2),
            "QoS of event messages; at least 1, since delivery is confirmed by the broker.",
        ),
        Option("ha_discovery", c.boolean(), "Publish Home Assistant discovery messages."),
        Option("ha_prefix", c.string(_TOPIC, _TOPIC_HINT), "Home Assistant discovery prefix."),
        Option(
            "publish_timeout_s",
            c.number(positive=True),
            "Reconnect when the broker does not acknowledge a message within this time.",
        ),
    ),
    "The broker events are published to; without `[mqtt]` they wait in the journal.",
    build=_build_mqtt,
)

LOGGING = Table(
    "logging",
    LoggingSettings,
    (
        Option("level", c.choice(*LOG_LEVELS), "Lowest level logged."),
        Option(
            "format",
            c.choice("auto", "json", "console"),
            "`auto`: JSON lines under systemd or when stderr is not a terminal.",
        ),
        Option(
            "events",
            c.boolean(),
            "One `message_committed` info line per accepted message (account, codes, "
            "sequence, reply, latency), and one `derived_recorded` info line per record the "
            "rules conclude (type, account, sequence, refs); `false` logs `message_committed` "
            "and the dispatch advice's `derived_recorded` (one per alarm) at debug level, while "
            "the rarer conclusions (supervision, verification, cards, test mode) stay info lines.",
        ),
    ),
    "Structured logs on stderr.",
)

ALARMS = Table(
    "alarms",
    AlarmSettings,
    (
        Option(
            "open_max_age_s",
            c.number(positive=True),
            "An open alarm that no restore, cancel, disarm or `close_alarm` closed is "
            "closed this long after its receipt, as `alarm.expired` (docs/mqtt.md).",
        ),
    ),
    'Open alarms in the account state (docs/mqtt.md, "Open alarms").',
)

ZONE = Table(
    "accounts.zones",
    ZoneSettings,
    (
        Option("zone", c.integer(0), "The zone number as the panel reports it."),
        Option("name", c.string(), "Its name, shown with its events."),
        Option(
            "neighbours",
            c.integers(0),
            "Zones next to it: an alarm in two neighbours within the window is verified.",
        ),
    ),
    "Named zones of an account and which are next to each other.",
)


def _build_account(values: dict[str, Any], _ctx: Context) -> AccountSettings:
    key = pick_secret(values, "key")
    plain = {k: v for k, v in values.items() if k not in secret_sources("key")}
    given = secret_given(values, "key")  # a key not read (secrets.UNREAD) is given all the same
    require = plain.pop("require_encryption", given)
    if require and not given:
        raise Invalid("needs a key (key, key_file or key_credential)", key="require_encryption")
    _check_zones(plain.get("zones", ()))
    check_rules(plain)
    return AccountSettings(key=key, require_encryption=require, **plain)


def _check_zones(zones: tuple[ZoneSettings, ...]) -> None:
    seen: set[int] = set()
    for index, zone in enumerate(zones):
        if zone.zone in seen:
            raise Invalid(f"zone {zone.zone} is listed twice", key=("zones", index, "zone"))
        if zone.zone in zone.neighbours:
            raise Invalid("a zone is not its own neighbour", key=("zones", index, "neighbours"))
        seen.add(zone.zone)


ACCOUNT = Table(
    "accounts",
    AccountSettings,
    (
        Option(
            "account",
            c.verbatim("account", 16),
            "The account (`#acct`) exactly as the panel sends it, in quotes.",
        ),
        Option(
            "receiver",
            c.verbatim("receiver", 6),
            "Match only frames with this receiver number (`R`); default: any.",
        ),
        Option(
            "line",
            c.verbatim("line", 6),
            "Match only frames with this line prefix (`L`); default: any.",
        ),
        Option(
            "key",
            inline(parse_key),
            "AES key: 32/48/64 hex digits or 16/24/32 characters. Prefer the two below.",
        ),
        Option(
            "key_file",
            in_file(parse_key),
            "File holding the key; must not be readable by group or others.",
        ),
        Option(
            "key_credential",
            credential(parse_key),
            "Name of a systemd credential (`LoadCredential=`) holding the key.",
        ),
        Option(
            "require_encryption",
            c.boolean(),
            "Refuse plain frames from this account (DUH).",
            "true with a key, else false",
        ),
        Option("clock_offset_s", c.number(), "Seconds added to the panel's timestamps."),
        Option(
            "timezone",
            c.timezone(),
            "IANA zone of a panel that sends local time; default: UTC as DC-09 says.",
        ),
        Option("window_past_s", c.number(0), "Accept timestamps this far in the past."),
        Option("window_future_s", c.number(0), "Accept timestamps this far in the future."),
        Option(
            "check_plain_timestamp",
            c.boolean(),
            "Overrides `receiver.check_plain_timestamp` for this account.",
        ),
        Option("name", c.string(), "A name for people: the site or subscriber."),
        Option("zones", c.tables(ZONE), "Named zones: `[[accounts.zones]]`."),
        *RULE_OPTIONS,
        *CARD_OPTIONS,
        *SCHEDULE_OPTIONS,
    ),
    "One served account; several entries may share an account under different `receiver`/`line`.",
    build=_build_account,
)


def _build_settings(values: dict[str, Any], ctx: Context) -> Settings:
    _check_duplicates(values.get("accounts", ()), ctx)
    check_rule_owners(values.get("accounts", ()), ctx)
    journal = values.pop("journal", JournalSettings())
    journal = dataclasses.replace(journal, path=(ctx.base_dir / journal.path).resolve())
    return Settings(source=Path(ctx.file).absolute(), journal=journal, **values)


def _check_duplicates(accounts: tuple[AccountSettings, ...], ctx: Context) -> None:
    first: dict[tuple[str, str | None, str | None], int] = {}
    duplicate = False
    for index, entry in enumerate(accounts):
        where = (entry.account, entry.receiver, entry.line)
        if where in first:
            message = f"same account, receiver and line as accounts[{first[where]}]"
            ctx.report(("accounts", index, "account"), message)
            duplicate = True
        first.setdefault(where, index)
    if duplicate:
        raise Reported


ROOT = Table(
    "",
    Settings,
    (
        Option("receiver", c.table(RECEIVER), RECEIVER.doc),
        Option("journal", c.table(JOURNAL), JOURNAL.doc),
        Option("metrics", c.table(METRICS), METRICS.doc),
        Option("mqtt", c.table(MQTT), MQTT.doc),
        Option("logging", c.table(LOGGING), LOGGING.doc),
        Option("accounts", c.tables(ACCOUNT), ACCOUNT.doc),
        Option("evidence", c.table(EVIDENCE), EVIDENCE.doc),
        Option("alarms", c.table(ALARMS), ALARMS.doc),
    ),
    "The whole file.",
    build=_build_settings,
)
