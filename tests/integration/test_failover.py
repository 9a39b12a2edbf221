"""Failover with load running: receiver nodes on one PostgreSQL journal (a primary with a
synchronous standby, tests/postgres.py), panels with a primary and a backup receiver address
(tests/panels.py), a real mosquitto. Each test kills or cuts something, and ends with
``alarmrx journal verify`` passing and every event ACKed before and after in the journal
exactly once and published over MQTT.

1. SIGKILL of the node running the consumers: the panels move to their backup address, the
   other node takes over the rules and the publisher.
2. SIGKILL of the PostgreSQL primary, with commits in flight (the standby paused so they
   wait on it), and promotion of the standby: the nodes find the new primary by themselves
   (multi-host ``dsn``, ``target_session_attrs=read-write``); the panels whose commits failed
   got no ACK and retried.
3. A partition between a node and the database (tests/proxy.py): the node stops ACKing,
   ``/readyz`` says why, and it ACKs again once the path is back.

The CI variant loads for a few seconds around each failure; ``ALARMRX_LONG_FAILOVER=1``
runs more panels for longer (docs/deployment.md, "Testing a failover").
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, frame
from tests.mosquitto import Mosquitto, Subscriber
from tests.panels import Event, Panels, accounts
from tests.postgres import Database, PostgreSQL, Replicated
from tests.proxy import Proxy

from alarmrx.receiver.handler import COMMIT_TIMEOUT_S

pytestmark = pytest.mark.integration

LONG = os.environ.get("ALARMRX_LONG_FAILOVER") == "1"
PANELS = 40 if LONG else 10
ACKED_AROUND = 2000 if LONG else 30  # events ACKed before the failure, and again after it
TAKEOVER_S = 3.0  # [journal] takeover_s, the least the daemon takes
WAIT_S = 300.0 if LONG else 45.0
EVENTS_TOPIC = "alarmrx/v1/events/"


def node_config(directory: Path, name: str, dsn: str, db: Database, mqtt_url: str) -> Path:
    """A node on the shared PostgreSQL journal, publishing to ``mqtt_url``, serving the
    panels' accounts and one more (``probe_account``)."""
    directory.mkdir(parents=True, exist_ok=True)
    served = "".join(f'\n[[accounts]]\naccount = "{a.account}"\n' for a in accounts(PANELS + 1))
    text = f"""
[receiver]
id = "{name}"
listen = ["127.0.0.1:0"]
workers = 1
connection_rate = 1000000.0
connection_burst = 1000000

[journal]
backend = "postgresql"
dsn = "{dsn}"
password_file = "{db.password_file}"
takeover_s = {TAKEOVER_S}

[metrics]
listen = "127.0.0.1:0"

[logging]
format = "json"
level = "info"

[mqtt]
url = "{mqtt_url}"
{served}"""
    path = directory / "alarmrx.toml"
    path.write_text(text)
    return path


def probe_account() -> str:
    """An account no panel of ``Panels(…, accounts(PANELS))`` sends for."""
    return accounts(PANELS + 1)[-1].account


def alarmrx(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "alarmrx", *argv]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def migrate(config: Path) -> None:
    done = alarmrx("journal", "migrate", "--config", str(config))
    assert done.returncode == 0, done.stderr


def journaled(config: Path) -> Counter[tuple[str, str]]:
    """(account, sequence) of every panel message in the journal (all chains), counted."""
    done = alarmrx("journal", "query", "--config", str(config))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return Counter((row["account"], row["sequence"]) for row in rows if row.get("sequence"))


def http(port: int, path: str) -> tuple[int, str]:
    """Status and body of ``GET path`` on a node's metrics listener."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def consumers_active(node: Daemon) -> bool:
    """The node's ``alarmrx_consumers_active`` gauge reads 1."""
    if node.process is None or node.process.poll() is not None:
        return False
    _, text = http(node.metrics_port, "/metrics")
    return any(
        line.split()[-1] in {"1", "1.0"}
        for line in text.splitlines()
        if line.startswith("alarmrx_consumers_active")
    )


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (in a thread: it may block) until it holds; fail after
    ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not reached within {WAIT_S} s: {what}"
        await asyncio.sleep(0.1)


