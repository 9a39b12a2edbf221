"""Intact frames that are not understood: kept for accounts that accept them, refused else;
a wrong key told by the cleartext's layout, not its charset; x-data text per letter."""

from __future__ import annotations

import pytest
from tests.unit.protocols.helpers import NOW, STAMP, frame, parse

from alarmrx.protocols import (
    AccountPolicy,
    DC09Message,
    FrameHeader,
    ProtocolError,
    Quirk,
    parse_frame,
)
from alarmrx.protocols.dc09 import crypto

KEY = b"0123456789ABCDEF"
ACCEPT = AccountPolicy(accept_unrecognised=True)
ACCEPT_KEYED = AccountPolicy(key=KEY, accept_unrecognised=True)
# rexchoppers/visonic-tolk test/powerlink31/vectors_test.go: a VIS-BBA frame with raw CR/LF.
VIS_BBA = b'\n4CE30023"VIS-BBA"0001L001234#2A4CC3[\r\xb0\x03\x18\r\n]\r'


def _reason(raw: bytes, policy: AccountPolicy | None) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_frame(raw, accounts=lambda _h, _a: policy, now=NOW)
    return info.value.reason.value


def _encrypted(clear: bytes, head: str = '"*SIA-DCS"0001L0#1234[') -> bytes:
    pad = b"ab" + bytes(16)
    sealed = b"|" + clear
    return frame(head + crypto.encrypt(KEY, pad[: 16 - len(sealed) % 16] + sealed).hex())


def _unrecognised(message: DC09Message) -> str:
    assert message.unrecognised is not None
    return message.unrecognised.reason


# ---- tokens without a decoder ------------------------------------------------------------


def test_vendor_token_is_kept_for_an_accepting_account() -> None:
    """VIS-BBA: no decoder, binary data; kept with its account and no events."""
    message = parse(VIS_BBA, ACCEPT)
    assert _unrecognised(message) == "unsupported_token"
    assert message.account == "2A4CC3" and message.events == ()
    assert message.raw == VIS_BBA


@pytest.mark.parametrize("policy", [AccountPolicy(), None])
def test_vendor_token_is_refused_otherwise(policy: AccountPolicy | None) -> None:
    """Strict policy, or an account not served: DUH for the token, as before."""
    assert _reason(VIS_BBA, policy) == "unsupported_token"


def test_reply_tokens_are_never_taken_as_messages() -> None:
    """An ACK sent to the receiver is not a panel's message, whatever the policy."""
    assert _reason(frame('"ACK"0001L0#1234[]'), ACCEPT) == "unsupported_token"


def test_vendor_token_in_plaintext_without_header_account_uses_the_data_account() -> None:
    """No `#acct` in the header: the data block's `#acct|` names the account."""
    seen: list[str | None] = []

    def lookup(_header: FrameHeader, account: str | None) -> AccountPolicy:
        seen.append(account)
        return ACCEPT

    raw = frame('"XYZ-1"0001L0[#5678|anything]')
    message = parse_frame(raw, accounts=lookup, now=NOW)
    assert seen == ["5678"] and message.account == "5678"


def test_encrypted_vendor_token_is_decrypted_and_kept() -> None:
    """An encrypted token we do not decode: decrypted with the account's key, ACKable."""
    raw = _encrypted(f"#1234|whatever]{STAMP}".encode(), '"*XYZ-1"0001L0#1234[')
    message = parse(raw, ACCEPT_KEYED)
    assert _unrecognised(message) == "unsupported_token"
    assert message.header.encrypted and message.timestamp is not None


def test_stale_encrypted_vendor_token_still_gets_its_nak() -> None:
    """The timestamp test applies to accepted-but-unrecognised frames too."""
    stale = "_11:00:00,03-04-2026"
    raw = _encrypted(f"#1234|whatever]{stale}".encode(), '"*XYZ-1"0001L0#1234[')
    assert _reason(raw, ACCEPT_KEYED) == "timestamp"


