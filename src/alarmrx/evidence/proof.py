"""``alarmrx evidence verify DIR``: check a bundle without the journal or the configuration.

1. every record hashes to its ``hash`` (the journal's canonical encoding) and, within a run
   of consecutive records of one chain, names its predecessor's hash as ``prev_hash``;
2. every head an anchor record names has that hash, when its record is in the bundle, and
   the ``anchors`` list states exactly the anchor records;
3. the ``alarms`` table is what the records give (``incidents.py``, with the bundle's
   parameters), and every record it draws on is in the bundle;
4. ``evidence.html`` and ``README.txt`` are what ``evidence.json`` renders to.

Each record the table draws on is *anchored* when its run reaches the head an anchor record
names for its chain. A bundle of the SQLite journal (``alarmrx.evidence.v1``) has one chain
and places records by ``journal_seq``; one of PostgreSQL (``alarmrx.evidence.v2``) places
each record by its ``chain`` and ``chain_seq``. The first failure raises ``BundleError``
naming the record or file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from alarmrx.evidence.bundle import (
    CHAINS_FORMAT,
    FORMAT,
    FORMATS,
    HTML_NAME,
    JSON_NAME,
    README_NAME,
    anchors_of,
    readme,
)
from alarmrx.evidence.html import render
from alarmrx.evidence.incidents import Parameters, incidents
from alarmrx.evidence.sealed import BundleError, Sealed, entry, from_json
from alarmrx.journal.heads import body_heads


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
    if not isinstance(bundle, dict) or bundle.get("format") not in FORMATS:
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


Place = tuple[str | None, int]


def _records(bundle: Mapping[str, Any]) -> list[Sealed]:
    items = bundle["records"]
    if not isinstance(items, list):
        raise BundleError("records: not a list")
    chains = bundle["format"] == CHAINS_FORMAT
    records = [from_json(item, f"records[{i}]", chains=chains) for i, item in enumerate(items)]
    for previous, record in pairwise(records):
        if record.journal_seq <= previous.journal_seq:
            raise BundleError(
                f"record {record.journal_seq}: out of journal_seq order, or listed twice"
            )
    places: dict[Place, Sealed] = {}
    for record in records:
        if places.setdefault(record.place, record) is not record:
            raise BundleError(f"{record.name}: its chain place is listed twice")
    return records


def _check_chain(records: Sequence[Sealed]) -> None:
    previous: Sealed | None = None
    for record in sorted(records, key=lambda r: (r.chain or "", r.place[1])):
        if record.recomputed() != record.hash:
            raise BundleError(f"{record.name}: does not match its hash (a field was changed)")
        if (
            previous is not None
            and _follows(previous, record)
            and record.prev_hash != previous.hash
        ):
            raise BundleError(
                f"{record.name}: its prev_hash is not {previous.name}'s hash "
                "(one of them was rewritten)"
            )
        previous = record


def _follows(previous: Sealed, record: Sealed) -> bool:
    """``record`` is the next of ``previous``'s chain."""
    return previous.chain == record.chain and previous.place[1] == record.place[1] - 1


def _heads(record: Sealed) -> dict[str | None, int]:
    """The heads an anchor record names, by chain (none when its body names none)."""
    heads = body_heads(json.loads(record.content.body), record.chain)
    return {} if heads is None else {h.chain: h.head_seq for h in heads}


def _check_anchors(bundle: Mapping[str, Any], records: Sequence[Sealed]) -> None:
    by_place = {r.place: r for r in records}
    for anchor in (r for r in records if r.content.kind == "anchor"):
        stated = body_heads(json.loads(anchor.content.body), anchor.chain) or ()
        for head in stated:
            found = by_place.get((head.chain, head.head_seq))
            if found is not None and found.hash != head.head_hash:
                raise BundleError(f"{found.name}: anchor {anchor.name} names another hash for it")
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
    """Evidence record -> the first anchor record naming, for the record's chain, a head at
    or after it that the record's run reaches."""
    run_of: dict[Place, int] = {}
    run, previous = 0, None
    for record in sorted(records, key=lambda r: (r.chain or "", r.place[1])):
        if previous is None or not _follows(previous, record):
            run += 1
        run_of[record.place] = run
        previous = record
    anchors = [(r.journal_seq, _heads(r)) for r in records if r.content.kind == "anchor"]
    by_seq = {r.journal_seq: r for r in records}
    found: dict[int, int] = {}
    for seq in seqs:
        chain, place = by_seq[seq].place
        for anchor_seq, heads in anchors:
            head = heads.get(chain)
            if (
                head is not None
                and head >= place
                and run_of.get((chain, head)) == run_of[(chain, place)]
            ):
                found[seq] = anchor_seq
                break
    return found
