"""What a ``RemoteJournal`` says of its connection to the writer (a receiver worker passes it
on to the supervisor, which counts the worker ready only while connected), and a reconnection
asked for at once (the supervisor's word that a restarted writer is ready); on a real Unix
socket and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from alarmrx.journal import Journal, remote
from alarmrx.journal.remote import RemoteJournal
from alarmrx.journal.service import JournalService


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("not within 10 s")


async def test_the_connection_is_told_as_it_comes_goes_and_comes_back(
    journal: Journal, path: Path, tmp_path: Path
) -> None:
    sock = tmp_path / "writer.sock"
    told: list[bool] = []
    service = JournalService(journal, sock)
    await service.start()
    client = await RemoteJournal.connect(path, sock, on_connection=told.append)
    try:
        await _until(lambda: told == [True])
        await service.close()
        await _until(lambda: told == [True, False])
        service = JournalService(journal, sock)
        await service.start()
        await _until(lambda: told == [True, False, True])
    finally:
        await client.close()
        await service.close()


async def test_reconnect_now_does_not_wait_for_the_next_retry(
    journal: Journal, path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "RECONNECT_S", 3600.0)
    sock = tmp_path / "writer.sock"
    told: list[bool] = []
    client = await RemoteJournal.connect(
        path, sock, subscribe=False, within_s=None, on_connection=told.append
    )
    service = JournalService(journal, sock)
    try:
        # The first try failed (no writer yet); the next one is an hour away.
        await _until(lambda: (client.last_error or "").startswith("journal writer unavailable:"))
        await service.start()
        client.reconnect_now()
        await _until(lambda: told == [True])
        assert client.healthy
    finally:
        await client.close()
        await service.close()
