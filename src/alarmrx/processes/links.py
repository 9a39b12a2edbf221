"""The link channel: link tests from the receiver workers to the consumers process.

Link tests (NULL frames) are not journaled (docs/rules.md): a worker reports every accepted
frame's account and path to supervision over a Unix datagram socket (``LinkSender``: the
reports of one turn of the event loop in one datagram), never waiting: when the consumers'
socket buffer is full the reports are dropped and counted, and the next frame of each account
reports it again. Nothing comes back: a worker asks the rules nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec
import structlog

log = structlog.get_logger("alarmrx.processes.links")


class Link(msgspec.Struct, array_like=True):
    account: str
    receiver: str | None
    line: str | None
    transport: str
    peer: str
    at: datetime


MAX_LINKS_PER_DATAGRAM = 256
READS_PER_TURN = 64  # datagrams read in one turn of the consumers' event loop at most
_link_decoder = msgspec.msgpack.Decoder(list[Link])
_encoder = msgspec.msgpack.Encoder()


def _datagram_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.setblocking(False)
    return sock


def bind_datagrams(path: Path) -> socket.socket:
    """A non-blocking datagram socket at ``path`` (a stale file replaced), mode 0600."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = _datagram_socket()
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    return sock


class LinkSender:
    """A worker's end of the link channel; ``dropped`` counts reports that did not fit."""

    def __init__(self, path: Path, on_drop: Callable[[], None]) -> None:
        self._path = str(path)
        self._sock = _datagram_socket()
        self._on_drop = on_drop
        self._pending: list[Link] = []

    def __call__(  # noqa: PLR0917 - receiver.handler.LinkObserver calls it positionally
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str,
        peer: str,
        at: datetime,
    ) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(Link(account, receiver, line, transport, peer, at))
        if len(self._pending) >= MAX_LINKS_PER_DATAGRAM:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self._sock.sendto(_encoder.encode(pending), self._path)
        except OSError:  # full (BlockingIOError), or the consumers are restarting
            for _ in pending:
                self._on_drop()

    def close(self) -> None:
        self._sock.close()


LinkObserver = Callable[[str, str | None, str | None, str, str, datetime], None]


async def receive_links(sock: socket.socket, observe: LinkObserver) -> None:
    """The consumers' end: hand every report to supervision until cancelled (or until a
    read or ``observe`` fails: raised here). The socket is watched for as long as this
    runs, one reader rather than one per datagram; each time it is ready, up to
    ``READS_PER_TURN`` datagrams are read (the rest at the next turn of the loop)."""
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock, _readable, sock, observe, failed)
    try:
        await failed
    finally:
        loop.remove_reader(sock)


def _readable(sock: socket.socket, observe: LinkObserver, failed: asyncio.Future[None]) -> None:
    try:
        for _ in range(READS_PER_TURN):
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            _observe(data, observe)
    except Exception as exc:  # noqa: BLE001 - raised in receive_links, the task's root
        if not failed.done():
            failed.set_exception(exc)


def _observe(data: bytes, observe: LinkObserver) -> None:
    try:
        links = _link_decoder.decode(data)
    except msgspec.DecodeError:
        log.warning("link_report_unreadable", size=len(data))
        return
    for link in links:
        observe(link.account, link.receiver, link.line, link.transport, link.peer, link.at)
