"""The reason -> reply table is complete and drives ProtocolError.reply."""

from __future__ import annotations

import pytest

from alarmrx.protocols import CORRUPT_REASONS, REPLY_FOR, ProtocolError, RejectReason, Reply


def test_every_reason_has_a_reply() -> None:
    """Iterating the closed enum: each reason maps to exactly one reply."""
    assert set(REPLY_FOR) == set(RejectReason)
    assert all(isinstance(REPLY_FOR[r], Reply) for r in RejectReason)


def test_corrupt_frames_get_no_reply() -> None:
    """DC-09-2007 C.2.3.5: framing, length and CRC errors (and a frame too long to be one)
    are answered with silence; they are the reasons ``nak_on_corrupt`` turns into a NAK."""
    assert {
        RejectReason.FRAMING,
        RejectReason.FRAME_TOO_LONG,
        RejectReason.LENGTH,
        RejectReason.CRC,
    } == CORRUPT_REASONS
    assert {REPLY_FOR[r] for r in CORRUPT_REASONS} == {Reply.NONE}
    assert REPLY_FOR[RejectReason.TIMESTAMP] is Reply.NAK


@pytest.mark.parametrize("reason", list(RejectReason))
def test_each_reason_makes_an_error_with_its_reply(reason: RejectReason) -> None:
    """Every reason builds a ProtocolError that keeps reason, detail and header, and whose
    reply is the reason's."""
    err = ProtocolError(reason, "why")
    assert err.reason is reason
    assert err.reply is REPLY_FOR[reason] is reason.reply
    assert (err.detail, err.header) == ("why", None)
    assert str(err) == "why"
