"""From a code table's category and the event's direction to one normalised ``Category``."""

from __future__ import annotations

from types import MappingProxyType

from alarmrx.protocols.dc09.message import Category

# Table category (both CSVs) -> normalised category for a new event.
TABLE_CATEGORY = MappingProxyType(
    {
        "alarm": Category.ALARM,
        "restore": Category.RESTORE,
        "trouble": Category.TROUBLE,
        "supervisory": Category.SUPERVISORY,
        "bypass": Category.BYPASS,
        "bypass_disable": Category.BYPASS,
        "test": Category.TEST,
        "access_control": Category.ACCESS,
        "remote_access": Category.ACCESS,
        "cancel": Category.CANCEL,
        "programming": Category.PROGRAMMING,
        "remote_configuration": Category.PROGRAMMING,
        "status": Category.STATUS,
        "event_log": Category.STATUS,
        "schedule": Category.STATUS,
        "personnel_monitoring": Category.OTHER,
        "misc": Category.OTHER,
        "legacy": Category.OTHER,
        "user_assigned": Category.OTHER,
        "derived_channel": Category.OTHER,
    }
)

# SIA DCS open/close codes: which ones arm (close) and which disarm (open). The others in the
# table's open_close group report on schedules or failures and are status.
SIA_CLOSE = frozenset(
    {
        "AF",
        "CA",
        "CE",
        "CF",
        "CG",
        "CJ",
        "CK",
        "CL",
        "CP",
        "CQ",
        "CR",
        "CS",
        "CZ",
        "NB",
        "NF",
        "NL",
        "NM",
    }
)
SIA_OPEN = frozenset(
    {"CB", "OA", "OB", "OG", "OH", "OJ", "OK", "OL", "OP", "OQ", "OR", "OS", "OZ", "ND", "NO", "NP"}
)


def sia_category(code: str, table_category: str | None) -> Category:
    """Normalised category of a SIA DCS code; ``unknown`` if the code is not in the table."""
    if table_category is None:
        return Category.UNKNOWN
    if table_category == "open_close":
        if code in SIA_CLOSE:
            return Category.CLOSE
        if code in SIA_OPEN:
            return Category.OPEN
        return Category.STATUS
    return TABLE_CATEGORY.get(table_category, Category.OTHER)


# Contact ID: the qualifier decides event vs restore (docs/protocol.md, "Contact ID data blocks").
_CID_RESTORABLE = frozenset(
    {Category.ALARM, Category.TROUBLE, Category.SUPERVISORY, Category.BYPASS}
)


def contact_id_category(qualifier: int, table_category: str | None) -> Category:
    """Normalised category of a Contact ID event with its qualifier."""
    if table_category is None:
        return Category.UNKNOWN
    if table_category == "open_close":
        return Category.CLOSE if qualifier == 3 else Category.OPEN
    if qualifier == 6:
        return Category.STATUS
    base = TABLE_CATEGORY.get(table_category, Category.OTHER)
    if qualifier == 3 and base in _CID_RESTORABLE:
        return Category.RESTORE
    return base
