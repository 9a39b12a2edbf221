"""``alarmrx evidence export|verify`` (docs/evidence.md):

- ``export --config FILE --account A --since T --until T --out DIR`` writes the bundle
  (``evidence.json``, ``evidence.html``, ``README.txt``) from the SQLite journal or, with
  ``[journal] backend = "postgresql"``, from every chain of the PostgreSQL one; exit 0, and
  a warning naming the records no anchor follows yet and how to anchor them
  (``alarmrx anchor``);
- ``verify DIR`` checks a bundle without the journal or the configuration: exit 0 when it is
  intact and every record is anchored, 3 when intact but some are not anchored, 1 when it
  was altered (the message names the record or file).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alarmrx.commands import CommandError, add_command
from alarmrx.commands.report import account_timezone, load, period_arguments

EX_UNANCHORED = 3


def register(sub: Any) -> None:
    """Add ``evidence`` and its two actions."""
    parser = add_command(sub, "evidence")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write an account's evidence bundle to DIR")
    period_arguments(export)
    export.add_argument("--out", required=True, type=Path, metavar="DIR")
    export.set_defaults(handler=run_export)
    verify = actions.add_parser("verify", help="check a bundle (no journal or config needed)")
    verify.add_argument("directory", type=Path, metavar="DIR")
    verify.set_defaults(handler=run_verify)


def run_export(args: argparse.Namespace) -> int:
    """Write the bundle; one summary line."""
    from alarmrx.evidence import Request, export  # noqa: PLC0415 - keeps --help light
    from alarmrx.journal import JournalError  # noqa: PLC0415

    settings = load(args.config)
    request = Request(
        account=args.account,
        since=args.since,
        until=args.until,
        params=parameters(settings, args.account),
        receiver_id=settings.receiver.id,
        account_name=_name(settings, args.account),
    )
    if settings.journal.backend == "postgresql":
        from alarmrx.commands.evidence_pg import export_pg  # noqa: PLC0415 - optional extra

        done = export_pg(settings, request, args.out, now=datetime.now(UTC))
    else:
        try:
            done = export(settings.journal.path, request, args.out, now=datetime.now(UTC))
        except (JournalError, sqlite3.Error, OSError) as err:
            raise CommandError(str(err)) from None
    print(f"evidence written to {args.out}: {done.alarms} alarm(s), {done.records} records")
    if done.unanchored:
        print(unanchored_warning(done.unanchored, args.config), file=sys.stderr)
    return 0


def unanchored_warning(seqs: Sequence[int], config: Path) -> str:
    """What to do when records of a bundle are not anchored yet."""
    listed = ", ".join(map(str, seqs))
    return (
        f"warning: not anchored yet: record(s) {listed}; `evidence verify` will exit 3 "
        f"until they are. The daemon anchors every 5 minutes; to anchor now run "
        f"`alarmrx anchor --config {config}`, then export again"
    )


def parameters(settings: Any, account: str) -> Any:
    """The export parameters of ``account`` from the configuration."""
    from alarmrx.evidence import Parameters  # noqa: PLC0415

    entry = next((e for e in settings.accounts if e.account == account and e.insurance), None)
    evidence = settings.evidence
    return Parameters(
        timezone=account_timezone(settings, account),
        keybox_codes=evidence.keybox_codes,
        follow_up_s=evidence.follow_up_s,
        insurance_level=entry.insurance.level if entry else None,
        required_minutes=evidence.required_minutes(entry.insurance if entry else None),
    )


def _name(settings: Any, account: str) -> str | None:
    return next((e.name for e in settings.accounts if e.account == account and e.name), None)


def anchor_line(anchor: Mapping[str, Any]) -> str:
    """``anchor record N: head_seq S head_hash H at T``; with several chains, the record's
    chain and place and each chain's head."""
    if "heads" not in anchor:
        return (
            f"anchor record {anchor['journal_seq']}: head_seq {anchor['head_seq']} "
            f"head_hash {anchor['head_hash']} at {anchor['at']}"
        )
    place = f"(chain {anchor['chain']} seq {anchor['chain_seq']})"
    heads = heads_text(anchor["heads"] or ())
    return f"anchor record {anchor['journal_seq']} {place}: {heads} at {anchor['at']}"


def heads_text(heads: Sequence[Mapping[str, Any]]) -> str:
    """``chain rx1 head_seq S head_hash H, chain rx2 …``."""
    return ", ".join(
        f"chain {h['chain']} head_seq {h['head_seq']} head_hash {h['head_hash']}" for h in heads
    )


def run_verify(args: argparse.Namespace) -> int:
    """Check the bundle; a summary, one line per anchor to compare."""
    from alarmrx.evidence import BundleError, verify_bundle  # noqa: PLC0415

    try:
        proven = verify_bundle(args.directory)
    except BundleError as err:
        print(f"evidence BAD: {err}")
        return 1
    for anchor in proven.anchors:
        print(f"{anchor_line(anchor)}: compare with the published copy")
    summary = (
        f"account {proven.account}, {proven.alarms} alarm(s), {proven.records} "
        "records, every hash and link checked"
    )
    if proven.unanchored:
        seqs = ", ".join(map(str, proven.unanchored))
        print(f"evidence UNANCHORED: {summary}; no anchor vouches for record(s) {seqs}")
        return EX_UNANCHORED
    print(f"evidence ok: {summary}; every record reaches an anchor")
    return 0
