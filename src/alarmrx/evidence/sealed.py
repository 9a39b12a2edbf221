"""A journal record exactly as stored, with its place in the chain: what a bundle carries.

In the SQLite journal a record's place is its ``journal_seq``. In the PostgreSQL journal it is
its ``chain`` and ``chain_seq`` (what the hash covers), and ``journal_seq`` is the order across
chains that other records and the alarm table refer to.

Every hashed field is kept as the journal stores it (``received_at`` and ``body`` as text,
``raw`` as bytes), so its hash is recomputed with the journal's own canonical encoding
(``alarmrx.journal.canonical``) and nothing is re-encoded. In ``evidence.json`` ``raw`` is
base64 and every other field is the stored value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alarmrx.journal.canonical import Content, chain_hash


class BundleError(ValueError):
    """The bundle does not prove what it says; the message names the record or file."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """One stored record: its hashed content, the hash it follows and its own hash."""

    content: Content  # ``content.journal_seq`` is the place the hash covers
    prev_hash: str
    hash: str
    chain: str | None = None  # PostgreSQL: the chain (node) it belongs to
    order: int | None = None  # PostgreSQL: its ``journal_seq`` across chains

    @property
    def journal_seq(self) -> int:
        """Its ``journal_seq``: what other records and the alarm table call it."""
        return self.content.journal_seq if self.order is None else self.order

    @property
    def place(self) -> tuple[str | None, int]:
        """Its chain and its place in it (``chain_seq``; ``journal_seq`` in SQLite)."""
        return self.chain, self.content.journal_seq

    @property
    def name(self) -> str:
        """``record 7``, or ``record 7 (chain rx2 seq 3)`` for a PostgreSQL record."""
        if self.chain is None:
            return f"record {self.journal_seq}"
        return f"record {self.journal_seq} (chain {self.chain} seq {self.content.journal_seq})"

    def recomputed(self) -> str:
        """The hash its content gives after ``prev_hash`` (the journal's definition)."""
        return chain_hash(self.prev_hash, self.content)


@dataclass(frozen=True, slots=True)
class Entry:
    """A record's content parsed for reading: what the evidence is computed from."""

    sealed: Sealed
    received_at: datetime
    body: Mapping[str, Any]

    @property
    def journal_seq(self) -> int:
        """Its place in the chain."""
        return self.sealed.journal_seq

    @property
    def kind(self) -> str:
        """``message``, ``command``, ``derived``, ``anchor``, …."""
        return self.sealed.content.kind

    @property
    def account(self) -> str | None:
        """The account, verbatim."""
        return self.sealed.content.account


def entry(sealed: Sealed) -> Entry:
    """``sealed`` with its time and body parsed (``BundleError`` when they do not parse)."""
    try:
        body = json.loads(sealed.content.body)
        moment = datetime.fromisoformat(sealed.content.received_at)
    except ValueError as err:
        raise BundleError(f"record {sealed.journal_seq}: unreadable content: {err}") from None
    if not isinstance(body, dict):
        raise BundleError(f"record {sealed.journal_seq}: its body is not a JSON object")
    return Entry(sealed, moment, body)


def to_json(sealed: Sealed) -> dict[str, Any]:
    """The record as ``evidence.json`` holds it (with ``chain`` and ``chain_seq`` when it
    comes from a PostgreSQL chain)."""
    c = sealed.content
    place = {} if sealed.chain is None else {"chain": sealed.chain, "chain_seq": c.journal_seq}
    return {
        "journal_seq": sealed.journal_seq,
        **place,
        "received_at": c.received_at,
        "kind": c.kind,
        "account": c.account,
        "peer": c.peer,
        "transport": c.transport,
        "reply": c.reply,
        "priority": c.priority,
        "body": c.body,
        "raw_base64": base64.b64encode(c.raw).decode("ascii"),
        "prev_hash": sealed.prev_hash,
        "hash": sealed.hash,
    }


_TEXT = ("received_at", "kind", "body", "prev_hash", "hash", "raw_base64")
_OPTIONAL = ("account", "peer", "transport", "reply")


def from_json(item: object, where: str, *, chains: bool = False) -> Sealed:
    """A record back from ``evidence.json``; ``BundleError`` naming ``where`` if malformed.
    With ``chains`` (format v2) every record names its ``chain`` and ``chain_seq``."""
    if not isinstance(item, Mapping):
        raise BundleError(f"{where}: not a JSON object")
    name = f"record {item.get('journal_seq')}"
    _check_types(item, name)
    chain, order, seq = _place(item, name, chains=chains)
    try:
        raw = base64.b64decode(str(item["raw_base64"]), validate=True)
    except binascii.Error:
        raise BundleError(f"{name}: raw_base64 is not base64") from None
    content = Content(
        journal_seq=seq,
        received_at=item["received_at"],
        kind=item["kind"],
        account=item["account"],
        peer=item["peer"],
        transport=item["transport"],
        reply=item["reply"],
        priority=item["priority"],
        body=item["body"],
        raw=raw,
    )
    return Sealed(content, str(item["prev_hash"]), str(item["hash"]), chain, order)


def _place(
    item: Mapping[str, Any], name: str, *, chains: bool
) -> tuple[str | None, int | None, int]:
    """(chain, journal_seq across chains, the hashed place) of a v2 record; (None, None,
    journal_seq) of a v1 one."""
    if not chains:
        if "chain" in item or "chain_seq" in item:
            raise BundleError(f"{name}: chain and chain_seq belong in a bundle of several chains")
        return None, None, int(item["journal_seq"])
    chain, seq = item.get("chain"), item.get("chain_seq")
    if not isinstance(chain, str) or not chain:
        raise BundleError(f"{name}: chain must be text")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise BundleError(f"{name}: chain_seq must be an integer")
    return chain, int(item["journal_seq"]), seq


def _check_types(item: Mapping[str, Any], name: str) -> None:
    for key in ("journal_seq", "priority"):
        if not isinstance(item.get(key), int) or isinstance(item.get(key), bool):
            raise BundleError(f"{name}: {key} must be an integer")
    for key in _TEXT:
        if not isinstance(item.get(key), str):
            raise BundleError(f"{name}: {key} must be text")
    for key in _OPTIONAL:
        if key not in item or not isinstance(item[key], str | None):
            raise BundleError(f"{name}: {key} must be text or null")
    for key in ("prev_hash", "hash"):
        if len(item[key]) != 64 or set(item[key]) - set("0123456789abcdef"):
            raise BundleError(f"{name}: {key} must be 64 lowercase hex digits")
