"""parse_frame: checks in order, quirks, accounts, keys and the timestamp test."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from tests.unit.protocols.helpers import NOW, STAMP, frame, parse

from alarmrx.protocols import (
    AccountPolicy,
    FrameHeader,
    ProtocolError,
    Quirk,
    TimestampWindow,
    encode_message,
    parse_frame,
)
from alarmrx.protocols.dc09 import crypto

KEY = b"0123456789ABCDEF"
KEYED = AccountPolicy(key=KEY)


def _reason(raw: bytes, policy: AccountPolicy | None = None, **kw: object) -> str:
    with pytest.raises(ProtocolError) as info:
        parse(raw, policy, **kw)  # type: ignore[arg-type]
    return info.value.reason.value


def _encrypted(cleartext: bytes, head: str = '"*SIA-DCS"0001L0#1234[') -> bytes:
    return frame(head + crypto.encrypt(KEY, cleartext).hex().upper())


def _sealed(data: str, when: str = STAMP, key: bytes = KEY) -> bytes:
    pad = b"ab" + bytes(16)
    clear = b"|" + f"{data}]{when}".encode()
    return _encrypted(pad[: 16 - len(clear) % 16] + clear) if key else b""


# ---- shape, length, CRC ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "framing"),
        (b"\nCE110032\r", "framing"),
        (frame('"NULL"0000L0#1[]')[:-1], "framing"),
        (b"\nXYZW0015" + b'"NULL"0000L0#1[]\r', "framing"),
        (frame('"NULL"0000L0#1[]', length="00G5"), "length"),
        (frame('"NULL"0000L0#1[]', length="0099"), "length"),
        (frame('"NULL"0000L0#1[]', length="\xb2\xb2\xb2\xb2"), "length"),
        (frame('"NULL"0000L0#1[]', crc="0000"), "crc"),
        (frame('"NULL"00x0L0#1[]'), "framing"),
        (frame('"NULL"0000L0#1[]', crc="0000", length="0011"), "crc"),
    ],
)
def test_parse_rejects_broken_frames(raw: bytes, reason: str) -> None:
    """Shape, length and CRC failures, before anything else is looked at."""
    assert _reason(raw) == reason


def test_parse_quirks_of_the_head() -> None:
    """Decimal length, lower-case CRC hex, CRC and length counting the CR."""
    body = '"NULL"0000L0#1234[]'  # 19 bytes: hex 0013
    assert Quirk.DECIMAL_LENGTH in parse(frame(body, length="0019")).quirks
    lower = frame(body).decode("latin-1")
    assert Quirk.LOWERCASE_HEX in parse(("\n" + lower[1:5].lower() + lower[5:]).encode()).quirks
    from alarmrx.protocols.dc09.crc import crc16_arc

    with_cr = crc16_arc(body.encode() + b"\r")
    eldes = frame(body, crc=f"{with_cr:04X}", length="0014")
    assert {Quirk.CRC_INCLUDES_CR, Quirk.LENGTH_INCLUDES_CR} <= parse(eldes).quirks


def test_parse_header_needs_grammar() -> None:
    """A body that is not '"token"seq…[' is a framing error, non-ASCII included."""
    assert _reason(frame('"NULL"0000L0#1')) == "framing"
    assert _reason(frame(b'"NU\xffLL"0000[]')) == "framing"


# ---- header fields and quirks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "account", "quirks"),
    [
        ('"SIA-DCS"0001[#1234|NRP]', "1234", {Quirk.MISSING_LINE, Quirk.MISSING_ACCOUNT}),
        ('"SIA-DCS"0001L[#1234|NRP]', "1234", {Quirk.EMPTY_LINE, Quirk.MISSING_ACCOUNT}),
        (
            '"SIA-DCS"0001L0#alarm1[RP]',
            "alarm1",
            {Quirk.NON_HEX_ACCOUNT, Quirk.SIA_NO_BLOCK_PREFIX},
        ),
        ('"SIA-DCS"0001L0#7[#7|NRP]', "7", {Quirk.SHORT_ACCOUNT}),
        ('"SIA-DCS"0001L0#1234[#5678|NRP]', "1234", {Quirk.ACCOUNT_MISMATCH}),
        ('"SIA-DCS"0001L0#[#1234|NRP]', "1234", {Quirk.MISSING_ACCOUNT}),
        ('"SIA-DCS"0001L0[|NRP]', None, {Quirk.MISSING_ACCOUNT}),
        ('"NULL"0042L0#1234[]', "1234", {Quirk.NULL_NONZERO_SEQUENCE}),
    ],
)
def test_parse_header_quirks(body: str, account: str | None, quirks: set[Quirk]) -> None:
    """Lenient header reading, each deviation reported as a quirk."""
    message = parse(frame(body))
    assert message.account == account
    assert message.quirks == quirks


def test_parse_trailing_bytes_after_cr() -> None:
    """NUL, LF or space after the CR (one UDP datagram) are a quirk, not an error."""
    raw = frame('"NULL"0000L0#1234[]') + b"\n\x00 "
    message = parse(raw)
    assert Quirk.TRAILING_BYTES in message.quirks
    assert message.raw == raw
    assert _reason(frame('"NULL"0000L0#1234[]') + b"x") == "framing"


def test_parse_xdata_and_timestamp() -> None:
    """Extended data blocks are kept verbatim; the timestamp is read as UTC."""
    message = parse(frame(f'"SIA-DCS"0001L0#1[#1|NBA1][M0026B9E4268B][]{STAMP}'))
    assert [(x.letter, x.value) for x in message.xdata] == [("M", "0026B9E4268B"), ("", "")]
    assert message.timestamp == NOW


@pytest.mark.parametrize(
    "content",
    ["#1|NBA1", "#1|NBA1^x^", "#1|NBA1][Mx", "#1|NBA1]_12:00:00,03-04-2026x", "#1|NBA1]junk"],
)
def test_parse_content_grammar(content: str) -> None:
    """Data must close with ']', xdata blocks too, and nothing may follow the timestamp."""
    assert _reason(frame(f'"SIA-DCS"0001L0#1[{content}')) == "framing"


@pytest.mark.parametrize("stamp", ["_12:00:00,13-04-2026", "_12:00:00,03-04-26", "_1"])
def test_parse_bad_timestamp(stamp: str) -> None:
    """A timestamp that is not HH:MM:SS,MM-DD-YYYY gets the timestamp reason (NAK)."""
    assert _reason(frame(f'"SIA-DCS"0001L0#1[#1|NBA1]{stamp}')) == "timestamp"


def test_parse_plaintext_is_latin1() -> None:
    """Windows-1252 text in a plain frame is kept, every byte mapped."""
    message = parse(frame(b'"SIA-DCS"0001L0#1[#1|NBA1^Caf\xe9^]'))
    assert message.events[0].text == "Café"


# ---- tokens and accounts -----------------------------------------------------------------


def test_parse_unknown_token_gets_duh_with_header() -> None:
    """An intact frame with a token we do not serve: DUH, header kept for the echo."""
    with pytest.raises(ProtocolError) as info:
        parse(frame('"SIA-TXT"0007L0#1234[hello]'))
    assert info.value.reason.value == "unsupported_token"
    assert info.value.reply.value == "DUH"
    assert info.value.header is not None and info.value.header.sequence == "0007"


def test_parse_unknown_account() -> None:
    """The lookup returning None: unknown_account, naming the account or its absence."""
    with pytest.raises(ProtocolError) as info:
        parse_frame(frame('"NULL"0000L0#9999[]'), accounts=lambda _h, _a: None, now=NOW)
    assert (info.value.reason.value, info.value.detail) == (
        "unknown_account",
        "account '9999' is not served",
    )
    with pytest.raises(ProtocolError, match="names no account"):
        parse_frame(frame('"NULL"0000L0[]'), accounts=lambda _h, _a: None, now=NOW)


def test_parse_looks_up_data_account_when_header_has_none() -> None:
    """Without a header account the data block's account is used for the lookup."""
    seen: list[str | None] = []

    def lookup(_header: FrameHeader, account: str | None) -> AccountPolicy:
        seen.append(account)
        return AccountPolicy()

    parse_frame(frame('"SIA-DCS"0001L0[#006969|NRP]'), accounts=lookup, now=NOW)
    assert seen == ["006969"]


