"""The PostgreSQL schema: versioned migrations, applied in order by ``alarmrx journal migrate``.

Everything lives in the schema ``alarmrx``. ``records`` holds every chain: ``chain`` is the
writing node's ``receiver.id``, ``chain_seq`` the record's place in that chain (what its hash
covers, where the SQLite journal has ``journal_seq``), and ``journal_seq`` a global order
across chains, taken from one sequence. ``dedupe_keys`` holds one row per retransmission key,
unique across chains: the row a second node's insert runs into (docs/journal.md,
"PostgreSQL"). ``link_tests`` and ``shared_state`` carry what the nodes' processes share
outside the chains (``links.py``).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, Connection

from alarmrx.journal.errors import JournalError

SCHEMA = "alarmrx"
SEQUENCE = f"{SCHEMA}.journal_seq_order"

# Version n is reached by running MIGRATIONS[n - 1]; never edit a released step, add one.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE {SCHEMA}.records (
        journal_seq bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME {SEQUENCE}) PRIMARY KEY,
        chain text NOT NULL,
        chain_seq bigint NOT NULL,
        received_at text NOT NULL,
        kind text NOT NULL,
        account text,
        peer text,
        transport text,
        reply text,
        priority integer NOT NULL,
        body text NOT NULL,
        raw bytea NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        dedupe_key bytea,
        UNIQUE (chain, chain_seq)
    );
    CREATE INDEX records_received_at ON {SCHEMA}.records (received_at);
    CREATE INDEX records_account ON {SCHEMA}.records (account, received_at);
    CREATE INDEX records_dedupe_key ON {SCHEMA}.records (dedupe_key)
        WHERE dedupe_key IS NOT NULL;
    CREATE TABLE {SCHEMA}.chain_heads (
        chain text PRIMARY KEY,
        chain_seq bigint NOT NULL,
        hash text NOT NULL
    );
    CREATE TABLE {SCHEMA}.dedupe_keys (
        key bytea PRIMARY KEY,
        received_at timestamptz NOT NULL
    );
    CREATE TABLE {SCHEMA}.repeats (
        journal_seq bigint PRIMARY KEY,
        count integer NOT NULL,
        last_received_at text NOT NULL
    );
    CREATE TABLE {SCHEMA}.cursors (
        name text PRIMARY KEY,
        journal_seq bigint NOT NULL
    );
    """,
    # 2: what the nodes share besides records (docs/journal.md, "Several nodes"): the last
    # link test of each account and path, and the state the active consumers hand to every
    # node's workers (the accounts in test mode).
    f"""
    CREATE TABLE {SCHEMA}.link_tests (
        account text NOT NULL,
        receiver text NOT NULL,
        line text NOT NULL,
        transport text NOT NULL,
        node text NOT NULL,
        peer text NOT NULL,
        heard_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (account, receiver, line, transport)
    );
    CREATE INDEX link_tests_updated_at ON {SCHEMA}.link_tests (updated_at);
    CREATE TABLE {SCHEMA}.shared_state (
        name text PRIMARY KEY,
        value bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_VERSIONS = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_versions (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_CURRENT = f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_versions"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('alarmrx.journal.migrate'))"
_EXISTS = "SELECT to_regclass(%s) IS NOT NULL"


def migrate(conn: Connection[tuple[Any, ...]]) -> tuple[int, int]:
    """Bring the schema to ``SCHEMA_VERSION`` in one transaction; ``(before, after)``.

    Concurrent migrations wait for each other (an advisory lock); a newer schema is refused.
    """
    with conn.transaction():
        conn.execute(_LOCK)
        conn.execute(_VERSIONS)
        row = conn.execute(_CURRENT).fetchone()
        before = int(row[0]) if row else 0
        _refuse_newer(before)
        for version in range(before + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute(f"INSERT INTO {SCHEMA}.schema_versions (version) VALUES (%s)", (version,))
    return before, SCHEMA_VERSION


async def check_version(conn: AsyncConnection[tuple[Any, ...]]) -> None:
    """Refuse a database whose schema is missing or of another version."""
    cur = await conn.execute(_EXISTS, (f"{SCHEMA}.schema_versions",))
    row = await cur.fetchone()
    if not row or not row[0]:
        raise JournalError("no alarmrx journal in this database: run `alarmrx journal migrate`")
    cur = await conn.execute(_CURRENT)
    row = await cur.fetchone()
    _check(int(row[0]) if row else 0)


def check_version_sync(conn: Connection[tuple[Any, ...]]) -> None:
    """``check_version`` for the command line's blocking connections."""
    row = conn.execute(_EXISTS, (f"{SCHEMA}.schema_versions",)).fetchone()
    if not row or not row[0]:
        raise JournalError("no alarmrx journal in this database: run `alarmrx journal migrate`")
    row = conn.execute(_CURRENT).fetchone()
    _check(int(row[0]) if row else 0)


def _check(version: int) -> None:
    _refuse_newer(version)
    if version < SCHEMA_VERSION:
        raise JournalError(
            f"journal schema version {version}, this alarmrx needs {SCHEMA_VERSION}: "
            "run `alarmrx journal migrate`"
        )


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"journal schema version {version}; this alarmrx knows up to {SCHEMA_VERSION}"
        )
