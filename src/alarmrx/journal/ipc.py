"""The journal writer's local protocol: messages between the writer process and its clients.

One Unix stream socket (``writer.sock`` in the daemon's runtime directory, mode 0600). Each
message is a 4-byte big-endian length and a msgpack body (msgspec Structs, tagged). Clients
send appends and cursor saves, each with an ``id``; the writer answers each once its batch is
durable (``Appended``: one ``journal_seq`` per record) or failed (``Failed``). A client that
subscribed gets a ``Head`` after every change of the chain head or of the writer's health and,
if it asked for them (``Subscribe(records=True)``, the consumers), every commit's records as
stored (``Committed``) before the ``Head`` that counts them, so it reads them without SQLite.

``MessageStream`` is the asyncio protocol both ends use: it splits the byte stream into
messages and writes everything sent during one turn of the event loop in one ``write``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from datetime import datetime
from typing import cast

import msgspec

from alarmrx.journal.chain import Encoded, encode_new
from alarmrx.journal.errors import (
    InvalidRecordError,
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalWriteError,
    PruneRefusedError,
)
from alarmrx.journal.prune import PruneReport
from alarmrx.journal.records import AppendResult, NewRecord
from alarmrx.journal.rows import StoredRow

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class Append(msgspec.Struct, tag="append", array_like=True):
    """Records to append, each encoded as it will be stored (``chain.Encoded``): the writer
    checks, hashes and stores them without decoding a body."""

    id: int
    records: list[Encoded]


class AppendEncoded(msgspec.Struct, tag="append", array_like=True):
    """An ``Append`` as a client sends it: each record encoded when it was submitted (so a
    record that cannot be encoded is refused to its caller alone), the records of one turn of
    the client's event loop in one message."""

    id: int
    records: list[msgspec.Raw]


def encode_record(record: NewRecord) -> msgspec.Raw:
    """One record for an ``AppendEncoded``; raises ``InvalidRecordError``."""
    return msgspec.Raw(_encoder.encode(encode_new(record)))


class SaveCursor(msgspec.Struct, tag="cursor", array_like=True):
    id: int
    name: str
    journal_seq: int


class Prune(msgspec.Struct, tag="prune", array_like=True):
    """Retention through the writer (``Journal.prune``)."""

    id: int
    before: datetime
    now: datetime


class Subscribe(msgspec.Struct, tag="subscribe", array_like=True):
    """Ask for a ``Head`` now and after every change; with ``records``, for ``Committed``."""

    records: bool = False


class Appended(msgspec.Struct, tag="appended", array_like=True):
    id: int
    results: list[AppendResult]


class Saved(msgspec.Struct, tag="saved", array_like=True):
    id: int


class Pruned(msgspec.Struct, tag="pruned", array_like=True):
    id: int
    report: PruneReport


class Failed(msgspec.Struct, tag="failed", array_like=True):
    """The request was not carried out; ``kind`` names the ``JournalError`` (``ERRORS``)."""

    id: int
    error: str
    kind: str = "write"


ERRORS: dict[str, type[JournalError]] = {
    "invalid": InvalidRecordError,
    "refused": PruneRefusedError,
    "closed": JournalClosedError,
    "corrupt": JournalCorruptError,
    "write": JournalWriteError,
}


def failed(request_id: int, err: JournalError) -> Failed:
    """The answer to a request that raised ``err``."""
    kind = next((k for k, kind in ERRORS.items() if isinstance(err, kind)), "write")
    return Failed(request_id, str(err), kind)


def error_of(answer: Failed) -> JournalError:
    """The ``JournalError`` a ``Failed`` answer stands for, raised again by the client."""
    return ERRORS.get(answer.kind, JournalWriteError)(answer.error)


class Committed(msgspec.Struct, tag="committed", array_like=True):
    """One commit: its new records as stored, and the ``journal_seq`` whose repeats grew."""

    rows: list[StoredRow]
    repeated: list[int]


class Head(msgspec.Struct, tag="head", array_like=True):
    journal_seq: int
    healthy: bool
    error: str | None = None


Request = Append | SaveCursor | Prune | Subscribe
Outgoing = Request | AppendEncoded
Reply = Appended | Saved | Pruned | Failed | Head | Committed
Message = Request | Reply

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


class ProtocolViolationError(Exception):
    """The peer sent something that is not a message of this protocol."""


def encode(message: Message | AppendEncoded) -> bytes:
    """One message as it goes on the wire, length first."""
    body = _encoder.encode(message)
    return _LENGTH.pack(len(body)) + body


class MessageStream(asyncio.Protocol):
    """Length-prefixed messages over a stream transport, writes coalesced per loop turn."""

    def __init__(self, on_message: Callable[[Message], None], on_lost: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # a stream: uvloop's or asyncio's
        self._loop = asyncio.get_running_loop()  # looked up once, not at every send

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._out.clear()
        self._on_lost()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, message: Message | AppendEncoded) -> None:
        """Queue ``message``; everything queued in this turn of the loop leaves together."""
        self.send_encoded(encode(message))

    def send_encoded(self, data: bytes) -> None:
        """Queue one message ``encode`` gave (encoded once for several streams)."""
        if self.transport is None or self._loop is None:
            return
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def flush(self) -> None:
        """Write what is queued now rather than at the end of this turn of the loop: for a
        message whose answer someone waits for, when nothing more will join it this turn."""
        self._flush()

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and out:
            self.transport.write(b"".join(out))

    def close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for message in self._messages():
                self._on_message(message)
        except ProtocolViolationError:
            self._buffer.clear()
            if self.transport is not None:
                self.transport.abort()

    def _messages(self) -> list[Message]:
        buffer, messages, start = self._buffer, [], 0
        while len(buffer) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_MESSAGE_BYTES:
                raise ProtocolViolationError(f"message of {length} bytes")
            end = start + _LENGTH.size + length
            if len(buffer) < end:
                break
            try:
                messages.append(_decoder.decode(memoryview(buffer)[start + _LENGTH.size : end]))
            except msgspec.DecodeError as err:
                raise ProtocolViolationError(str(err)) from err
            start = end
        del buffer[:start]
        return messages