# ---- encryption --------------------------------------------------------------------------


def test_parse_encrypted_frame() -> None:
    """A 2013-style frame: pad | data ] timestamp, decrypted and checked."""
    message = parse(_sealed("#1234|NBA1"), KEYED)
    assert message.header.encrypted and message.content == f"#1234|NBA1]{STAMP}"
    # 1-16 pad bytes (2013); a pad of exactly 16 is as long as DC-09-2026's shortest.
    pad = 16 - (len(f"|#1234|NBA1]{STAMP}") % 16)
    assert message.quirks == (frozenset({Quirk.LONG_PAD}) if pad == 16 else frozenset())


def test_parse_lowercase_ciphertext() -> None:
    """Hex ciphertext may be lower case."""
    raw = _sealed("#1234|NBA1").decode("latin-1")
    head, hex_text = raw[:-1].split("[")
    body = head[9:] + "[" + hex_text.lower()
    assert Quirk.LOWERCASE_HEX in parse(frame(body), KEYED).quirks


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (AccountPolicy(), "no_key"),
        (AccountPolicy(key=b"F" * 16), "decrypt"),
        (AccountPolicy(key=b"F" * 24), "decrypt"),
        (AccountPolicy(key=b"F" * 32), "decrypt"),
    ],
)
def test_parse_key_problems(policy: AccountPolicy, reason: str) -> None:
    """No key for the account, or the wrong key of any size."""
    assert _reason(_sealed("#1234|NBA1"), policy) == reason


