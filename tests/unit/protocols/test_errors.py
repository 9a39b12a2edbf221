"""The reason -> reply table is complete and drives ProtocolError.reply."""

from __future__ import annotations

import pytest

from alarmrx.protocols import CORRUPT_REASONS, REPLY_FOR, ProtocolError, RejectReason, Reply, errors


def test_every_reason_has_a_reply() -> None:
    """Iterating the closed enum: each reason maps to exactly one reply."""
    assert set(REPLY_FOR) == set(RejectReason)
    assert all(isinstance(REPLY_FOR[r], Reply) for r in RejectReason)


def test_corrupt_frames_get_no_reply() -> None:
    """DC-09-2007 C.2.3.5: framing, length and CRC errors are answered with silence."""
    assert {REPLY_FOR[r] for r in CORRUPT_REASONS} == {Reply.NONE}
    assert REPLY_FOR[RejectReason.TIMESTAMP] is Reply.NAK


@pytest.mark.parametrize("cls", ProtocolError.__subclasses__())
def test_each_error_class_carries_its_reason(cls: type[ProtocolError]) -> None:
    """Every subclass has a reason, its reply and keeps detail and header."""
    err = cls("why")
    assert err.reason in RejectReason
    assert err.reply is REPLY_FOR[err.reason]
    assert (err.detail, err.header) == ("why", None)
    assert str(err) == "why"


def test_one_error_class_per_reason() -> None:
    """No reason is left without an exception class."""
    reasons = {cls.reason for cls in ProtocolError.__subclasses__()}
    assert reasons == set(RejectReason)
    assert errors.PayloadError.reason is RejectReason.PAYLOAD
