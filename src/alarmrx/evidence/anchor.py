"""Anchors: the journal's chain head, recorded and published off the machine.

Every few minutes the daemon takes the chain head (``head_seq``, ``head_hash``), appends an
ANCHOR record whose body is ``{"head_seq", "head_hash", "at"}`` and publishes the same body
retained on ``{topic_root}/v1/receivers/{id}/anchor``. A copy that left the machine before a
dispute began fixes every record up to ``head_seq``: an evidence bundle carries the chain
from each of its records up to the first anchor after it (``bundle.py``).

This module is the pure part; the daemon's timer and MQTT publication use it::

    if anchor_due(last, head_seq=journal.last_seq, now=now):
        head = (await journal.read_after(journal.last_seq - 1, limit=1))[0]
        result = await journal.append(anchor_record(head.journal_seq, head.hash, now))
        last = Anchor(head.journal_seq, head.hash, now, result.journal_seq)
        payload = anchor_payload(last, receiver_id)      # retained, QoS 1
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alarmrx.journal import bodies
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.records import NewRecord, Record, RecordKind

ANCHOR_INTERVAL = timedelta(minutes=5)
PAYLOAD_SCHEMA = "alarmrx.anchor.v1"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A published head; ``journal_seq`` is the ANCHOR record's own place (None before it
    is appended)."""

    head_seq: int
    head_hash: str
    at: datetime
    journal_seq: int | None = None


def anchor_body(head_seq: int, head_hash: str, at: datetime) -> dict[str, Any]:
    """The ANCHOR record's body: ``{"head_seq", "head_hash", "at"}`` (``at`` in UTC)."""
    return {"head_seq": head_seq, "head_hash": head_hash, "at": format_received_at(at)}


def anchor_record(head_seq: int, head_hash: str, at: datetime) -> NewRecord:
    """The ANCHOR record to append for the head (``head_seq``, ``head_hash``) at ``at``."""
    return NewRecord(
        kind=RecordKind.ANCHOR, received_at=at, body=anchor_body(head_seq, head_hash, at)
    )


def anchor_due(
    last: Anchor | None,
    *,
    head_seq: int,
    now: datetime,
    interval: timedelta = ANCHOR_INTERVAL,
) -> bool:
    """True when the head moved past the last anchor (its own record aside) and the
    interval has passed since it."""
    if last is None:
        return head_seq > 0
    moved = head_seq > (last.journal_seq or last.head_seq)
    return moved and now - last.at >= interval


def anchor_topic(topic_root: str, receiver_id: str) -> str:
    """``{topic_root}/v1/receivers/{receiver_id}/anchor`` (retained)."""
    return f"{topic_root}/v1/receivers/{receiver_id}/anchor"


def anchor_payload(anchor: Anchor, receiver_id: str) -> bytes:
    """The retained MQTT payload: the record's body plus where it is in the journal."""
    body = {
        "schema": PAYLOAD_SCHEMA,
        "receiver_id": receiver_id,
        "journal_seq": anchor.journal_seq,
        **anchor_body(anchor.head_seq, anchor.head_hash, anchor.at),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def anchor_of(record: Record) -> Anchor | None:
    """The anchor an ANCHOR record states (its typed body); None for any other record."""
    body = bodies.anchor(record)
    if body is None or body.head_seq is None or body.head_hash is None or body.at is None:
        return None
    try:
        moment = datetime.fromisoformat(body.at)
    except ValueError:
        return None
    return Anchor(body.head_seq, body.head_hash, moment, record.journal_seq)


def parse_anchor(body: Mapping[str, Any], journal_seq: int | None = None) -> Anchor | None:
    """The anchor an ANCHOR body states; None when it is not one."""
    head_seq, head_hash, at = body.get("head_seq"), body.get("head_hash"), body.get("at")
    if not isinstance(head_seq, int) or not isinstance(head_hash, str):
        return None
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return None
    return Anchor(head_seq, head_hash, moment, journal_seq)
