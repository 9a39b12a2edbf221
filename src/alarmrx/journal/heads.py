"""``ChainHead``: where one hash chain ends, as an anchor names it (docs/evidence.md).

The SQLite journal keeps one chain (``chain`` is None, ``head_seq`` a ``journal_seq``); the
PostgreSQL journal keeps one per node (``chain`` is the node's ``receiver.id``, ``head_seq``
a ``chain_seq``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class ChainHead:
    """The last record of a chain: its place in the chain and its hash."""

    chain: str | None
    head_seq: int
    head_hash: str
