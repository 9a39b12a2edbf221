"""The per-account keys of the centre's rules (docs/rules.md): transmission paths,
supervision and verification. ``sections.ACCOUNT`` lists these tables; the checks that span
several keys of one account, or several entries of one account, live here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alarmrx.config import checks as c
from alarmrx.config.model import (
    AccountSettings,
    PathSettings,
    SupervisionSettings,
    VerificationSettings,
    ZoneSettings,
)
from alarmrx.config.problems import Invalid, Reported
from alarmrx.config.schema import Context, Option, Table

# EN 50136-1 ATS categories (docs/protocol.md, "EN 50136 reporting times"); the times are in
# ``alarmrx.rules.categories``. The DP ones need two paths.
CATEGORIES = ("SP1", "SP2", "SP3", "SP4", "SP5", "SP6", "DP1", "DP2", "DP3", "DP4")
MAX_WINDOW_S = 3600.0

PATH = Table(
    "accounts.paths",
    PathSettings,
    (
        Option(
            "name",
            c.string(r"[A-Za-z0-9_.-]{1,32}", "letters, digits, '_', '.', '-'"),
            "The path's name in supervision events (`ethernet`, `lte`).",
        ),
        Option(
            "receiver",
            c.verbatim("receiver", 6),
            "Frames with this receiver number (`R`) came over this path.",
        ),
        Option(
            "line", c.verbatim("line", 6), "Frames with this line prefix (`L`) came over this path."
        ),
        Option(
            "transport", c.choice("tcp", "udp"), "Frames over this transport came over this path."
        ),
        Option(
            "interval_s",
            c.number(positive=True),
            "This path's supervision interval; default: from `supervision.category` "
            "(first path primary, the others secondary), else `supervision.interval_s`.",
            "from the category",
        ),
    ),
    "The transmission paths of a dual-path account; a frame belongs to the first path "
    "whose given keys all match it, and a path giving none matches every frame.",
)

SUPERVISION = Table(
    "accounts.supervision",
    SupervisionSettings,
    (
        Option(
            "category",
            c.choice(*CATEGORIES),
            "EN 50136-1 category; its reporting time is the interval (SP3 30 min, DP2 "
            "30 min primary and 25 h secondary, …; docs/rules.md).",
        ),
        Option(
            "interval_s",
            c.number(positive=True),
            "The interval in seconds instead of (or overriding) the category.",
        ),
        Option(
            "grace_s", c.number(0), "Silence allowed beyond the interval before `supervision.lost`."
        ),
        Option(
            "reset_by",
            c.choice("any_frame", "test_reports"),
            "`any_frame`: every frame, link tests included, restarts the interval "
            "(DC-09); `test_reports`: only periodic test reports (Contact ID 602/608, "
            "SIA RP) do.",
        ),
    ),
    "Expect a frame from the account within every interval; a silent one raises "
    "`supervision.lost`, the next frame `supervision.restored`.",
)

VERIFICATION = Table(
    "accounts.verification",
    VerificationSettings,
    (
        Option(
            "window_s",
            c.number(positive=True),
            "Two burglary alarms this close verify each other (300 s NL, 600 s DK).",
        ),
        Option(
            "chains",
            c.integer_lists(0),
            "Zones in walking order, e.g. `[[1, 2, 3], [10, 11]]`: consecutive zones "
            "of a chain are neighbours (besides `zones.neighbours`).",
        ),
    ),
    "Two burglary alarms from different, neighbouring zones within the window raise "
    "`alarm.verified`.",
)

RULE_OPTIONS = (
    Option("paths", c.tables(PATH), "Transmission paths: `[[accounts.paths]]`."),
    Option("supervision", c.table(SUPERVISION), "Link supervision: `[accounts.supervision]`."),
    Option(
        "verification",
        c.table(VERIFICATION),
        "Alarm verification settings: `[accounts.verification]`.",
    ),
)


def check_rules(values: dict[str, Any]) -> None:
    """The checks spanning several keys of one ``[[accounts]]`` entry; ``Invalid`` names
    the key."""
    paths: tuple[PathSettings, ...] = values.get("paths", ())
    _check_paths(paths, values.get("supervision"))
    _check_verification(values.get("verification"), values.get("zones", ()))


def _check_paths(paths: tuple[PathSettings, ...], supervision: SupervisionSettings | None) -> None:
    names: set[str] = set()
    for index, path in enumerate(paths):
        if path.name in names:
            raise Invalid(f"path {path.name!r} is listed twice", key=("paths", index, "name"))
        if _matches_all(path) and index < len(paths) - 1:
            raise Invalid(
                "a path without receiver, line or transport matches every frame; list it last",
                key=("paths", index),
            )
        names.add(path.name)
    if supervision is None:
        if paths:
            raise Invalid(
                "paths are used by supervision: add [accounts.supervision]", key=("paths", 0)
            )
        return
    _check_supervision(supervision, paths)


def _matches_all(path: PathSettings) -> bool:
    return path.receiver is None and path.line is None and path.transport is None


def _check_supervision(supervision: SupervisionSettings, paths: Sequence[PathSettings]) -> None:
    every_path_timed = bool(paths) and all(p.interval_s is not None for p in paths)
    if supervision.category is None and supervision.interval_s is None and not every_path_timed:
        raise Invalid("needs a category or interval_s", key="supervision")
    if (supervision.category or "").startswith("DP") and len(paths) < 2:
        raise Invalid(
            "a dual-path category needs two [[accounts.paths]]", key=("supervision", "category")
        )


def _check_verification(
    verification: VerificationSettings | None, zones: tuple[ZoneSettings, ...]
) -> None:
    if verification is None:
        return
    if verification.window_s > MAX_WINDOW_S:
        raise Invalid(f"must be at most {MAX_WINDOW_S:.0f}", key=("verification", "window_s"))
    for index, chain in enumerate(verification.chains):
        if len(chain) < 2:
            raise Invalid("a chain needs two zones or more", key=("verification", "chains", index))
        if len(set(chain)) != len(chain):
            raise Invalid(
                "a zone appears twice in this chain", key=("verification", "chains", index)
            )
    if not verification.chains and not any(z.neighbours for z in zones):
        raise Invalid("needs chains, or zones with neighbours", key="verification")


def check_rule_owners(accounts: tuple[AccountSettings, ...], ctx: Context) -> None:
    """Several entries may share an account, but only one may set its rules."""
    found = [
        _second_owners(accounts, key, ctx)
        for key in ("supervision", "verification", "schedule", "insurance")
    ]
    if any(found):
        raise Reported


def _second_owners(accounts: tuple[AccountSettings, ...], key: str, ctx: Context) -> bool:
    first: dict[str, int] = {}
    found = False
    for index, entry in enumerate(accounts):
        if getattr(entry, key) is None:
            continue
        if entry.account in first:
            where = f"accounts[{first[entry.account]}]"
            ctx.report(("accounts", index, key), f"already set for this account in {where}")
            found = True
        first.setdefault(entry.account, index)
    return found
