"""The supervisor run in the test's own process (its children are real processes): what it
knows of them — readiness, restarts, the writer's health — read directly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest
from tests.daemon import frame, write_config

from alarmrx.config import load_settings
from alarmrx.processes.consumers import NICENESS
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


async def _acked_at_once(port: int, first_sequence: int, count: int) -> None:
    """``count`` frames, each sent once on a connection of its own, all at the same time: the
    kernel spreads the connections over the workers (``SO_REUSEPORT``), and every worker must
    answer at the first try."""
    frames = [
        frame("1234", f"#1234|Nri1/BA{n:02d}", sequence=n)
        for n in range(first_sequence, first_sequence + count)
    ]
    replies = await asyncio.gather(
        *(_ack(port, data, within_s=10) for data in frames), return_exceptions=True
    )
    unanswered = [n for n, reply in enumerate(replies) if not isinstance(reply, bytes)]
    assert not unanswered, f"frames {unanswered} got no answer: {replies}"
    assert all(isinstance(reply, bytes) and b'"ACK"' in reply for reply in replies), replies


def _told_systemd(notify: socket.socket) -> list[str]:
    """The ``sd_notify`` messages the supervisor sent so far."""
    told = []
    with contextlib.suppress(BlockingIOError):
        while True:
            told.append(notify.recv(4096).decode())
    return told


async def test_ready_once_every_child_is_and_again_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))  # the supervisor's own
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
        workers = [c for c in supervisor.children if c.role == "worker"]
        worker_pids = [c.process.pid for c in workers if c.process is not None]
        [consumers] = [c for c in supervisor.children if c.role == "consumers"]
        assert consumers.process is not None
        consumers_pid = consumers.process.pid
        # The consumers yield the CPU to the panels' path: niced below the rest.
        base = os.getpriority(os.PRIO_PROCESS, worker_pids[0])
        niced = os.getpriority(os.PRIO_PROCESS, consumers_pid)
        assert niced == min(19, base + NICENESS)
        assert writer.process is not None
        os.kill(writer.process.pid, signal.SIGKILL)
        await _until(lambda: not supervisor.ready(), 10, "not ready while the writer is down")
        await _until(lambda: not supervisor.health()[0], 10, "unhealthy while it is down")
        # Each worker lost its connection to the writer and said so: not ready either.
        await _until(
            lambda: not any(c.connected or c.ready.is_set() for c in workers),
            10,
            "every worker not ready while the writer is down",
        )
        ready, reason = supervisor.readiness()
        assert not ready
        assert reason.startswith("not ready: waiting for ")
        assert {"worker-0", "worker-1"} <= set(reason.split(": ")[-1].split(", "))
        await _until(supervisor.ready, 60, "ready again")
        # Ready means every worker is connected to the new writer: frames sent once, each on a
        # new connection (the kernel spreads them over both workers), all ACKed at once.
        await _acked_at_once(port, 2, 12)
        # The same workers and consumers: told that the writer is back (SIGUSR1, fatal to a
        # process without a handler for it), they reconnected.
        assert [c.process.pid for c in workers if c.process is not None] == worker_pids
        assert consumers.process is not None and consumers.process.pid == consumers_pid
        await _until(lambda: supervisor.health()[0], 10, "healthy again")
        # systemd's STATUS= followed: the children waited for, then receiving again.
        statuses = [m for m in _told_systemd(notify) if m.startswith("STATUS=")]
        assert statuses[0].startswith("STATUS=not ready: waiting for "), statuses
        assert statuses[-1].startswith("STATUS=receiving dc09="), statuses

        supervisor.reload()  # what SIGHUP does; nothing changed, every child still serves
        assert b'"ACK"' in await _ack(port, frame("1234", "#1234|Nri1/BA14", sequence=14))
    finally:
        supervisor.stop()
        assert await asyncio.wait_for(running, 60) == 0
        notify.close()
    assert all(c.process is not None and c.process.returncode == 0 for c in supervisor.children)
    assert not supervisor.runtime.directory.exists()
