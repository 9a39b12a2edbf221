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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.evidence.anchor import heads_json
from alarmrx.evidence.html import render
from alarmrx.evidence.incidents import Incident, Parameters, incidents
from alarmrx.evidence.sealed import Sealed, entry, to_json
from alarmrx.evidence.source import AnchorAt, Snapshot, snapshot
from alarmrx.journal import bodies
from alarmrx.journal.bodies import AnchorBody
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.heads import anchor_heads

FORMAT = "alarmrx.evidence.v1"  # the SQLite journal: one chain
CHAINS_FORMAT = "alarmrx.evidence.v2"  # PostgreSQL: records of several chains
FORMATS = (FORMAT, CHAINS_FORMAT)
JSON_NAME, HTML_NAME, README_NAME = "evidence.json", "evidence.html", "README.txt"
# Opens a read-only snapshot of a journal (``source.snapshot``, ``source_pg.snapshot``).
Opener = Callable[[], AbstractContextManager[Snapshot]]


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


def export(journal: Path | Opener, request: Request, out: Path, *, now: datetime) -> Exported:
    """Write the bundle of ``request`` into directory ``out`` (created if missing); the
    journal is a SQLite file or an ``Opener`` (PostgreSQL)."""
    bundle, unanchored = build(journal, request, now=now)
    write(bundle, out)
    return Exported(len(bundle["alarms"]), len(bundle["records"]), unanchored)


def build(
    journal: Path | Opener, request: Request, *, now: datetime
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The ``evidence.json`` content, and the evidence records no anchor follows."""
    follow_up = timedelta(seconds=request.params.follow_up_s)
    opened = snapshot(journal) if isinstance(journal, Path) else journal()
    with opened as snap:
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
        used = _seqs(found)
        records, unanchored = _with_chains(snap, [s for s in own if s.journal_seq in used])
        chains = snap.chains
    bundle = {
        "format": CHAINS_FORMAT if chains else FORMAT,
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


def _seqs(found: list[Incident]) -> set[int]:
    return {seq for incident in found for seq in incident.seqs()}


def _with_chains(snap: Snapshot, evidence: list[Sealed]) -> tuple[list[Sealed], tuple[int, ...]]:
    """Each evidence record with its chain up to the head named by the first anchor naming
    a head at or after it in its chain, and that anchor's record (in one chain with it, the
    records up to the anchor record); ranges merged; and the records without an anchor."""
    if not evidence:
        return [], ()
    anchors = _by_chain(snap.anchors_from(evidence[0].journal_seq))
    ranges: dict[str | None, list[tuple[int, int]]] = {}
    unanchored = []
    for record in evidence:
        chain, seq = record.place
        found = _first_anchor(anchors.get(chain, []), seq)
        if found is None:
            ranges.setdefault(chain, []).append((seq, seq))
            unanchored.append(record.journal_seq)
            continue
        anchor, head = found
        last = max(head, anchor.seq) if anchor.chain == chain else head
        ranges.setdefault(chain, []).append((seq, last))
        ranges.setdefault(anchor.chain, []).append((anchor.seq, anchor.seq))
    records = [
        r
        for chain, spans in ranges.items()
        for first, last in merge_ranges(spans)
        for r in snap.between(chain, first, last)
    ]
    return sorted(records, key=lambda r: r.journal_seq), tuple(unanchored)


def _by_chain(anchors: list[AnchorAt]) -> dict[str | None, list[tuple[AnchorAt, int]]]:
    """For each chain, the anchors naming its head and that head, in ``journal_seq`` order."""
    found: dict[str | None, list[tuple[AnchorAt, int]]] = {}
    for anchor in anchors:
        for chain, head in anchor.heads.items():
            found.setdefault(chain, []).append((anchor, head))
    return found


def _first_anchor(anchors: list[tuple[AnchorAt, int]], seq: int) -> tuple[AnchorAt, int] | None:
    """The first anchor naming a head at or after ``seq`` (heads only grow)."""
    position = bisect.bisect_left([head for _, head in anchors], seq)
    return anchors[position] if position < len(anchors) else None


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or adjacent ranges joined."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def anchors_of(records: Sequence[Sealed]) -> list[dict[str, Any]]:
    """The anchors among ``records``, as ``evidence.json`` lists them: ``head_seq`` and
    ``head_hash`` from one chain, ``heads`` (each with its ``chain``) from several."""
    out = []
    for record in records:
        if record.content.kind == "anchor":
            body = bodies.anchor_of(json.loads(record.content.body))
            out.append(_single(record, body) if record.chain is None else _chains(record, body))
    return out


def _single(record: Sealed, body: AnchorBody) -> dict[str, Any]:
    return {
        "journal_seq": record.journal_seq,
        "head_seq": body.head_seq,
        "head_hash": body.head_hash,
        "at": body.at,
    }


def _chains(record: Sealed, body: AnchorBody) -> dict[str, Any]:
    chain, seq = record.place
    heads = anchor_heads(body, chain)
    return {
        "journal_seq": record.journal_seq,
        "chain": chain,
        "chain_seq": seq,
        "heads": None if heads is None else heads_json(heads),
        "at": body.at,
    }


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
    chains = bundle.get("format") == CHAINS_FORMAT
    line = _chains_anchor_line if chains else _anchor_line
    anchors = (
        "\n".join(line(a) for a in bundle["anchors"])
        or "  (none: no record of this bundle is anchored yet)"
    )
    return (README_CHAINS if chains else README).format(
        account=bundle["account"],
        since=bundle["since"],
        until=bundle["until"],
        alarms=len(bundle["alarms"]),
        records=len(bundle["records"]),
        anchors=anchors,
    )


def _anchor_line(a: dict[str, Any]) -> str:
    return (
        f"  record {a['journal_seq']}: head_seq {a['head_seq']}, head_hash {a['head_hash']}, "
        f"at {a['at']}"
    )


def _chains_anchor_line(a: dict[str, Any]) -> str:
    heads = "".join(
        f"\n    chain {h['chain']}: head_seq {h['head_seq']}, head_hash {h['head_hash']}"
        for h in a["heads"] or ()
    )
    place = f"record {a['journal_seq']} (chain {a['chain']} seq {a['chain_seq']})"
    return f"  {place}, at {a['at']}:{heads}"


_TITLE = """Alarm evidence for account {account}, {since} to {until}
{alarms} alarm(s); {records} journal records with their hash-chain proof.

