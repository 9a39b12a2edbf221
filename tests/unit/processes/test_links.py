"""The link channel between receiver workers and the consumers process, on real Unix sockets:
link reports to supervision."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alarmrx.processes.links import LinkSender, bind_datagrams, receive_links

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def test_every_link_report_reaches_supervision(tmp_path: Path) -> None:
    heard: list[tuple[object, ...]] = []
    all_in = asyncio.Event()

    def observe(*report: object) -> None:
        heard.append(report)
        if len(heard) == 600:
            all_in.set()

    sock = bind_datagrams(tmp_path / "links.sock")
    receiving = asyncio.create_task(receive_links(sock, observe))
    dropped: list[int] = []
    sender = LinkSender(tmp_path / "links.sock", lambda: dropped.append(1))
    for n in range(600):  # more than one datagram's worth in one turn of the loop
        sender(f"{n:04d}", "R1", "L1", "tcp", "127.0.0.1:5000", T0)
    async with asyncio.timeout(10):
        await all_in.wait()
    receiving.cancel()
    sender.close()
    sock.close()
    assert dropped == []
    assert heard[0] == ("0000", "R1", "L1", "tcp", "127.0.0.1:5000", T0)
    assert [report[0] for report in heard] == [f"{n:04d}" for n in range(600)]


async def test_reports_without_a_listener_are_dropped_and_counted(tmp_path: Path) -> None:
    dropped: list[int] = []
    sender = LinkSender(tmp_path / "nobody.sock", lambda: dropped.append(1))
    sender("1234", None, None, "udp", "127.0.0.1:5000", T0)
    sender("5678", None, None, "udp", "127.0.0.1:5000", T0)
    async with asyncio.timeout(5):
        while len(dropped) < 2:  # noqa: ASYNC110 - the sender flushes at the next loop turn
            await asyncio.sleep(0)
    sender.close()
    assert len(dropped) == 2


async def test_a_failing_observer_ends_the_receiving_task_with_its_error(tmp_path: Path) -> None:
    def observe(*report: object) -> None:
        raise RuntimeError(f"observer failed on {report[0]}")

    sock = bind_datagrams(tmp_path / "links.sock")
    receiving = asyncio.create_task(receive_links(sock, observe))
    sender = LinkSender(tmp_path / "links.sock", lambda: None)
    sender("0042", "R1", "L1", "tcp", "127.0.0.1:5000", T0)
    async with asyncio.timeout(10):
        results = await asyncio.gather(receiving, return_exceptions=True)
    sender.close()
    sock.close()
    assert [str(error) for error in results] == ["observer failed on 0042"]