async def check_outcome(panels: Panels, config: Path, subscriber: Subscriber) -> list[Event]:
    """What every test ends with: the chains verify; every ACKed event is in the journal
    exactly once and was published."""
    events = panels.events
    acked = [e.key for e in events if e.acked_by is not None]
    verified, stored = await asyncio.gather(
        asyncio.to_thread(alarmrx, "journal", "verify", "--config", str(config)),
        asyncio.to_thread(journaled, config),
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert [key for key in acked if stored[key] != 1] == []

    def published() -> set[tuple[str, str]]:
        return {(p["account"], p["sequence"]) for p in subscriber.json(EVENTS_TOPIC)}

    await subscriber.wait_until(lambda _s: set(acked) <= published(), WAIT_S)
    return events


@pytest.fixture
def replicated() -> Iterator[Replicated]:
    pair = Replicated()
    yield pair
    pair.destroy()


@pytest.fixture
async def subscriber(mosquitto: Mosquitto) -> AsyncIterator[Subscriber]:
    async with Subscriber(mosquitto.port, f"{EVENTS_TOPIC}#") as client:
        yield client


async def start(config: Path) -> Daemon:
    return await asyncio.to_thread(Daemon(config).start)


async def test_the_consumers_move_when_their_node_is_killed(
    tmp_path: Path, replicated: Replicated, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    db = replicated.create_database()
    dsn = replicated.dsn(db)
    first = node_config(tmp_path / "a", "rx-a", dsn, db, mosquitto.url)
    second = node_config(tmp_path / "b", "rx-b", dsn, db, mosquitto.url)
    migrate(first)
    a = await start(first)  # first up: it takes the consumers
    b = await start(second)
    try:
        await wait_for(lambda: consumers_active(a) and not consumers_active(b), "a active")
        with Panels((a.port, b.port), accounts(PANELS)) as panels:
            await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S)
            await asyncio.to_thread(a.kill)
            killed_at = time.monotonic()
            await wait_for(lambda: consumers_active(b), "b takes the consumers over")
            await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S, since=killed_at)
            await asyncio.to_thread(panels.stop)
        events = await check_outcome(panels, second, subscriber)
        assert {e.acked_by for e in events} == {a.port, b.port}
    finally:
        await asyncio.to_thread(b.kill)
        a.kill()


async def test_the_nodes_follow_a_promoted_standby(
    tmp_path: Path, replicated: Replicated, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    db = replicated.create_database()
    dsn = replicated.dsn(db)
    first = node_config(tmp_path / "a", "rx-a", dsn, db, mosquitto.url)
    second = node_config(tmp_path / "b", "rx-b", dsn, db, mosquitto.url)
    migrate(first)
    a, b = await asyncio.gather(start(first), start(second))  # either may run the consumers
    try:
        with Panels((a.port, b.port), accounts(PANELS)) as panels:
            await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S)
            # the standby hangs, so commits wait on it; the primary dies with them in flight
            replicated.standby.pause()
            await wait_for(lambda: replicated.commits_waiting() > 0, "commits waiting")
            # nothing is ACKed meanwhile, and /readyz says so rather than stay ready
            await wait_for(lambda: http(a.metrics_port, "/readyz")[0] == 503, "a not ready")
            _, reason = await asyncio.to_thread(http, a.metrics_port, "/readyz")
            assert reason.startswith("journal: postgresql commits not confirmed"), reason
            await asyncio.to_thread(replicated.fail_over)
            failed_over_at = time.monotonic()
            await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S, since=failed_over_at)
            await asyncio.to_thread(panels.stop)
        events = await check_outcome(panels, first, subscriber)
        # the commits cut by the primary's death were not ACKed: their events were sent again
        # (and, ACKed on the retry, are in the promoted standby's journal once)
        assert any(e.attempts > 1 and e.acked_by is not None for e in events)
        assert a.process is not None and a.process.poll() is None  # reconnected, not restarted
        assert b.process is not None and b.process.poll() is None
    finally:
        await asyncio.to_thread(a.kill)
        b.kill()


async def test_a_node_cut_from_the_database_stops_acking_and_resumes(
    tmp_path: Path, postgres_cluster: PostgreSQL, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    db = postgres_cluster.create_database()
    with Proxy(postgres_cluster.port) as proxy:
        direct = f"host=127.0.0.1 port={postgres_cluster.port} dbname={db.name} user=alarmrx"
        cut = f"host=127.0.0.1 port={proxy.port} dbname={db.name} user=alarmrx"
        first = node_config(tmp_path / "a", "rx-a", cut, db, mosquitto.url)
        second = node_config(tmp_path / "b", "rx-b", direct, db, mosquitto.url)
        migrate(second)
        a, b = await asyncio.gather(start(first), start(second))  # either may run the consumers
        try:
            with Panels((a.port, b.port), accounts(PANELS)) as panels:
                await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S)
                proxy.block()
                blocked_at = time.monotonic()
                await wait_for(lambda: http(a.metrics_port, "/readyz")[0] == 503, "a not ready")
                _, reason = await asyncio.to_thread(http, a.metrics_port, "/readyz")
                assert "journal" in reason.lower() or "database" in reason.lower(), reason
                probe = frame(probe_account(), "Nri1/BA001", sequence=1)
                # past its commit deadline a frame is never ACKed: waiting longer shows nothing
                reply = await asyncio.to_thread(exchange_tcp, a.port, [probe], COMMIT_TIMEOUT_S + 1)
                assert b'"ACK"' not in reply[0], reply  # ready or not, it does not ACK
                await asyncio.to_thread(panels.wait_acked, ACKED_AROUND, WAIT_S, since=blocked_at)
                proxy.unblock()
                await wait_for(lambda: http(a.metrics_port, "/readyz")[0] == 200, "a ready")
                with Panels((a.port,), accounts(PANELS + 1)[-1:]) as again:
                    await asyncio.to_thread(again.wait_acked, 3, WAIT_S)
                await asyncio.to_thread(panels.stop)
            events = await check_outcome(panels, second, subscriber)
            assert any(e.attempts > 1 for e in events)
            assert a.process is not None and a.process.poll() is None
        finally:
            await asyncio.to_thread(a.kill)
            b.kill()
