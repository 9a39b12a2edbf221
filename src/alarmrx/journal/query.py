r"""``query`` and ``record_json``: reading records out for people and scripts.

``raw`` is shown as text: printable ASCII (0x20-0x7E) as itself, except ``<`` and ``\``; LF
as ``<LF>``, CR as ``<CR>``; every other byte, ``<`` and ``\`` included, as ``<0xNN>`` (two
upper-case hex digits). ``unescape_raw`` reverses it exactly, and ``alarmrx decode`` reads it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from alarmrx.journal.accounts import Parts, attach, lookup
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.records import Record
from alarmrx.journal.rows import SELECT_RECORDS, iterate, record_from_row
from alarmrx.journal.schema import connect_reader

_NAMED = {0x0A: "<LF>", 0x0D: "<CR>"}
# `<` and `\` are escaped too, so the text pastes into `alarmrx decode`, which also reads
# `\n`/`\r` notation, as exactly the same bytes.
_LITERAL = frozenset(range(0x20, 0x7F)) - {0x3C, 0x5C}
_ESCAPED = [chr(b) if b in _LITERAL else _NAMED.get(b, f"<0x{b:02X}>") for b in range(256)]
_NOTATION = re.compile(r"<LF>|<CR>|<0x([0-9A-F]{2})>")


def query(
    path: Path,
    *,
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Record]:
    """Records of ``account`` received in ``[since, until)``, in ``journal_seq`` order.

    Opens the journal read-only at once (so a missing file raises here) and streams. An
    account's records are found through the index beside the journal (``accounts.py``).
    """
    bounds = [
        (op, format_received_at(moment))
        for op, moment in ((">=", since), ("<", until))
        if moment is not None
    ]
    conn = connect_reader(path)
    indexed = None if account is None else attach(conn, path)
    return _stream(conn, lookup(account, bounds, indexed))


def _stream(conn: sqlite3.Connection, parts: Parts) -> Iterator[Record]:
    try:
        for where, params in parts:
            rows = conn.execute(f"{SELECT_RECORDS} WHERE {where} ORDER BY r.journal_seq", params)
            for row in iterate(rows):
                yield record_from_row(row)
    finally:
        conn.close()


def record_json(record: Record) -> dict[str, Any]:
    """One line of ``alarmrx journal query`` (docs/journal.md, "Query output"); with
    PostgreSQL also ``chain`` and ``chain_seq``."""
    body = record.body
    line = {
        "journal_seq": record.journal_seq,
        "received_at": format_received_at(record.received_at),
        "kind": record.kind.value,
        "account": record.account,
        "sequence": body.get("sequence"),
        "token": body.get("token"),
        "events": body.get("events", []),
        "test": bool(body.get("test", False)),
        "raw": escape_raw(record.raw),
        "peer": record.peer,
        "transport": record.transport,
        "reply": record.reply,
        "priority": record.priority,
        "repeats": record.repeats,
        "body": body,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
    if record.chain is not None:
        line |= {"chain": record.chain, "chain_seq": record.chain_seq}
    return line


def escape_raw(raw: bytes) -> str:
    """The frame as text, non-printables in ``<LF>``/``<CR>``/``<0xNN>`` notation."""
    return "".join([_ESCAPED[b] for b in raw])


def unescape_raw(text: str) -> bytes:
    """The exact bytes back from ``escape_raw``'s text."""
    return _NOTATION.sub(_byte_of, text).encode("latin-1")


def _byte_of(match: re.Match[str]) -> str:
    hex_digits = match.group(1)
    return chr(int(hex_digits, 16)) if hex_digits else {"<LF>": "\n", "<CR>": "\r"}[match[0]]
