"""The failover tests' own parts, proved on their own: a primary with a synchronous standby
(a commit waits for the standby, survives the primary's SIGKILL once the standby is
promoted, and a multi-host dsn finds the new primary), and the proxy that cuts a path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from tests.postgres import PASSWORD, STANDBY_NAME, Database, Replicated
from tests.proxy import Proxy

pytestmark = pytest.mark.integration

WAIT_S = 30.0


@pytest.fixture
def replicated() -> Iterator[Replicated]:
    pair = Replicated()
    yield pair
    pair.destroy()


def connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{dsn} password={PASSWORD} connect_timeout=5", autocommit=True)


def insert(dsn: str, values: range) -> None:
    with connect(dsn) as conn:
        for value in values:
            conn.execute("INSERT INTO acked (n) VALUES (%s)", (value,))


def stored(dsn: str) -> list[int]:
    with connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT n FROM acked ORDER BY n")]  # type: ignore[misc]


def table(replicated: Replicated) -> tuple[Database, str]:
    db = replicated.create_database()
    dsn = replicated.dsn(db)
    with connect(dsn) as conn:
        conn.execute("CREATE TABLE acked (n integer PRIMARY KEY)")
    return db, dsn


def test_a_commit_waits_for_the_synchronous_standby(replicated: Replicated) -> None:
    db, dsn = table(replicated)
    replicated.standby.stop()
    done = threading.Event()
    writer = threading.Thread(target=lambda: (insert(dsn, range(1, 2)), done.set()))
    writer.start()
    waiting = "SELECT datname FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
    wait_until(lambda: replicated.primary.psql("postgres", waiting).split() == [db.name])
    assert not done.is_set()  # the commit is held while no synchronous standby is there
    replicated.standby.start()
    writer.join(WAIT_S)
    assert done.is_set()
    assert stored(dsn) == [1]


def test_what_was_committed_survives_the_primary_s_death(replicated: Replicated) -> None:
    sync = "SELECT application_name, sync_state FROM pg_stat_replication"
    assert replicated.primary.psql("postgres", sync).split() == [f"{STANDBY_NAME}|sync"]
    _, dsn = table(replicated)
    insert(dsn, range(1, 501))
    replicated.fail_over()
    assert replicated.primary.postmaster_pid() is None
    assert stored(dsn) == list(range(1, 501))  # the dsn found the promoted standby
    insert(dsn, range(501, 502))  # and it takes writes
    with connect(dsn) as conn:
        assert conn.info.port == replicated.standby.port


def test_the_dsn_picks_the_read_write_server_whatever_the_order(replicated: Replicated) -> None:
    db, _ = table(replicated)
    standby_first = replicated.dsn(db, ports=(replicated.standby.port, replicated.primary.port))
    with connect(standby_first) as conn:
        assert conn.info.port == replicated.primary.port


def test_the_proxy_forwards_cuts_and_forwards_again(postgres: Database) -> None:
    with Proxy(postgres.port) as proxy:
        dsn = f"host=127.0.0.1 port={proxy.port} dbname={postgres.name} user=alarmrx"
        with connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert proxy.open_connections == 1
            proxy.block()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            connect(dsn)
        assert proxy.refused >= 1
        proxy.unblock()
        with connect(dsn) as conn:
            assert conn.execute("SELECT 2").fetchone() == (2,)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
