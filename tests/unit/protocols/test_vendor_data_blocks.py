"""Vendor data blocks inside whole frames: what the parser makes of them."""

from __future__ import annotations

from tests.unit.protocols.helpers import frame, parse

from alarmrx.protocols import Quirk


def test_null_carrying_a_data_block_is_a_link_test() -> None:
    """A NULL with events in its data block is still a link test: parsed, no events, the
    header account kept (the block is not decoded)."""
    message = parse(frame('"NULL"0000L0#1234[#1234|Nri1/RP0000]'))
    assert (message.is_null, message.events, message.account) == (True, (), "1234")


def test_empty_sia_block_is_a_heartbeat() -> None:
    """`"SIA-DCS"…[]`: accepted with no events, the quirk says why."""
    message = parse(frame('"SIA-DCS"0001L0#1234[]'))
    assert (message.events, message.account) == ((), "1234")
    assert message.quirks == {Quirk.SIA_EMPTY_BLOCK}


def test_data_account_without_hash_serves_a_frame_without_header_account() -> None:
    """With no header account, the data block's bare account is the message's account."""
    message = parse(frame('"ADM-CID"0001L0[8362|1602 00 000]'))
    assert message.account == "8362"
    assert {Quirk.DATA_ACCOUNT_WITHOUT_HASH, Quirk.MISSING_ACCOUNT} <= message.quirks
