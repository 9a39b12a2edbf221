"""The anchors checked against the chains: every head an ANCHOR record names must still be
stored with the hash it names (or be pruned).

An anchor record of one node names the heads of every chain, so each chain is also vouched
for by the records of the others: a chain rewritten consistently, hashes and head included,
still verifies on its own, but no longer matches the heads the anchors named for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from alarmrx.journal.heads import body_heads
from alarmrx.journal.postgres.schema import SCHEMA
from alarmrx.journal.records import RecordKind

Conn = psycopg.Connection[tuple[Any, ...]]

_ANCHORS = (
    f"SELECT journal_seq, chain, chain_seq, body FROM {SCHEMA}.records WHERE kind = %s "
    "ORDER BY journal_seq"
)
# The named heads whose record is stored with another hash, the lowest place first.
_DIFFERENT = (
    "SELECT n.chain, n.seq, n.anchor FROM unnest(%s::text[], %s::bigint[], %s::text[], "
    "%s::text[]) AS n (chain, seq, hash, anchor) "
    f"JOIN {SCHEMA}.records AS r ON r.chain = n.chain AND r.chain_seq = n.seq "
    "WHERE r.hash <> n.hash ORDER BY n.chain, n.seq"
)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A chain's first record whose hash differs from what an anchor named."""

    chain: str
    chain_seq: int
    detail: str


def anchor_mismatches(conn: Conn) -> dict[str, Mismatch]:
    """For each chain with one, the first record an anchor named with another hash."""
    named = list(_named_heads(conn.execute(_ANCHORS, (RecordKind.ANCHOR.value,))))
    if not named:
        return {}
    columns = [list(column) for column in zip(*named, strict=True)]
    found: dict[str, Mismatch] = {}
    for chain, seq, anchor in conn.execute(_DIFFERENT, columns):
        detail = (
            f"record {seq} has another hash than {anchor} names for it: the chain was rewritten"
        )
        found.setdefault(chain, Mismatch(chain, int(seq), detail))
    return found


def _named_heads(rows: Iterable[tuple[Any, ...]]) -> Iterable[tuple[str, int, str, str]]:
    """(chain, chain_seq, hash, which anchor) for every head every anchor names."""
    for journal_seq, chain, chain_seq, body in rows:
        try:
            heads = body_heads(json.loads(body), chain)
        except (ValueError, AttributeError):
            continue  # a malformed anchor body is no claim; its hash still verifies it
        anchor = f"anchor record {journal_seq} (chain {chain} seq {chain_seq})"
        for head in heads or ():
            if head.chain is not None:
                yield head.chain, head.head_seq, head.head_hash, anchor
