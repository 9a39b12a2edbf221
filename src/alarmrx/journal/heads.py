"""``ChainHead``: where one hash chain ends, as an anchor names it (docs/evidence.md), and
``body_heads``: the heads an ANCHOR record's body names.

The SQLite journal keeps one chain (``chain`` is None, ``head_seq`` a ``journal_seq``); the
PostgreSQL journal keeps one per node (``chain`` is the node's ``receiver.id``, ``head_seq``
a ``chain_seq``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a chain: its place in the chain and its hash."""

    chain: str | None
    head_seq: int
    head_hash: str


def body_heads(body: Mapping[str, Any], chain: str | None = None) -> tuple[ChainHead, ...] | None:
    """The heads an ANCHOR body names (a single-chain body: one head, of ``chain``); None
    when it names none."""
    listed = body.get("heads")
    if listed is None:
        single = _head(chain, body.get("head_seq"), body.get("head_hash"))
        return None if single is None else (single,)
    if not isinstance(listed, list) or not listed:
        return None
    heads = []
    for item in listed:
        named = item.get("chain") if isinstance(item, Mapping) else None
        head = _head(named, item.get("head_seq"), item.get("head_hash")) if named else None
        if head is None or not isinstance(named, str):
            return None
        heads.append(head)
    return tuple(heads)


def _head(chain: Any, seq: object, digest: object) -> ChainHead | None:
    if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(digest, str):
        return ChainHead(chain, seq, digest)
    return None