# ---- data blocks and layouts not understood ----------------------------------------------


def test_payload_not_understood_is_kept_with_its_data_account() -> None:
    """A SIA DCS block without an event: kept, the data account read all the same."""
    message = parse(frame('"SIA-DCS"0001L0#1234[#1234|Nri1]'), ACCEPT)
    assert _unrecognised(message) == "payload"
    assert message.data_account == "1234" and message.events == ()


def test_payload_not_understood_is_refused_otherwise() -> None:
    """Strict policy: DUH for the payload, as before."""
    assert _reason(frame('"SIA-DCS"0001L0#1234[#1234|Nri1]'), AccountPolicy()) == "payload"


@pytest.mark.parametrize("data", ["#12]34|x", "1234|x", "#|x", "#1234"])
def test_data_account_needs_a_clean_hash_bar_prefix(data: str) -> None:
    """`#acct|` only: a ']' before the bar, no '#', an empty or a missing bar give none."""
    message = parse(frame(f'"SIA-DCS"0001L0#9999[{data}]'), ACCEPT)
    assert message.data_account is None and message.account == "9999"


def test_layout_not_understood_is_kept_in_plaintext() -> None:
    """No closing ']' (plaintext): the content is kept verbatim, no timestamp."""
    message = parse(frame('"SIA-DCS"0001L0#1234[#1234|NBA1'), ACCEPT)
    assert _unrecognised(message) == "framing"
    assert message.content == "#1234|NBA1" and message.timestamp is None


def test_layout_not_understood_is_refused_otherwise() -> None:
    """Strict policy: no reply for a broken layout, as before."""
    assert _reason(frame('"SIA-DCS"0001L0#1234[#1234|NBA1'), AccountPolicy()) == "framing"


def test_encrypted_layout_not_understood_is_a_wrong_key() -> None:
    """Encrypted, the layout is how a right key shows: never accepted as unrecognised."""
    assert _reason(_encrypted(b"#1234|NBA1" + STAMP.encode()), ACCEPT_KEYED) == "decrypt"


def test_accepting_account_that_requires_encryption_refuses_plaintext() -> None:
    """Accepting the unknown does not lift the encryption requirement."""
    policy = AccountPolicy(key=KEY, require_encryption=True, accept_unrecognised=True)
    assert _reason(VIS_BBA, policy) == "encryption_required"


# ---- wrong key by structure, text by x-data letter ---------------------------------------


@pytest.mark.parametrize(
    ("xdata", "value", "encoding"),
    [
        ("[IAlarm Küche]".encode(), "Alarm Küche", "utf-8"),
        ("[ICuisine ouverte: été]".encode("cp1252"), "Cuisine ouverte: été", "cp1252"),
        ("[PZone 8 \u2013 Büro]".encode("cp1252"), "Zone 8 \u2013 Büro", "cp1252"),
        (b"[P\x81\xe9]", "\x81é", "latin-1"),
        ("[LGaragë]".encode("cp1252"), "Garagë", "latin-1"),
        (b"[Iplain]", "plain", None),
    ],
)
def test_encrypted_non_ascii_xdata_is_accepted_and_decoded_per_letter(
    xdata: bytes, value: str, encoding: str | None
) -> None:
    """Decrypted x-data that is not ASCII is not a wrong key; its text is read per letter."""
    clear = b"#1234|NBA1]" + xdata + STAMP.encode()
    message = parse(_encrypted(clear), AccountPolicy(key=KEY))
    (block,) = message.xdata
    assert (block.value, block.encoding) == (value, encoding)
    assert [e.code for e in message.events] == ["BA"]


def test_plain_non_ascii_xdata_is_decoded_the_same_way() -> None:
    """Plaintext frames carry the same x-data, decoded the same way."""
    raw = frame(b'"SIA-DCS"0001L0#1234[#1234|NBA1]' + "[IKüche]".encode())
    (block,) = parse(raw).xdata
    assert (block.value, block.encoding) == ("Küche", "utf-8")


