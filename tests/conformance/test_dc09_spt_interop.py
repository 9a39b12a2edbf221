"""Interop: frames built by the third-party transmitter package my-dc09-spt decode correctly.

my-dc09-spt (module ``my_dc09_spt``, Apache-2.0) builds DC-09 blocks for SIA-DCS (its
``dc03_msg``), ADM-CID (``dc05_msg``) and NULL. Its deviations from DC-09, found here:
keys are raw 16 or 32 bytes only (no AES-192, no hex text), its pad is 2-17 bytes, its SIA
modifiers have no '/' before the code, and its encrypted timestamp is the machine's clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

if os.environ.get("CI") == "true":  # CI installs it (scripts/bootstrap): missing is a failure
    import my_dc09_spt  # noqa: F401
else:
    pytest.importorskip("my_dc09_spt")

from my_dc09_spt.msg import dc03_msg, dc05_msg, dc09_msg

from alarmrx.protocols import AccountPolicy, DC09Message, Quirk, parse_frame

KEYS = {"plain": None, "aes128": b"0123456789ABCDEF", "aes256": b"0123456789ABCDEF" * 2}


def _parse(block: str, key: bytes | None) -> DC09Message:
    policy = AccountPolicy(key=key)
    return parse_frame(block.encode("ascii"), accounts=lambda _h, _a: policy, now=datetime.now(UTC))


def _events(message: DC09Message) -> list[tuple[Any, ...]]:
    return [(e.code, e.zone, e.area, e.user, e.qualifier) for e in message.events]


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_dc09_spt_sia_dcs(key: bytes | None) -> None:
    """SIA-DCS burglary alarm with area and zone, receiver and line numbers."""
    data = dc03_msg.dc03event("1234", {"code": "BA", "zone": 3, "area": 2})
    block = dc09_msg("1234", key, receiver=0x12, line=3).dc09block(7, "SIA-DCS", data)
    message = _parse(block, key)
    assert (message.account, message.header.sequence) == ("1234", "0007")
    assert (message.header.receiver, message.header.line) == ("12", "3")
    assert message.header.encrypted is (key is not None)
    assert _events(message) == [("BA", 3, 2, None, None)]
    assert Quirk.SIA_MISSING_SLASH in message.quirks


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_dc09_spt_sia_dcs_user_code_with_time_and_text(key: bytes | None) -> None:
    """A user-addressed closing with a time modifier and an A text block."""
    data = dc03_msg.dc03event(
        "1234", {"code": "CL", "user": 5, "area": 1, "time": "10:11:12", "text": "Evening"}
    )
    message = _parse(dc09_msg("1234", key).dc09block(9998, "SIA-DCS", data), key)
    (event,) = message.events
    assert (event.code, event.user, event.area, event.time, event.text) == (
        "CL",
        5,
        1,
        "10:11:12",
        "Evening",
    )


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": "130", "zone": 15, "area": 1, "q": 1}, ("130", 15, 1, None, 1)),
        ({"code": "401", "user": 7, "area": 2, "q": 3}, ("401", None, 2, 7, 3)),
        ({"code": "602", "q": 6}, ("602", None, None, None, 6)),
    ],
)
def test_dc09_spt_adm_cid(
    key: bytes | None, params: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """ADM-CID zone and user codes, qualifiers 1, 3 and 6, data account different."""
    data = dc05_msg.dc05event("1234", {"account": "5678", **params})
    message = _parse(dc09_msg("1234", key, line=0).dc09block(42, "ADM-CID", data), key)
    assert (message.account, message.data_account) == ("1234", "5678")
    assert Quirk.ACCOUNT_MISMATCH in message.quirks
    assert _events(message) == [expected]


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_dc09_spt_null(key: bytes | None) -> None:
    """Its poll block is a NULL with sequence 0000 (encrypted: a timestamp inside)."""
    message = _parse(dc09_msg("1234", key, line=0).dc09poll(), key)
    assert (message.is_null, message.header.sequence, message.events) == (True, "0000", ())
    assert (message.timestamp is not None) is (key is not None)
