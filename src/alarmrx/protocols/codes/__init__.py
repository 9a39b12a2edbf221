"""The SIA DCS (DC-03) and Contact ID (DC-05) code tables, loaded once from the CSV files.

Sources: docs/protocol.md, "Event code tables" (DC-03-2017 and DC-05-2016 tables via the
siadc09 package, plus Ajax vendor codes from pysiaalarm).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Literal

AddressKind = Literal["zone", "user", "area", "other", "none"]

_ADDRESS_RE = re.compile(r"\[(?:address|CCC) = ([^\]]+)\]")


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One row of a code table: what the code means and what its address denotes."""

    code: str
    description: str
    category: str
    address: AddressKind


def _address_kind(description: str) -> AddressKind:
    match = _ADDRESS_RE.search(description)
    if match is None:
        return "none"
    word = match.group(1).lower()
    if word.startswith("zone") or word == "point":
        return "zone"
    if word == "user":
        return "user"
    if word.startswith("area"):
        return "area"
    return "other"


def _short(description: str) -> str:
    """The name part: text before the first ' - ' or '[' ."""
    return _ADDRESS_RE.sub("", description.split(" - ", 1)[0]).strip()


def _load(name: str) -> MappingProxyType[str, CodeInfo]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text, newline=""))
    table = {
        row["code"].strip(): CodeInfo(
            code=row["code"].strip(),
            description=_short(row["description"]),
            category=row["category"].strip(),
            address=_address_kind(row["description"]),
        )
        for row in rows
    }
    return MappingProxyType(table)


SIA_CODES = _load("sia_dcs_codes.csv")
CONTACT_ID_CODES = _load("contact_id_codes.csv")
