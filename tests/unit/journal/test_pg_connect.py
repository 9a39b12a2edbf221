"""The connection string handed to libpq: the password added, defaults only where unset."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from alarmrx.journal.postgres.connect import DEFAULTS, conninfo, describe

DSN = "host=db1,db2 dbname=alarmrx user=alarmrx target_session_attrs=read-write"


def test_the_password_and_defaults_are_added() -> None:
    given = conninfo_to_dict(conninfo(DSN, password="s3 cr'et", application_name="alarmrx-rx1"))
    assert given["password"] == "s3 cr'et"  # quoted by libpq's rules, read back intact
    assert given["host"] == "db1,db2" and given["target_session_attrs"] == "read-write"
    assert given["application_name"] == "alarmrx-rx1"
    assert {k: given[k] for k in DEFAULTS} == {k: str(v) for k, v in DEFAULTS.items()}


def test_what_the_dsn_says_wins() -> None:
    given = conninfo_to_dict(conninfo(f"{DSN} connect_timeout=3 application_name=x"))
    assert (given["connect_timeout"], given["application_name"]) == ("3", "x")
    assert "password" not in given


def test_describe_names_hosts_and_database_only() -> None:
    assert describe(DSN) == "postgresql db1,db2/alarmrx"
