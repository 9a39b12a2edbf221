"""``alarmrx evidence export``: one account's alarms of a period, with their proof, in DIR.

The bundle is three files:

- ``evidence.json``: ``format``, the account and period, the ``parameters`` the export was
  given (time zone, key-box codes, follow-up, insurance level, required reaction time), the
  ``alarms`` table (``incidents.py``), the ``anchors`` and the ``records``: every record the
  table draws on, each with the chain from it up to the first anchor after it (the ANCHOR
  record included), every field exactly as stored (``sealed.py``);
- ``evidence.html``: the same for people (``html.py``);
- ``README.txt``: how to check it, by hand or with ``alarmrx evidence verify DIR``.

A record no anchor follows yet is carried alone: its hash proves its content, but nothing
outside the machine vouches for that hash. Export again after the next anchor.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.evidence.html import render
from alarmrx.evidence.incidents import Incident, Parameters, incidents
from alarmrx.evidence.sealed import Sealed, entry, to_json
from alarmrx.evidence.source import Snapshot, snapshot
from alarmrx.journal.canonical import format_received_at

FORMAT = "alarmrx.evidence.v1"
JSON_NAME, HTML_NAME, README_NAME = "evidence.json", "evidence.html", "README.txt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What to export."""

    account: str
    since: datetime
    until: datetime
    params: Parameters
    receiver_id: str | None = None
    account_name: str | None = None


@dataclass(frozen=True, slots=True)
class Exported:
    """What ``export`` wrote: the alarms, the records carried and those not anchored."""

    alarms: int
    records: int
    unanchored: tuple[int, ...]


def export(journal: Path, request: Request, out: Path, *, now: datetime) -> Exported:
    """Write the bundle of ``request`` into directory ``out`` (created if missing)."""
    bundle, unanchored = build(journal, request, now=now)
    write(bundle, out)
    return Exported(len(bundle["alarms"]), len(bundle["records"]), unanchored)


def build(
    journal: Path, request: Request, *, now: datetime
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The ``evidence.json`` content, and the evidence records no anchor follows."""
    follow_up = timedelta(seconds=request.params.follow_up_s)
    with snapshot(journal) as snap:
        own = snap.account_records(
            request.account, request.since - follow_up, request.until + follow_up
        )
        found = incidents(
            [entry(s) for s in own],
            account=request.account,
            since=request.since,
            until=request.until,
            params=request.params,
        )
        records, unanchored = _with_chains(snap, _seqs(found))
    bundle = {
        "format": FORMAT,
        "account": request.account,
        "account_name": request.account_name,
        "receiver_id": request.receiver_id,
        "since": format_received_at(request.since),
        "until": format_received_at(request.until),
        "exported_at": format_received_at(now),
        "parameters": request.params.as_json(),
        "alarms": [i.as_json() for i in found],
        "anchors": anchors_of(records),
        "records": [to_json(r) for r in records],
    }
    return bundle, unanchored


def _seqs(found: list[Incident]) -> list[int]:
    return sorted({seq for incident in found for seq in incident.seqs()})


def _with_chains(snap: Snapshot, seqs: list[int]) -> tuple[list[Sealed], tuple[int, ...]]:
    """The records from each of ``seqs`` up to the first anchor naming a head at or after
    it (that anchor's record included), ranges merged; and the seqs without an anchor."""
    if not seqs:
        return [], ()
    anchors = snap.anchors_from(seqs[0])
    heads = [head for _, head in anchors]
    ranges, unanchored = [], []
    for seq in seqs:
        position = bisect.bisect_left(heads, seq)
        if position < len(anchors):
            ranges.append((seq, anchors[position][0]))
        else:
            ranges.append((seq, seq))
            unanchored.append(seq)
    return [r for first, last in merge_ranges(ranges) for r in snap.between(first, last)], tuple(
        unanchored
    )


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or adjacent ranges joined."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def anchors_of(records: list[Sealed]) -> list[dict[str, Any]]:
    """The anchors among ``records``, as ``evidence.json`` lists them."""
    out = []
    for record in records:
        if record.content.kind == "anchor":
            body = json.loads(record.content.body)
            out.append(
                {
                    "journal_seq": record.journal_seq,
                    "head_seq": body.get("head_seq"),
                    "head_hash": body.get("head_hash"),
                    "at": body.get("at"),
                }
            )
    return out


def dumps(bundle: dict[str, Any]) -> str:
    """``evidence.json``'s text: indented, keys in the order written, UTF-8."""
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"


def write(bundle: dict[str, Any], out: Path) -> None:
    """The three files."""
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_NAME).write_text(dumps(bundle), encoding="utf-8")
    (out / HTML_NAME).write_text(render(bundle), encoding="utf-8")
    (out / README_NAME).write_text(readme(bundle), encoding="utf-8")


def readme(bundle: dict[str, Any]) -> str:
    """``README.txt``: how to check the bundle, with its anchors."""
    anchors = (
        "\n".join(
            f"  record {a['journal_seq']}: head_seq {a['head_seq']}, head_hash {a['head_hash']}, "
            f"at {a['at']}"
            for a in bundle["anchors"]
        )
        or "  (none: no record of this bundle is anchored yet)"
    )
    return README.format(
        account=bundle["account"],
        since=bundle["since"],
        until=bundle["until"],
        alarms=len(bundle["alarms"]),
        records=len(bundle["records"]),
        anchors=anchors,
    )


README = """Alarm evidence for account {account}, {since} to {until}
{alarms} alarm(s); {records} journal records with their hash-chain proof.

Files
  evidence.json  the alarms table, the anchors and every record it draws on, each record
                 with every stored field (raw as base64) and its prev_hash and hash
  evidence.html  the same for people: a table of the alarms and a timeline of each
  README.txt     this file

Check it with alarmrx (needs neither the journal nor the configuration):
  alarmrx evidence verify DIR
It recomputes every record's hash, follows the chain from each record to its anchor,
recomputes the alarms table from the records, and renders evidence.html and this file again;
any changed byte fails and the message names the record or file.

Check it by hand:
1. For each record, in journal_seq order, compute
     hash = SHA-256( bytes.fromhex(prev_hash) || canonical bytes )
   where the canonical bytes are these eleven fields, each written as 0x00 when null, or as
   0x01, its length (4 bytes, big-endian) and its bytes: the text "alarmrx.journal.v1",
   journal_seq (ASCII decimal), received_at, kind, account, peer, transport, reply,
   priority (ASCII decimal), body (the text as given, UTF-8) and raw (base64-decoded).
   The result, in lowercase hex, must equal the record's "hash", and the next record's
   "prev_hash" must equal it (docs/journal.md in alarmrx has a worked example).
2. Each record's chain runs to an anchor record (kind "anchor"), whose body names a head:
   the record head_seq must have the hash head_hash.
3. Compare each anchor with the copy published off the machine when it was made (MQTT
   topic <topic_root>/v1/receivers/<receiver id>/anchor, retained, and whatever archive
   keeps those messages). A head that left the machine before the dispute fixes every
   record before it.

Anchors in this bundle:
{anchors}

What this does not prove: that no other alarm happened (only what is included is
proven), and the required reaction time, which comes from the exporter's configuration.
"""
