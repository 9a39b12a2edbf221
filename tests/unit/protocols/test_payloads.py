"""Contact ID and SIA DCS data blocks, codes and categories, priority classes, keys."""

from __future__ import annotations

import pytest

from alarmrx.protocols import Category, KeyFormatError, Quirk, contact_id, parse_key, sia_dcs
from alarmrx.protocols.categories import contact_id_category, sia_category
from alarmrx.protocols.dc09 import crypto
from alarmrx.protocols.errors import ProtocolError, RejectReason
from alarmrx.protocols.priority import Priority, event_priority, message_priority

# ---- Contact ID --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "category", "zone", "user", "area"),
    [
        ("#1234|1130 01 015", Category.ALARM, 15, None, 1),
        ("#1234|3130 01 015", Category.RESTORE, 15, None, 1),
        ("#1234|6130 01 015", Category.STATUS, 15, None, 1),
        ("#1234|1401 02 007", Category.OPEN, None, 7, 2),
        ("#1234|3401 02 007", Category.CLOSE, None, 7, 2),
        ("#1234|1602 00 000", Category.TEST, None, None, None),
        ("#1234|3602 00 000", Category.TEST, None, None, None),
        ("#1234|17AB 00 001", Category.UNKNOWN, 1, None, None),
        ("#1234|11300A01B", Category.ALARM, "01B", None, "0A"),
        ("|1130 01 015", Category.ALARM, 15, None, 1),
        ("1130 01 015", Category.ALARM, 15, None, 1),
        ("8362|1602 00 000", Category.TEST, None, None, None),
    ],
)
def test_contact_id_qualifiers_and_addresses(
    data: str, category: Category, zone: object, user: object, area: object
) -> None:
    """Qualifier 1/3/6 decide event/restore/status; user codes put CCC in user."""
    (event,) = contact_id.decode(data).events
    assert (event.category, event.zone, event.user, event.area) == (category, zone, user, area)


def test_contact_id_account_without_hash() -> None:
    """OPAX and PROSEC write `[8362|1602 00 000]`: the account without '#', a quirk."""
    payload = contact_id.decode("8362|1602 00 000")
    assert payload.account == "8362"
    assert payload.quirks == {Quirk.DATA_ACCOUNT_WITHOUT_HASH}
    assert payload.events[0].address == "000"
    assert contact_id.decode("#8362|1602 00 000").quirks == set()


def test_contact_id_unknown_code_and_qualifier() -> None:
    """An unknown code is a valid event of category unknown; qualifier 2 is a quirk."""
    payload = contact_id.decode("#1234|27AB 00 001")
    assert payload.events[0].category is Category.UNKNOWN
    assert payload.events[0].description == "Unknown Contact ID code"
    assert payload.quirks == {Quirk.CID_UNKNOWN_QUALIFIER}
    assert payload.account == "1234"


@pytest.mark.parametrize("data", ["", "#1234|113 01 015", "#1234|1130 01 015 x"])
def test_contact_id_rejects_malformed(data: str) -> None:
    """Anything but '#acct|QXYZ GG CCC' is a payload error."""
    with pytest.raises(ProtocolError) as caught:
        contact_id.decode(data)
    assert caught.value.reason is RejectReason.PAYLOAD


# ---- SIA DCS -----------------------------------------------------------------------------


def _events(data: str) -> list[tuple[object, ...]]:
    return [(e.code, e.zone, e.area, e.user, e.text) for e in sia_dcs.decode(data).events]


def test_sia_modifiers_apply_to_following_codes() -> None:
    """ri (area) and id (user) carry over; several codes in one block."""
    assert _events("#1|Nri1/BA01/BA02/ri2/id5/FA3") == [
        ("BA", 1, 1, None, None),
        ("BA", 2, 1, None, None),
        ("FA", 3, 2, 5, None),
    ]


def test_sia_user_and_area_addressed_codes() -> None:
    """CL's address is a user, NL's an area, RP's none: kept as zone."""
    assert _events("#1|Nri1/CL501") == [("CL", None, 1, 501, None)]
    assert _events("#1|NNL4") == [("NL", None, 4, None, None)]
    assert _events("#1|NRP99") == [("RP", 99, None, None, None)]


def test_sia_modifier_fills_an_empty_address_and_wins_a_conflict() -> None:
    """SATEL `Nri2/id15/OP`: id gives the user; `Nri3/NL`: ri gives the area. When the
    modifier and the code's own address disagree (`Nri1/NL501`, node-red-contrib-sia-ultimate
    issue #2), the modifier fills the field and ``address`` keeps the code's digits."""
    assert _events("#1|Nri2/id15/OP") == [("OP", None, 2, 15, None)]
    assert _events("#1|Nri3/NL") == [("NL", None, 3, None, None)]
    (event,) = sia_dcs.decode("#1|Nri1/NL501").events
    assert (event.area, event.address) == (1, "501")
    (event,) = sia_dcs.decode("#1|Nid3/OP0005").events
    assert (event.user, event.address) == (3, "0005")
    assert sia_dcs.decode("#1|NRP").events[0].address is None