"""
_FILES = """Files
  evidence.json  the alarms table, the anchors and every record it draws on, each record
                 with every stored field (raw as base64) and its prev_hash and hash
  evidence.html  the same for people: a table of the alarms and a timeline of each
  README.txt     this file

"""
_NOT_PROVEN = """Anchors in this bundle:
{anchors}

What this does not prove: that no other alarm happened (only what is included is
proven), and the required reaction time, which comes from the exporter's configuration.
"""
README = (
    _TITLE
    + _FILES
    + """Check it with alarmrx (needs neither the journal nor the configuration):
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

"""
    + _NOT_PROVEN
)
README_CHAINS = (
    _TITLE
    + """The journal keeps one hash chain per receiver node: each record names its chain and its
place in it (chain_seq); journal_seq orders the records of all chains and is what the
alarms table and the records' bodies refer to.

"""
    + _FILES
    + """Check it with alarmrx (needs neither the journal nor the configuration):
  alarmrx evidence verify DIR
It recomputes every record's hash, follows each record's chain to the head an anchor names,
recomputes the alarms table from the records, and renders evidence.html and this file again;
any changed byte fails and the message names the record or file.

Check it by hand:
1. For each record compute
     hash = SHA-256( bytes.fromhex(prev_hash) || canonical bytes )
   where the canonical bytes are these eleven fields, each written as 0x00 when null, or as
   0x01, its length (4 bytes, big-endian) and its bytes: the text "alarmrx.journal.v1",
   chain_seq (ASCII decimal), received_at, kind, account, peer, transport, reply,
   priority (ASCII decimal), body (the text as given, UTF-8) and raw (base64-decoded).
   The result, in lowercase hex, must equal the record's "hash", and the record of the same
   chain with the next chain_seq must name it as its "prev_hash" (docs/journal.md in alarmrx
   has a worked example).
2. Each record's chain runs to the head an anchor record (kind "anchor") names for that
   chain: the record of that chain with chain_seq head_seq must have the hash head_hash.
3. Compare each anchor with the copy published off the machine when it was made (MQTT
   topic <topic_root>/v1/receivers/<receiver id>/anchor, retained, and whatever archive
   keeps those messages). A head that left the machine before the dispute fixes every
   record of its chain before it.

"""
    + _NOT_PROVEN
)
