"""The connection string alarmrx hands to libpq: the configured ``dsn`` plus the password
(read from its file or credential, never written in the configuration) and defaults for what
the ``dsn`` leaves out."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

CONNECT_TIMEOUT_S = 10  # per host: a dead primary is passed over, not waited on for minutes


def conninfo(dsn: str, *, password: str | None = None, application_name: str = "alarmrx") -> str:
    """``dsn`` with the password and, unless it names them, ``application_name`` and
    ``connect_timeout``."""
    given = conninfo_to_dict(dsn)
    extra: dict[str, str | int] = {}
    if password is not None:
        extra["password"] = password
    if "application_name" not in given:
        extra["application_name"] = application_name
    if "connect_timeout" not in given:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    return make_conninfo(dsn, **extra)


def describe(dsn: str) -> str:
    """The ``dsn`` for messages: hosts and database, never a password."""
    given = conninfo_to_dict(dsn)
    host = given.get("host") or given.get("hostaddr") or "localhost"
    return f"postgresql {host}/{given.get('dbname') or given.get('user') or '-'}"