def test_sia_text_and_a_blocks() -> None:
    """^text^ (with '|' and ']' inside) and an A block give the event text."""
    assert _events("#1|NBA1^Front|door^") == [("BA", 1, None, None, "Front|door")]
    assert _events("#1|NBA1|AHall") == [("BA", 1, None, None, "Hall")]
    assert _events("#1|NBA1^Kept^|AIgnored") == [("BA", 1, None, None, "Kept")]


def test_sia_lenient_forms() -> None:
    """Missing '/', no N prefix, glued letters, units, empty or no account, system blocks."""
    assert sia_dcs.decode("#1|Nri1BA1").quirks == {Quirk.SIA_MISSING_SLASH}
    assert sia_dcs.decode("ri1/BA1").quirks == {Quirk.SIA_NO_BLOCK_PREFIX}
    assert sia_dcs.decode("ri1/BA1").account is None
    glued = sia_dcs.decode("#1|Nri04/OP001NM")
    assert (glued.quirks, len(glued.events)) == ({Quirk.SIA_TRAILING_LETTERS}, 1)
    assert _events("#1|NOP001*'NM") == [("OP", None, None, 1, None)]
    assert sia_dcs.decode("|NRP").account is None
    assert sia_dcs.decode("#1|0|NRP").quirks == {Quirk.SIA_SYSTEM_BLOCK}
    assert _events("#1|NBA1||NBA2|") == [("BA", 1, None, None, None), ("BA", 2, None, None, None)]


def test_sia_vendor_texts() -> None:
    """Jablotron `^name^` on a modifier (dropped) and fixed-width padded `^text^`; Lupusec
    `*text*`; Aritech `*'text'NM`; an empty `*''NM` is no text."""
    assert _events("#1|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^") == [
        ("LX", 901, 1, None, "centrale d'alarme JA-106K(R)")
    ]
    assert _events("#1|NKR1^TAST. 001   ^") == [("KR", 1, None, None, "TAST. 001")]
    assert _events("#1|Nri1OP0001*Familie*") == [("OP", None, 1, 1, "Familie")]
    assert _events("#1|Nri01/TA008*'Zone 8'NM/TA007*'Zone 7'NM|Nri01/TA005") == [
        ("TA", 8, 1, None, "Zone 8"),
        ("TA", 7, 1, None, "Zone 7"),
        ("TA", 5, 1, None, None),
    ]
    assert _events("#1|Nri01/CL003*''NM") == [("CL", None, 1, 3, None)]
    assert _events("#1|NBA1^   ^") == [("BA", 1, None, None, None)]


def test_sia_account_without_hash() -> None:
    """A first block without '#' is the account when it reads as one (Lupusec `alarm2|`,
    PROSEC `36214|`); a first block that is an event block stays one."""
    for data, account in (("alarm2|Nri1OP0001", "alarm2"), ("36214|NRP", "36214")):
        payload = sia_dcs.decode(data)
        assert (payload.account, len(payload.events)) == (account, 1)
        assert Quirk.DATA_ACCOUNT_WITHOUT_HASH in payload.quirks
    assert _events("NBA1|NBA2") == [("BA", 1, None, None, None), ("BA", 2, None, None, None)]
    assert sia_dcs.decode("ri1/BA1|NBA2").account is None


def test_sia_block_without_bar_opens_old_block() -> None:
    """`…/CL40/Ori1/RX00` (a centre's event log): O before a modifier opens an old block,
    whose modifiers start afresh."""
    payload = sia_dcs.decode("#3|Nri1id2/OP40/Ori3/RX00/Nti10:00/CL5")
    assert [(e.code, e.area, e.user, e.old, e.time) for e in payload.events] == [
        ("OP", 1, 2, False, None),
        ("RX", 3, None, True, None),
        ("CL", None, 5, False, "10:00"),
    ]
    assert Quirk.SIA_MISSING_BLOCK_SEPARATOR in payload.quirks


def test_sia_unknown_modifier_is_kept_apart() -> None:
    """A lower-case pair outside DC-03's list (`pm03`) is a modifier, not an error."""
    assert _events("#1|Nri1/id0007/pm03/CL001") == [("CL", None, 1, 7, None)]


def test_sia_empty_block_is_a_heartbeat() -> None:
    """`[]` decodes to no events (Dahua and others send it as a heartbeat)."""
    payload = sia_dcs.decode("")
    assert (payload.account, payload.events, payload.quirks) == (
        None,
        (),
        {Quirk.SIA_EMPTY_BLOCK},
    )


