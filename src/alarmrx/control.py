"""The local control socket: how ``alarmrx`` commands reach the running daemon.

A Unix stream socket next to the journal (``<journal dir>/alarmrx.sock``, mode 0600, so only
the daemon's user and root can use it). One JSON object per line in, one JSON object per
line out. The daemon journals every command it executes; this module only carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("alarmrx.control")

MAX_REQUEST_BYTES = 65536
REQUEST_TIMEOUT_S = 10.0
CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def socket_path(journal_path: Path) -> Path:
    """Where the control socket of the daemon using ``journal_path`` lives."""
    return journal_path.parent / "alarmrx.sock"


class ControlServer:
    """Serves ``handler`` on a Unix socket until closed."""

    def __init__(self, path: Path, handler: CommandHandler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind (replacing a stale socket file) with owner-only permissions."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, self.path, limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old)

    async def close(self) -> None:
        """Stop serving and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readline()
                reply = await self._answer(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass
        except Exception:  # task root: one bad request must not stop the server
            log.exception("control_request_failed")
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {"ok": False, "error": "a request is one JSON object on one line"}
        if not isinstance(request, dict) or not isinstance(request.get("action"), str):
            return {"ok": False, "error": "a request is a JSON object with an 'action'"}
        request["source"] = "cli"
        return await self._handler(request)


def send_command(path: Path, request: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Client side (blocking): one request, one reply. Raises OSError if no daemon listens."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply
