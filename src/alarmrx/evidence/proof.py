"""``alarmrx evidence verify DIR``: check a bundle without the journal or the configuration.

1. every record hashes to its ``hash`` (the journal's canonical encoding) and, within a run
   of consecutive records, names its predecessor's hash as ``prev_hash``;
2. every anchor record's ``head_hash`` is the hash of its ``head_seq`` record, when that
   record is in the bundle, and the ``anchors`` list states exactly the anchor records;
3. the ``alarms`` table is what the records give (``incidents.py``, with the bundle's
   parameters), and every record it draws on is in the bundle;
4. ``evidence.html`` and ``README.txt`` are what ``evidence.json`` renders to.

Each record the table draws on is *anchored* when its run reaches an anchor naming a head at
or after it. The first failure raises ``BundleError`` naming the record or file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from alarmrx.evidence.bundle import FORMAT, HTML_NAME, JSON_NAME, README_NAME, anchors_of, readme
from alarmrx.evidence.html import render
from alarmrx.evidence.incidents import Parameters, incidents
from alarmrx.evidence.sealed import BundleError, Sealed, entry, from_json


@dataclass(frozen=True, slots=True)
class Proven:
    """A bundle that verified: its alarms, records, and which evidence is anchored where."""

    account: str
    alarms: int
    records: int
    anchored: Mapping[int, int]  # evidence record -> the anchor record it reaches
    unanchored: tuple[int, ...]
    anchors: tuple[Mapping[str, Any], ...]


def verify_bundle(directory: Path) -> Proven:
    """Check the bundle in ``directory``; ``BundleError`` for the first problem."""
    bundle = _load(directory / JSON_NAME)
    try:
        records = _records(bundle)
        _check_chain(records)
        _check_anchors(bundle, records)
        seqs = _check_alarms(bundle, records)
        _check_rendered(directory, bundle)
        anchored = _anchoring(records, seqs)
    except BundleError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError) as err:
        raise BundleError(f"{JSON_NAME}: malformed: {err!r}") from None
    return Proven(
        account=str(bundle["account"]),
        alarms=len(bundle["alarms"]),
        records=len(records),
        anchored=anchored,
        unanchored=tuple(s for s in seqs if s not in anchored),
        anchors=tuple(bundle["anchors"]),
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BundleError(f"{path.name}: cannot be read: {err.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path.name}: not valid JSON: {err}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"{path.name}: not an alarmrx evidence bundle ({FORMAT})")
    for key in (
        "account",
        "since",
        "until",
        "exported_at",
        "parameters",
        "alarms",
        "anchors",
        "records",
    ):
        if key not in bundle:
            raise BundleError(f"{path.name}: {key} is missing")
    return bundle


def _records(bundle: Mapping[str, Any]) -> list[Sealed]:
    items = bundle["records"]
    if not isinstance(items, list):
        raise BundleError("records: not a list")
    records = [from_json(item, f"records[{i}]") for i, item in enumerate(items)]
    for previous, record in pairwise(records):
        if record.journal_seq <= previous.journal_seq:
            raise BundleError(
                f"record {record.journal_seq}: out of journal_seq order, or listed twice"
            )
    return records


def _check_chain(records: Sequence[Sealed]) -> None:
    previous: Sealed | None = None
    for record in records:
        seq = record.journal_seq
        if record.recomputed() != record.hash:
            raise BundleError(f"record {seq}: does not match its hash (a field was changed)")
        linked = previous is not None and previous.journal_seq == seq - 1
        if linked and previous is not None and record.prev_hash != previous.hash:
            raise BundleError(
                f"record {seq}: its prev_hash is not record {seq - 1}'s hash "
                "(one of them was rewritten)"
            )
        previous = record


def _check_anchors(bundle: Mapping[str, Any], records: Sequence[Sealed]) -> None:
    by_seq = {r.journal_seq: r for r in records}
    for anchor in anchors_of(list(records)):
        head = by_seq.get(anchor["head_seq"])
        if head is not None and head.hash != anchor["head_hash"]:
            raise BundleError(
                f"record {head.journal_seq}: anchor record "
                f"{anchor['journal_seq']} names another hash for it"
            )
    if bundle["anchors"] != anchors_of(list(records)):
        raise BundleError("anchors: the list differs from the anchor records")


def _check_alarms(bundle: Mapping[str, Any], records: Sequence[Sealed]) -> list[int]:
    try:
        params = Parameters.from_json(bundle["parameters"])
        since = datetime.fromisoformat(str(bundle["since"]))
        until = datetime.fromisoformat(str(bundle["until"]))
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"parameters or period: malformed: {err}") from None
    found = incidents(
        [entry(r) for r in records],
        account=str(bundle["account"]),
        since=since,
        until=until,
        params=params,
    )
    stated = bundle["alarms"]
    if not isinstance(stated, list) or len(stated) != len(found):
        count = len(stated) if isinstance(stated, list) else "none"
        raise BundleError(
            f"alarms: the records give {len(found)} alarm(s), the table states {count}"
        )
    for position, (incident, row) in enumerate(zip(found, stated, strict=True)):
        if incident.as_json() != row:
            raise BundleError(
                f"alarms[{position}] (record {incident.journal_seq}): the table "
                "differs from what the records give"
            )
    return sorted({seq for incident in found for seq in incident.seqs()})


def _check_rendered(directory: Path, bundle: Mapping[str, Any]) -> None:
    for name, expected in ((HTML_NAME, render(bundle)), (README_NAME, readme(dict(bundle)))):
        try:
            text = (directory / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise BundleError(f"{name}: missing or unreadable") from None
        if text != expected:
            raise BundleError(f"{name}: differs from what {JSON_NAME} gives (it was edited)")


def _anchoring(records: Sequence[Sealed], seqs: Sequence[int]) -> dict[int, int]:
    """Evidence record -> the first anchor record its run reaches naming a head at or after
    it."""
    run_of: dict[int, int] = {}
    run = 0
    for previous, record in zip([None, *records], records, strict=False):
        if previous is None or record.journal_seq != previous.journal_seq + 1:
            run += 1
        run_of[record.journal_seq] = run
    anchors = [
        (r.journal_seq, json.loads(r.content.body).get("head_seq"))
        for r in records
        if r.content.kind == "anchor"
    ]
    found: dict[int, int] = {}
    for seq in seqs:
        for anchor_seq, head in anchors:
            same_run = run_of.get(anchor_seq) == run_of.get(seq)
            if anchor_seq > seq and same_run and isinstance(head, int) and head >= seq:
                found[seq] = anchor_seq
                break
    return found
