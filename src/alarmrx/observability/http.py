"""``MetricsServer``: a small HTTP/1.1 endpoint for Prometheus and health checks.

``GET /metrics`` (exposition format), ``/healthz`` (200 ``ok`` or 503 with the reason),
``/readyz`` (200 once ready, else 503; either with a reason when given); 404 for any other
path, 405 for other methods.
One request per connection; the request head is bounded in size and read under a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger("alarmrx.http")

MAX_REQUEST_BYTES = 8192
READ_DEADLINE_S = 5.0
WRITE_DEADLINE_S = 10.0
TEXT = "text/plain; charset=utf-8"

Health = Callable[[], tuple[bool, str]]
Ready = Callable[[], bool | tuple[bool, str]]  # ready, or (ready, what to say)


@dataclass(frozen=True, slots=True)
class Response:
    """Status, content type and body of one answer."""

    status: HTTPStatus
    body: bytes
    content_type: str = TEXT

    def encode(self, *, head_only: bool) -> bytes:
        """The bytes on the wire, ``Connection: close``."""
        head = (
            f"HTTP/1.1 {self.status.value} {self.status.phrase}\r\n"
            f"Content-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        return head.encode("ascii") + (b"" if head_only else self.body)


def text(status: HTTPStatus, message: str) -> Response:
    """A one-line plain-text answer."""
    return Response(status, (message + "\n").encode("utf-8"))


class MetricsServer:
    """Serves ``registry`` and the ``health``/``ready`` callbacks on ``host:port``."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, health: Health, ready: Ready
    ) -> None:
        self._host, self._port = host, port
        self._registry = registry
        self._routes: dict[str, Callable[[], Response]] = {
            "/metrics": self._metrics,
            "/healthz": lambda: _health(health),
            "/readyz": lambda: _ready(ready),
        }
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and start serving."""
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_REQUEST_BYTES
        )

    @property
    def port(self) -> int:
        """The bound port (the kernel's choice when 0 was asked)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening; connections end within their deadlines."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, response = await self._answer(reader)
            writer.write(response.encode(head_only=method == "HEAD"))
            async with asyncio.timeout(WRITE_DEADLINE_S):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the client went away or is too slow: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, Response]:
        try:
            async with asyncio.timeout(READ_DEADLINE_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, ValueError):
            return "GET", text(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request too large")
        except asyncio.IncompleteReadError:
            return "GET", text(HTTPStatus.BAD_REQUEST, "incomplete request")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return "GET", text(HTTPStatus.BAD_REQUEST, "bad request line")
        method, target = parts[0], parts[1].split("?", 1)[0]
        return method, self._route(method, target)

    def _route(self, method: str, target: str) -> Response:
        if method not in ("GET", "HEAD"):
            return text(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD")
        handler = self._routes.get(target)
        if handler is None:
            return text(HTTPStatus.NOT_FOUND, "not found: try /metrics, /healthz or /readyz")
        try:
            return handler()
        except Exception:  # a failing callback must not kill the endpoint: answer 500, log it
            log.exception("http_handler_failed", path=target)
            return text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    def _metrics(self) -> Response:
        return Response(HTTPStatus.OK, generate_latest(self._registry), CONTENT_TYPE_LATEST)


def _health(health: Health) -> Response:
    healthy, reason = health()
    return text(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, reason)


def _ready(ready: Ready) -> Response:
    answer = ready()
    is_ready, reason = answer if isinstance(answer, tuple) else (answer, "")
    status = HTTPStatus.OK if is_ready else HTTPStatus.SERVICE_UNAVAILABLE
    return text(status, reason or ("ready" if is_ready else "not ready"))