@pytest.mark.parametrize(
    ("clear", "why"),
    [
        (b"p[p|#1234|NBA1]" + STAMP.encode(), "'[' in the pad"),
        (b"|#1234|N\x01BA1]" + STAMP.encode(), "control characters"),
        (b"|#1234|NBA1\x7f" + STAMP.encode(), "control characters"),
    ],
)
def test_wrong_key_is_told_by_structure(clear: bytes, why: str) -> None:
    """A '[' in the pad, control characters in the data block: a wrong key."""
    raw = frame('"*SIA-DCS"0001L0#1234[' + crypto.encrypt(KEY, _pad(clear)).hex())
    with pytest.raises(ProtocolError) as info:
        parse(raw, AccountPolicy(key=KEY))
    assert info.value.reason.value == "decrypt" and why in info.value.detail


def _pad(clear: bytes) -> bytes:
    """'x' bytes in front, to whole blocks (the cleartext brings its own pad separator)."""
    return b"x" * (16 - len(clear) % 16) + clear


def test_pad_of_sixteen_counts_as_long() -> None:
    """A pad of 16 bytes or more is DC-09-2026 style: the reply copies it."""
    body = b"|#1234|NBA1]" + STAMP.encode()
    clear = b"y" * (16 - len(body) % 16 + 16) + body
    raw = frame('"*SIA-DCS"0001L0#1234[' + crypto.encrypt(KEY, clear).hex())
    assert Quirk.LONG_PAD in parse(raw, AccountPolicy(key=KEY)).quirks


def test_vendor_token_with_a_broken_layout_is_kept() -> None:
    """A token without a decoder whose content is not `data ] …` either: still kept."""
    message = parse(frame('"XYZ-1"0001L0#1234[raw bytes'), ACCEPT)
    assert _unrecognised(message) == "framing" and message.account == "1234"


def test_lower_case_length_field_is_a_quirk() -> None:
    """Visonic PowerLink writes the length in lower-case hex (`001d`)."""
    raw = frame('"VIS-BBA"0042L001234#2A4CC3[]', length="001d")
    message = parse(raw, ACCEPT)
    assert Quirk.LOWERCASE_HEX in message.quirks


def test_frame_without_envelope_is_parsed_and_kept_verbatim() -> None:
    """OPAX sends binary-CRC frames without LF and CR: parsed, `raw` as received."""
    from tests.unit.protocols.test_framing import OPAX_NULL

    for raw in (OPAX_NULL, OPAX_NULL + b"\r"):
        message = parse(raw)
        assert Quirk.NO_ENVELOPE in message.quirks and Quirk.BINARY_CRC in message.quirks
        assert message.raw == raw and message.account == "41213"


def test_bare_frame_with_a_wrong_crc_is_still_a_crc_error() -> None:
    """Without the envelope the checks are the same."""
    from tests.unit.protocols.test_framing import OPAX_NULL

    assert _reason(b"\x00\x01" + OPAX_NULL[2:], AccountPolicy()) == "crc"


def test_payload_not_understood_keeps_the_events_of_the_blocks_that_decode() -> None:
    """`#1234|NBA1|N%%|NFA2`: the middle block is not understood; BA 1 and FA 2 are kept."""
    message = parse(frame('"SIA-DCS"0001L0#1234[#1234|NBA1|N%%|NFA2]'), ACCEPT)
    assert _unrecognised(message) == "payload"
    assert [(e.code, e.zone) for e in message.events] == [("BA", 1), ("FA", 2)]
    assert message.data_account == "1234"


def test_payload_without_account_keeps_what_decodes() -> None:
    """No `#acct|`: every block is tried."""
    message = parse(frame('"SIA-DCS"0001L0#1234[NBA3|N%%]'), ACCEPT)
    assert [e.code for e in message.events] == ["BA"] and message.data_account is None
