"""Frames nobody understood: each one raised to an operator as ``payload.unrecognised``.

A pure core. The receiver accepts an intact frame from a configured account even when its
token or data block is not understood (``[receiver] unrecognised_payload = "ack"``,
docs/protocol.md "Unrecognised payloads"): the panel must not be refused, since it never
retries a DUH'd alarm. The MESSAGE record then carries ``unrecognised`` (reason, detail) and
the raw bytes; this core turns every such record into one derived event, at trouble
priority, whose ``text`` is the frame as received, so an operator reads it and acts.
"""

from __future__ import annotations

from types import MappingProxyType

from alarmrx.journal import bodies
from alarmrx.journal.bodies import MessageBody
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.interfaces import Untimed

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_MESSAGE = RecordKind.MESSAGE


class UnrecognisedCore(Untimed):
    """One ``payload.unrecognised`` per MESSAGE record marked ``unrecognised``."""

    def __init__(self) -> None:
        self._last_seq = 0

    def handle(self, record: Record) -> list[Derived]:
        """Fold one journal record; a conclusion for a frame that was not understood."""
        if record.journal_seq <= self._last_seq or record.kind is not _MESSAGE:
            return []
        self._last_seq = record.journal_seq
        body = bodies.message(record)
        found = body.unrecognised if body is not None else None
        if body is None or found is None or record.account is None:
            return []
        return [_raised(record, body, str(found.reason), str(found.detail))]


def _raised(record: Record, body: MessageBody, reason: str, detail: str) -> Derived:
    fields = {
        "reason": reason,
        "detail": detail,
        "token": body.token,
        "sequence": body.sequence,
        "message_seq": record.journal_seq,
        # The frame as received, one character per byte (ISO 8859-1): what the operator reads.
        "text": record.raw.decode("latin-1"),
    }
    return Derived(
        type=DerivedType.PAYLOAD_UNRECOGNISED,
        account=str(record.account),
        at=record.received_at,
        key=f"payload.unrecognised|{record.journal_seq}",
        description=f"Frame received and acknowledged but not understood ({reason}): {detail}",
        refs=(record.journal_seq,),
        fields=MappingProxyType(fields),
    )
