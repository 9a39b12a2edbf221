"""The journal in PostgreSQL: every node writes its own hash chain (docs/journal.md).

Needs the ``postgresql`` extra (psycopg 3). ``PostgresJournal`` has the interface of the
SQLite ``Journal``; ``migrate``, ``verify_chains`` and ``query`` serve the command line.
"""

from alarmrx.journal.postgres.journal import PostgresJournal

__all__ = ["PostgresJournal"]
