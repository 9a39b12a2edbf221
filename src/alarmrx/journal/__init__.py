"""The system of record: append-only, hash-chained, durable before the ACK (docs/journal.md).

``Journal`` serves the daemon (group-committed appends, tailing, cursors); ``verify_chain``,
``query`` and ``prune`` serve the command line and open the file on their own.
"""

from alarmrx.journal.canonical import (
    FORMAT_TAG,
    GENESIS_HASH,
    Content,
    canonical_body,
    canonical_bytes,
    chain_hash,
    format_received_at,
)
from alarmrx.journal.errors import (
    InvalidRecordError,
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalWriteError,
    PruneRefusedError,
)
from alarmrx.journal.journal import Journal
from alarmrx.journal.metrics import JournalMetrics
from alarmrx.journal.prune import DEFAULT_MIN_AGE, PruneReport, prune
from alarmrx.journal.query import escape_raw, query, record_json, unescape_raw
from alarmrx.journal.records import AppendResult, NewRecord, Record, RecordKind
from alarmrx.journal.verify import VerifyProblem, VerifyReport, verify_chain
from alarmrx.journal.writer import MAX_BATCH, WriterHooks

__all__ = [
    "Journal",
    "JournalMetrics",
    "WriterHooks",
    "MAX_BATCH",
    "AppendResult",
    "NewRecord",
    "Record",
    "RecordKind",
    "JournalError",
    "JournalWriteError",
    "JournalClosedError",
    "JournalCorruptError",
    "InvalidRecordError",
    "PruneRefusedError",
    "verify_chain",
    "VerifyReport",
    "VerifyProblem",
    "query",
    "record_json",
    "escape_raw",
    "unescape_raw",
    "prune",
    "PruneReport",
    "DEFAULT_MIN_AGE",
    "FORMAT_TAG",
    "GENESIS_HASH",
    "Content",
    "canonical_body",
    "canonical_bytes",
    "chain_hash",
    "format_received_at",
]
