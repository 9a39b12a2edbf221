"""What the journal stores: the shapes the receiver, the rules, the publisher and the CLI share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec


class RecordKind(StrEnum):
    """Why a record exists."""

    MESSAGE = "message"  # an accepted panel frame (never a NULL link test)
    REJECTED = "rejected"  # a sampled rejected frame, for diagnosis
    DERIVED = "derived"  # an event concluded by a rule (supervision.lost, …)
    COMMAND = "command"  # an operator or user command, accepted or refused
    ANCHOR = "anchor"  # the chain head as published off the machine
    CHECKPOINT = "checkpoint"  # written by pruning: the chain continues from here


class NewRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record to append. ``body`` is JSON-able and holds the decoded content.

    For a MESSAGE, ``body`` has ``token``, ``encrypted``, ``sequence``, ``receiver``, ``line``,
    ``header_account``, ``data_account``, ``panel_time``, ``xdata``, ``events`` (list of
    dicts), ``quirks`` and ``clock`` (whether the system clock was synchronised).
    ``dedupe_key`` identifies a retransmission (account, sequence, decrypted content): the
    journal records it once and counts the repeats.
    """

    kind: RecordKind
    received_at: datetime
    account: str | None = None
    body: dict[str, Any] = msgspec.field(default_factory=dict)
    raw: bytes = b""
    peer: str | None = None
    transport: str | None = None
    reply: str | None = None
    priority: int = 5
    dedupe_key: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A stored record: what was appended, plus its place in the chain."""

    journal_seq: int
    kind: RecordKind
    received_at: datetime
    account: str | None
    body: dict[str, Any]
    raw: bytes
    peer: str | None
    transport: str | None
    reply: str | None
    priority: int
    hash: str
    prev_hash: str
    repeats: int = 0
    # PostgreSQL: the writing node's chain and the record's place in it (what ``hash`` covers)
    chain: str | None = None
    chain_seq: int | None = None
    # the typed view of ``body`` once read (``bodies.view``): not stored, not compared
    typed: Any = field(default=None, init=False, compare=False, repr=False)
    # the body's JSON text as stored, for a record read from a row (``rows.py``): ``body`` is
    # decoded from it on first use, and the typed view straight from it
    stored_body: str | None = field(default=None, init=False, compare=False, repr=False)

    if not TYPE_CHECKING:  # for mypy, ``Record`` has no attribute it does not declare

        def __getattr__(self, name: str) -> Any:
            """Only called for an attribute not set: ``body`` of a record read from a row,
            until it is first used."""
            if name != "body" or self.stored_body is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            body = msgspec.json.decode(self.stored_body)
            object.__setattr__(self, "body", body)
            return body


class AppendResult(msgspec.Struct, frozen=True, gc=False):
    """``duplicate`` is True when the record was a retransmission of ``journal_seq``.

    A Struct rather than a dataclass: the writer makes one for every record, and a frozen
    dataclass's ``__init__`` costs several times more; its encoding (a map of both fields)
    is the same."""

    journal_seq: int
    duplicate: bool = False
