"""What can go wrong with the journal, as one hierarchy the callers catch at ``JournalError``."""

from __future__ import annotations


class JournalError(Exception):
    """Base class: the journal could not do what was asked. The receiver does not ACK."""


class JournalWriteError(JournalError):
    """A commit failed (disk full, read-only file system, I/O error). Nothing of the batch was
    acknowledged as durable; the journal retries on the next append."""


class JournalClosedError(JournalError):
    """The journal was closed (or is closing) before the request could be served."""


class JournalCorruptError(JournalError):
    """The stored chain head does not match its records: the file was altered or damaged."""


class InvalidRecordError(JournalError, ValueError):
    """The record cannot be stored as given (naive ``received_at``, body not JSON-able)."""


class PruneRefusedError(JournalError):
    """Pruning was refused: too recent a cut-off, or a chain that does not verify."""
