"""The connection string alarmrx hands to libpq: the configured ``dsn`` plus the password
(read from its file or credential, never written in the configuration) and defaults for what
the ``dsn`` leaves out."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

CONNECT_TIMEOUT_S = 10  # per host: a dead primary is passed over, not waited on for minutes
# A server that vanished (power, partition) is noticed within seconds, not the kernel's hours,
# so a batch waiting on it fails (no ACK) and the next one reconnects.
DEFAULTS: dict[str, str | int] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # milliseconds of unacknowledged data
}


def conninfo(dsn: str, *, password: str | None = None, application_name: str = "alarmrx") -> str:
    """``dsn`` with the password and, unless it names them, ``application_name`` and the
    ``DEFAULTS`` (timeouts and TCP keepalives)."""
    given = conninfo_to_dict(dsn)
    wanted = {"application_name": application_name, **DEFAULTS}
    extra = {name: value for name, value in wanted.items() if name not in given}
    if password is not None:
        extra["password"] = password
    return make_conninfo(dsn, **extra)


def describe(dsn: str) -> str:
    """The ``dsn`` for messages: hosts and database, never a password."""
    given = conninfo_to_dict(dsn)
    host = given.get("host") or given.get("hostaddr") or "localhost"
    return f"postgresql {host}/{given.get('dbname') or given.get('user') or '-'}"
