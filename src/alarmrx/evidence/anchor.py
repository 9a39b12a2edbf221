"""Anchors: the journal's chain heads, recorded and published off the machine.

Every few minutes the daemon takes the chain head, appends an ANCHOR record naming it and
publishes the same body retained on ``{topic_root}/v1/receivers/{id}/anchor``. A copy that
left the machine before a dispute began fixes every record up to the head it names: an
evidence bundle carries the chain from each of its records up to the head of the first
anchor after it (``bundle.py``).

The SQLite journal keeps one chain; its ANCHOR body is ``{"head_seq", "head_hash", "at"}``.
The PostgreSQL journal keeps one chain per node; one ANCHOR record names the heads of all
of them, ``{"heads": [{"chain", "head_seq", "head_hash"}, …], "at"}``, ``head_seq`` being a
``chain_seq``. This module is the pure part; the daemon's timer (``anchorer.py``) and the
MQTT publication use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alarmrx.journal import bodies
from alarmrx.journal.bodies import AnchorBody
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.heads import ChainHead, anchor_heads
from alarmrx.journal.records import NewRecord, Record, RecordKind

ANCHOR_INTERVAL = timedelta(minutes=5)
PAYLOAD_SCHEMA = "alarmrx.anchor.v1"  # one chain: head_seq, head_hash
CHAINS_PAYLOAD_SCHEMA = "alarmrx.anchor.v2"  # several chains: heads


@dataclass(frozen=True, slots=True)
class Anchor:
    """The published heads; ``journal_seq`` is the ANCHOR record's own place (None before
    it is appended). A SQLite journal's anchor has one head, of chain None."""

    heads: tuple[ChainHead, ...]
    at: datetime
    journal_seq: int | None = None

    @property
    def single(self) -> ChainHead | None:
        """The one head of a single-chain (SQLite) anchor; None for several chains."""
        return self.heads[0] if len(self.heads) == 1 and self.heads[0].chain is None else None


def single_anchor(
    head_seq: int, head_hash: str, at: datetime, journal_seq: int | None = None
) -> Anchor:
    """The anchor of the SQLite journal's one chain."""
    return Anchor((ChainHead(None, head_seq, head_hash),), at, journal_seq)


def anchor_body(head_seq: int, head_hash: str, at: datetime) -> dict[str, Any]:
    """The single-chain ANCHOR body: ``{"head_seq", "head_hash", "at"}`` (``at`` in UTC)."""
    return {"head_seq": head_seq, "head_hash": head_hash, "at": format_received_at(at)}


def heads_json(heads: Sequence[ChainHead]) -> list[dict[str, Any]]:
    """Several chains' heads as an ANCHOR body, a payload and a bundle list them."""
    return [{"chain": h.chain, "head_seq": h.head_seq, "head_hash": h.head_hash} for h in heads]


def body_of(anchor: Anchor) -> dict[str, Any]:
    """The ANCHOR record's body: the single-chain form, or ``{"heads", "at"}``."""
    single = anchor.single
    if single is not None:
        return anchor_body(single.head_seq, single.head_hash, anchor.at)
    return {"heads": heads_json(anchor.heads), "at": format_received_at(anchor.at)}


def anchor_record(head_seq: int, head_hash: str, at: datetime) -> NewRecord:
    """The ANCHOR record to append for the single-chain head (``head_seq``, ``head_hash``)."""
    return record_of(single_anchor(head_seq, head_hash, at))


def record_of(anchor: Anchor) -> NewRecord:
    """The ANCHOR record to append for ``anchor``."""
    return NewRecord(kind=RecordKind.ANCHOR, received_at=anchor.at, body=body_of(anchor))


def anchor_due(
    last: Anchor | None,
    *,
    head_seq: int,
    now: datetime,
    interval: timedelta = ANCHOR_INTERVAL,
) -> bool:
    """True when the journal (``head_seq``, its ``last_seq``) moved past the last anchor
    record and the interval has passed since it."""
    if last is None:
        return head_seq > 0
    seen = last.journal_seq if last.journal_seq is not None else max(h.head_seq for h in last.heads)
    return head_seq > seen and now - last.at >= interval


def anchor_topic(topic_root: str, receiver_id: str) -> str:
    """``{topic_root}/v1/receivers/{receiver_id}/anchor`` (retained)."""
    return f"{topic_root}/v1/receivers/{receiver_id}/anchor"


def anchor_payload(anchor: Anchor, receiver_id: str) -> bytes:
    """The retained MQTT payload: the record's body plus where it is in the journal."""
    schema = PAYLOAD_SCHEMA if anchor.single is not None else CHAINS_PAYLOAD_SCHEMA
    body = {
        "schema": schema,
        "receiver_id": receiver_id,
        "journal_seq": anchor.journal_seq,
        **body_of(anchor),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def anchor_of(record: Record) -> Anchor | None:
    """The anchor an ANCHOR record states, with the chain it was read from; None for any
    other record."""
    typed = bodies.anchor(record)
    if typed is None:
        return None
    return typed_anchor(typed, record.journal_seq, record.chain)


def parse_anchor(
    body: Mapping[str, Any], journal_seq: int | None = None, chain: str | None = None
) -> Anchor | None:
    """The anchor an ANCHOR body states; None when it is not one. A single-chain body read
    from a PostgreSQL chain (a migrated SQLite journal's) names that ``chain``."""
    return typed_anchor(bodies.anchor_of(body), journal_seq, chain)


def typed_anchor(
    body: AnchorBody, journal_seq: int | None = None, chain: str | None = None
) -> Anchor | None:
    """``parse_anchor`` of a body's typed view (``Record.typed``)."""
    heads = anchor_heads(body, chain)
    if heads is None:
        return None
    try:
        moment = datetime.fromisoformat(str(body.at))
    except ValueError:
        return None
    return Anchor(heads, moment, journal_seq)
