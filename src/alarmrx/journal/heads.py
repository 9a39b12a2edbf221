"""``ChainHead``: where one hash chain ends, as an anchor names it (docs/evidence.md), and
``body_heads``/``anchor_heads``: the heads an ANCHOR record's body names, read through its
typed view (``bodies.AnchorBody``).

The SQLite journal keeps one chain (``chain`` is None, ``head_seq`` a ``journal_seq``); the
PostgreSQL journal keeps one per node (``chain`` is the node's ``receiver.id``, ``head_seq``
a ``chain_seq``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alarmrx.journal import bodies
from alarmrx.journal.bodies import AnchorBody


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a chain: its place in the chain and its hash."""

    chain: str | None
    head_seq: int
    head_hash: str


def body_heads(body: Mapping[str, Any], chain: str | None = None) -> tuple[ChainHead, ...] | None:
    """The heads an ANCHOR body names (a single-chain body: one head, of ``chain``); None
    when it names none."""
    return anchor_heads(bodies.anchor_of(body), chain)


def anchor_heads(body: AnchorBody, chain: str | None = None) -> tuple[ChainHead, ...] | None:
    """The heads a typed ANCHOR body names (a single-chain body: one head, of ``chain``);
    None when it names none, or when any of its ``heads`` lacks its chain, place or hash."""
    if body.heads is None:
        single = _head(chain, body.head_seq, body.head_hash)
        return None if single is None else (single,)
    heads = [_head(h.chain, h.head_seq, h.head_hash) if h.chain else None for h in body.heads]
    if not heads or None in heads:
        return None
    return tuple(h for h in heads if h is not None)


def _head(chain: str | None, seq: int | None, digest: str | None) -> ChainHead | None:
    if seq is None or digest is None:
        return None
    return ChainHead(chain, seq, digest)