@pytest.mark.parametrize(
    "raw",
    [
        frame('"*SIA-DCS"0001L0#1234['),
        frame('"*SIA-DCS"0001L0#1234[ABC'),
        frame('"*SIA-DCS"0001L0#1234[' + "Z" * 32),
        _encrypted(b"A" * 32),
        _encrypted(b"|\xff" + b"B" * 30),
        _encrypted(b"xx|#1234|NBA1" + b"C" * 19),
    ],
)
def test_parse_undecryptable(raw: bytes) -> None:
    """Not whole hex blocks, no pad separator, non-ASCII cleartext, no closing ']'."""
    assert _reason(raw, KEYED) == "decrypt"


def test_parse_pad_without_separator_and_long_pad() -> None:
    """2026 style: 16-31 pad bytes, and no '|' when the data is empty."""
    clear = b"P" * 27 + b"]" + STAMP.encode()
    message = parse(_encrypted(clear, '"*NULL"0000L0#1234['), KEYED)
    assert {Quirk.NO_PAD_SEPARATOR, Quirk.LONG_PAD} <= message.quirks


def test_parse_encrypted_needs_timestamp() -> None:
    """Every encrypted message carries a timestamp."""
    clear = b"x" * 4 + b"|#1234|NBA1]"
    assert _reason(_encrypted(clear), KEYED) == "timestamp"


def test_parse_plaintext_for_key_account() -> None:
    """A plaintext frame for an account that requires encryption: encryption_required."""
    policy = AccountPolicy(key=KEY, require_encryption=True)
    assert _reason(frame('"SIA-DCS"0001L0#1234[#1234|NBA1]'), policy) == "encryption_required"


def test_parse_wrong_key_in_round_trip() -> None:
    """A frame from our encoder with one key does not parse with another."""
    header = FrameHeader(
        token="SIA-DCS", encrypted=True, sequence="0001", receiver=None, line="0", account="1234"
    )
    raw = encode_message(
        header=header,
        data="#1234|NBA1",
        timestamp=NOW,
        key=KEY,
        random_bytes=random.Random(3).randbytes,
    )
    assert _reason(raw, AccountPolicy(key=b"1123456789ABCDEF")) == "decrypt"


# ---- timestamp test ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(-40, True), (-41, False), (20, True), (21, False), (0, True)],
)
def test_timestamp_window_edges(skew: int, accepted: bool) -> None:
    """Panel time may be 40 s behind or 20 s ahead, both ends included."""
    now = NOW - timedelta(seconds=skew)
    raw = _sealed("#1234|NBA1")
    if accepted:
        assert parse(raw, KEYED, now=now).timestamp == NOW
    else:
        assert _reason(raw, KEYED, now=now) == "timestamp"


def test_timestamp_window_only_for_plaintext_when_asked() -> None:
    """Plaintext timestamps are checked only with check_plain_timestamp."""
    raw = frame(f'"SIA-DCS"0001L0#1[#1|NBA1]{STAMP}')
    late = NOW + timedelta(hours=1)
    assert parse(raw, now=late).timestamp == NOW
    assert _reason(raw, AccountPolicy(check_plain_timestamp=True), now=late) == "timestamp"
    assert parse(raw, AccountPolicy(window=None, check_plain_timestamp=True), now=late)


def test_timestamp_clock_offset_and_zone() -> None:
    """A panel's known clock error and its local time zone are applied before the test."""
    raw = frame('"SIA-DCS"0001L0#1[#1|NBA1]_13:00:30,03-04-2026')
    policy = AccountPolicy(
        panel_timezone="Europe/Amsterdam",
        clock_offset=timedelta(seconds=-30),
        check_plain_timestamp=True,
        window=TimestampWindow(),
    )
    assert parse(raw, policy).timestamp == NOW
    exact = TimestampWindow(past=timedelta(0), future=timedelta(0))
    custom = AccountPolicy(
        window=exact, check_plain_timestamp=True, clock_offset=timedelta(seconds=-30)
    )
    assert _reason(raw, custom) == "timestamp"
