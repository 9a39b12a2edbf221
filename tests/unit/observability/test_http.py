"""MetricsServer over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from alarmrx.observability import http as http_module
from alarmrx.observability.http import MetricsServer
from alarmrx.observability.metrics import Metrics


class State:
    healthy = True
    reason = "ok"
    ready = False


@pytest.fixture
async def server() -> AsyncIterator[tuple[MetricsServer, State]]:
    registry = CollectorRegistry()
    Metrics(registry, version="1.2.3")
    state = State()
    srv = MetricsServer(
        "127.0.0.1",
        0,
        registry,
        health=lambda: (state.healthy, state.reason),
        ready=lambda: state.ready,
    )
    await srv.start()
    yield srv, state
    await srv.close()


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


async def test_metrics(server: tuple[MetricsServer, State]) -> None:
    srv, _ = server
    assert srv.port != 0
    status, headers, body = await request(srv.port, get("/metrics?x=1"))
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    assert int(headers["content-length"]) == len(body)
    assert b'alarmrx_build_info{version="1.2.3"} 1.0' in body
    assert b"alarmrx_frames_received_total" in body


async def test_healthz(server: tuple[MetricsServer, State]) -> None:
    srv, state = server
    status, _, body = await request(srv.port, get("/healthz"))
    assert (status, body) == (200, b"ok\n")
    state.healthy, state.reason = False, "journal cannot commit: disk full"
    status, _, body = await request(srv.port, get("/healthz"))
    assert (status, body) == (503, b"journal cannot commit: disk full\n")


async def test_readyz(server: tuple[MetricsServer, State]) -> None:
    srv, state = server
    assert (await request(srv.port, get("/readyz")))[0] == 503
    state.ready = True
    status, _, body = await request(srv.port, get("/readyz"))
    assert (status, body) == (200, b"ready\n")


async def test_readyz_says_why_when_given_a_reason() -> None:
    answer = (False, "journal: postgresql unreachable: connection refused")
    srv = MetricsServer("127.0.0.1", 0, CollectorRegistry(), lambda: (True, "ok"), lambda: answer)
    await srv.start()
    try:
        status, _, body = await request(srv.port, get("/readyz"))
        assert (status, body) == (503, b"journal: postgresql unreachable: connection refused\n")
        answer = (True, "ready; consumers standby")
        status, _, body = await request(srv.port, get("/readyz"))
        assert (status, body) == (200, b"ready; consumers standby\n")
    finally:
        await srv.close()


async def test_not_found_method_and_head(server: tuple[MetricsServer, State]) -> None:
    srv, _ = server
    assert (await request(srv.port, get("/")))[0] == 404
    assert (await request(srv.port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == 405
    status, headers, body = await request(srv.port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
    assert (status, headers["content-length"], body) == (200, "3", b"")
    assert (await request(srv.port, b"garbage\r\n\r\n"))[0] == 400


async def test_oversized_request_is_refused(server: tuple[MetricsServer, State]) -> None:
    srv, _ = server
    huge = b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 20_000 + b"\r\n\r\n"
    status, _, body = await request(srv.port, huge)
    assert (status, body) == (431, b"request too large\n")


async def test_slow_client_is_cut_off(
    server: tuple[MetricsServer, State], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _ = server
    monkeypatch.setattr(http_module, "READ_DEADLINE_S", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /metrics HTTP/1.1\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_failing_callback_answers_500() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    srv = MetricsServer("127.0.0.1", 0, CollectorRegistry(), health=broken, ready=lambda: True)
    await srv.start()
    try:
        assert (await request(srv.port, get("/healthz")))[0] == 500
        assert (await request(srv.port, get("/readyz")))[0] == 200
    finally:
        await srv.close()
