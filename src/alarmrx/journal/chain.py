"""Linking records onto the chain: encoding a new record, the head, the check made on open.

A record is encoded either where it is linked (``prepare`` of a ``NewRecord``) or beforehand,
in the process that made it (``encode_new``: a receiver worker, over ``ipc``), so that the one
writer only checks the receipt time and kind, hashes and stores (``prepare`` of an
``Encoded``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from alarmrx.journal.canonical import (
    GENESIS_HASH,
    canonical_body,
    canonical_tail,
    chain_hash,
    format_received_at,
    link_hash,
)
from alarmrx.journal.errors import InvalidRecordError, JournalCorruptError
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.journal.rows import SELECT_CONTENT, content_from_row


@dataclass(frozen=True, slots=True)
class Head:
    """The last chained record (``journal_seq`` 0 and the genesis hash when there is none)."""

    journal_seq: int
    hash: str
    received_at: str | None = None


EMPTY = Head(0, GENESIS_HASH)


def read_head(conn: sqlite3.Connection) -> Head:
    """The head as the ``chain_head`` table states it; read inside the write transaction."""
    row = conn.execute("SELECT journal_seq, hash FROM chain_head WHERE id = 1").fetchone()
    return EMPTY if row is None else Head(row[0], row[1])


def checked_head(conn: sqlite3.Connection) -> Head:
    """The head, after proving the last record matches ``chain_head`` and its own hash."""
    stated = read_head(conn)
    last = conn.execute(f"{SELECT_CONTENT} ORDER BY journal_seq DESC LIMIT 1").fetchone()
    return proven_head(stated, last)


def proven_head(stated: Head, last: tuple[Any, ...] | None) -> Head:
    """The head, after proving ``last`` (a ``SELECT_CONTENT`` row, or None when no record is
    stored) matches the ``stated`` head and its own hash. Shared by every backend."""
    if last is None:
        if stated != EMPTY:
            raise JournalCorruptError(f"chain head names record {stated.journal_seq}; none stored")
        return EMPTY
    if (last[0], last[11]) != (stated.journal_seq, stated.hash):
        raise JournalCorruptError(
            f"chain head names record {stated.journal_seq}, the last stored is {last[0]}"
        )
    if chain_hash(last[10], content_from_row(last)) != last[11]:
        raise JournalCorruptError(f"record {last[0]} does not match its hash")
    return Head(last[0], last[11], last[1])


class Encoded(msgspec.Struct, frozen=True, array_like=True):
    """A new record's fields as they will be stored (``Content`` without its place), and
    its de-duplication key."""

    received_at: str
    kind: str
    account: str | None
    peer: str | None
    transport: str | None
    reply: str | None
    priority: int
    body: str
    raw: bytes
    dedupe_key: bytes | None


def encode_new(record: NewRecord) -> Encoded:
    """``record`` encoded as it will be stored; ``InvalidRecordError`` as ``prepare`` says."""
    try:
        return Encoded(
            received_at=format_received_at(record.received_at),
            kind=_kind_value(record.kind),
            account=record.account,
            peer=record.peer,
            transport=record.transport,
            reply=record.reply,
            priority=int(record.priority),
            body=canonical_body(record.body),
            raw=bytes(record.raw),
            dedupe_key=record.dedupe_key,
        )
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"record cannot be stored: {err}") from err


# A kind's stored value, looked up by the member or its value: no enum built per record.
_KIND_VALUES = {kind.value: kind.value for kind in RecordKind}
_KINDS = frozenset(_KIND_VALUES)


def _kind_value(kind: str) -> str:
    try:
        return _KIND_VALUES[kind]
    except KeyError:
        raise ValueError(f"{kind!r} is not a valid RecordKind") from None


_STORED_TIME = len("2025-03-01T12:00:00.000000+00:00")  # format_received_at: fixed width


def _stored_time(text: str) -> datetime:
    """The receipt time of ``text`` if it is as ``format_received_at`` writes it."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidRecordError(f"record cannot be stored: {err}") from err
    if len(text) != _STORED_TIME or text[10] != "T" or not text.endswith("+00:00"):
        raise InvalidRecordError(f"record cannot be stored: received_at {text!r} is not UTC")
    return at


class Prepared(msgspec.Struct, frozen=True):
    """A new record encoded as it will be stored, waiting for its ``journal_seq``."""

    content: Encoded
    tail: bytes  # canonical_tail(content), encoded on the writer thread ahead of linking
    at: datetime
    key: bytes | None


def _prepare_encoded(record: Encoded) -> Prepared:
    at = _stored_time(record.received_at)
    if record.kind not in _KINDS:
        raise InvalidRecordError(f"record cannot be stored: kind {record.kind!r}")
    return Prepared(record, canonical_tail(record), at, record.dedupe_key)


def prepare(record: NewRecord | Encoded) -> Prepared:
    """Encode what the hash covers; ``InvalidRecordError`` for a body that is not JSON, …"""
    if isinstance(record, Encoded):
        return _prepare_encoded(record)
    encoded = encode_new(record)
    return Prepared(encoded, canonical_tail(encoded), record.received_at, encoded.dedupe_key)


def link(head: Head, prepared: Prepared) -> tuple[tuple[Any, ...], Head]:
    """The ``INSERT_RECORD`` values of ``prepared`` chained onto ``head``, and the new head."""
    row = link_row(head.hash, head.journal_seq + 1, prepared)
    return row, Head(row[0], row[11], row[1])


def link_row(prev_hash: str, journal_seq: int, prepared: Prepared) -> tuple[Any, ...]:
    """The ``INSERT_RECORD`` values of ``prepared`` as ``journal_seq``, chained onto the record
    whose hash is ``prev_hash``: ``link`` without building a ``Head`` for each record."""
    c = prepared.content
    return (
        journal_seq,
        c.received_at,
        c.kind,
        c.account,
        c.peer,
        c.transport,
        c.reply,
        c.priority,
        c.body,
        c.raw,
        prev_hash,
        link_hash(prev_hash, journal_seq, prepared.tail),
        prepared.key,
    )
