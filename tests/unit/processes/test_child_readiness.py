"""What the supervisor makes of a child's ``sd_notify`` lines: a receiver worker on SQLite
counts as ready only after READY=1 and only while it is connected to the journal writer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from alarmrx.observability.sdnotify import JOURNAL_CONNECTED, JOURNAL_LOST
from alarmrx.processes.supervisor import Child


@pytest.fixture
def notify() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        yield sock


def _started(notify: socket.socket, *, tells_journal: bool) -> Child:
    child = Child("worker-0", "worker", [], notify, tells_journal)
    child.forget()  # what the supervisor does as it starts the process
    return child


def test_a_worker_is_ready_only_while_connected_to_the_writer(notify: socket.socket) -> None:
    child = _started(notify, tells_journal=True)
    child.heard("READY=1")
    assert not child.ready.is_set()
    child.heard(JOURNAL_CONNECTED)
    assert child.ready.is_set()
    child.heard(JOURNAL_LOST)
    assert not child.ready.is_set()
    child.heard(f"WATCHDOG=1\n{JOURNAL_CONNECTED}")
    assert child.ready.is_set()


def test_connected_before_ready_counts_once_ready_comes(notify: socket.socket) -> None:
    child = _started(notify, tells_journal=True)
    child.heard(JOURNAL_CONNECTED)
    assert not child.ready.is_set()
    child.heard("READY=1")
    assert child.ready.is_set()


def test_a_restarted_worker_starts_unconnected(notify: socket.socket) -> None:
    child = _started(notify, tells_journal=True)
    child.heard(f"{JOURNAL_CONNECTED}\nREADY=1")
    child.forget()  # the process exited; a new one is started
    assert not child.ready.is_set()
    child.heard("READY=1")
    assert not child.ready.is_set()


def test_a_child_that_does_not_tell_is_ready_on_ready(notify: socket.socket) -> None:
    child = _started(notify, tells_journal=False)  # the writer, the consumers, PostgreSQL
    child.heard("READY=1")
    assert child.ready.is_set()
