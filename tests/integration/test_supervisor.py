"""The supervisor run in the test's own process (its children are real processes): what it
knows of them — readiness, restarts, the writer's health — read directly."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from tests.daemon import frame, write_config

from alarmrx.config import load_settings
from alarmrx.processes.supervisor import Supervisor

pytestmark = pytest.mark.integration


async def _until(condition: object, within_s: float, what: str) -> None:
    assert callable(condition)
    for _ in range(int(within_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"not within {within_s} s: {what}")


async def _ack(port: int, data: bytes, *, within_s: float = 10) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.readuntil(b"\r"), within_s)
    finally:
        writer.close()


async def _ack_as_a_panel(port: int, data: bytes) -> bytes:
    """Send as a panel does: without an answer in 2 s, again on a new connection. A worker
    that has not yet reconnected to a restarted writer answers nothing (docs/architecture.md),
    and the retry lands on a worker that has."""
    for _ in range(5):
        try:
            return await _ack(port, data, within_s=2)
        except TimeoutError:
            continue
    pytest.fail("no answer to five attempts")


async def test_ready_once_every_child_is_and_again_after_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path, accounts=['account = "1234"'], receiver="workers = 2")
    supervisor = Supervisor(load_settings(config))
    running = asyncio.create_task(supervisor.run())
    try:
        await _until(lambda: supervisor.ready() or running.done(), 60, "ready")
        assert [c.role for c in supervisor.children].count("worker") == 2
        assert all(c.ready.is_set() for c in supervisor.children)
        assert supervisor.health() == (True, "ok")
        [port] = [a.port for a in supervisor.listen]
        assert b'"ACK"' in await _ack(port, frame("1234", "#1234|Nri1/BA01", sequence=1))

        [writer] = [c for c in supervisor.children if c.role == "writer"]
        assert writer.process is not None
        os.kill(writer.process.pid, signal.SIGKILL)
        await _until(lambda: not supervisor.ready(), 10, "not ready while the writer is down")
        await _until(lambda: not supervisor.health()[0], 10, "unhealthy while it is down")
        await _until(supervisor.ready, 60, "ready again")
        await _until(lambda: supervisor.health()[0], 10, "healthy again")
        assert b'"ACK"' in await _ack_as_a_panel(port, frame("1234", "#1234|Nri1/BA02", sequence=2))

        supervisor.reload()  # what SIGHUP does; nothing changed, every child still serves
        assert b'"ACK"' in await _ack(port, frame("1234", "#1234|Nri1/BA03", sequence=3))
    finally:
        supervisor.stop()
        assert await asyncio.wait_for(running, 60) == 0
    assert all(c.process is not None and c.process.returncode == 0 for c in supervisor.children)
    assert not supervisor.runtime.directory.exists()