def test_sia_old_block_and_time_modifiers() -> None:
    """O blocks are old events; ti, da and pi modifiers are kept on the event."""
    (event,) = sia_dcs.decode("#1|Oti10:23/da03-04-26/pi7/BA1").events
    assert (event.old, event.time, event.date, event.peripheral) == (True, "10:23", "03-04-26", "7")


def test_sia_unknown_code() -> None:
    """A code not in the table is a valid event of category unknown."""
    (event,) = sia_dcs.decode("#1|NZX5").events
    assert (event.category, event.zone, event.description) == (
        Category.UNKNOWN,
        5,
        "Unknown SIA code",
    )


@pytest.mark.parametrize("data", ["#1234", "#1|N", "#1|Nri1/", "#1|N?1", "#1|Atext only"])
def test_sia_rejects_blocks_without_codes(data: str) -> None:
    """A data block with no event code is a payload error (DUH)."""
    with pytest.raises(ProtocolError) as caught:
        sia_dcs.decode(data)
    assert caught.value.reason is RejectReason.PAYLOAD


# ---- categories and priority -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "quirks"),
    [
        ("#1|ri1/BA004", {Quirk.SIA_NO_BLOCK_PREFIX}),
        (
            "#2|ri1BA4|A front|12",
            {Quirk.SIA_NO_BLOCK_PREFIX, Quirk.SIA_MISSING_SLASH, Quirk.SIA_SYSTEM_BLOCK},
        ),
        ("#3|Nri1/OP001NM", {Quirk.SIA_TRAILING_LETTERS}),
        ("#4|4130 01 003", {Quirk.CID_UNKNOWN_QUALIFIER}),
    ],
)
def test_repeated_blocks_decode_alike(data: str, quirks: set[Quirk]) -> None:
    """A block decoded before (its events are kept) gives the same events and quirks again,
    under another account too."""
    decode = contact_id.decode if data[3:4].isdigit() else sia_dcs.decode
    first = decode(data)
    assert first.quirks == quirks
    assert decode(data) == first
    other = decode("#99" + data[2:])
    assert (other.events, other.quirks, other.account) == (first.events, quirks, "99")


def test_categories() -> None:
    """Open/close split, status for schedule codes, table fall-back to other."""
    assert sia_category("CL", "open_close") is Category.CLOSE
    assert sia_category("OP", "open_close") is Category.OPEN
    assert sia_category("CI", "open_close") is Category.STATUS
    assert sia_category("XX", "no_such") is Category.OTHER
    assert sia_category("ZZ", None) is Category.UNKNOWN
    assert contact_id_category(1, "no_such") is Category.OTHER
    assert contact_id_category(3, "test") is Category.TEST


@pytest.mark.parametrize(
    ("data", "priority"),
    [
        ("#1|NHA1", Priority.HOLDUP),
        ("#1|NFA1", Priority.FIRE),
        ("#1|NBA1", Priority.INTRUSION),
        ("#1|NYT", Priority.TROUBLE),
        ("#1|NRP", Priority.OTHER),
        ("#1|NAA1", Priority.TROUBLE),
    ],
)
def test_sia_priority(data: str, priority: Priority) -> None:
    """SIA alarm families by first letter; an alarm of no family counts as trouble."""
    assert message_priority(sia_dcs.decode(data).events) is priority


def test_contact_id_priority_and_empty() -> None:
    """Contact ID families by the first two digits; no events is OTHER."""
    assert event_priority(contact_id.decode("#1|1121 00 001").events[0]) is Priority.HOLDUP
    assert event_priority(contact_id.decode("#1|1110 00 001").events[0]) is Priority.FIRE
    assert message_priority([]) is Priority.OTHER


# ---- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("00" * 16, 16),
        ("aB" * 24, 24),
        ("Ff" * 32, 32),
        ("A" * 16, 16),
        ("z" * 24, 24),
        ("k" * 32, 32),
    ],
)
def test_parse_key_hex_then_ascii(text: str, size: int) -> None:
    """32/48/64 hex digits are hex; 16/24/32 printable ASCII characters are the key bytes."""
    assert len(parse_key(text)) == size


@pytest.mark.parametrize("text", ["", "A" * 15, "é" * 16, "\x01" * 16, "G" * 64])
def test_parse_key_rejects(text: str) -> None:
    """Anything else is a KeyFormatError naming the length."""
    with pytest.raises(KeyFormatError, match=f"got {len(text)} characters"):
        parse_key(text)


def test_pad_never_contains_brackets_or_bar() -> None:
    """make_pad drops [ ] | from the random source and still returns the length asked."""
    source = iter([b"[]|[", b"|ab]", b"cdef"])
    assert crypto.make_pad(4, lambda _n: next(source)) == b"abcd"
