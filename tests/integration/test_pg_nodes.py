"""Several ``alarmrx run`` nodes on one PostgreSQL journal (docs/deployment.md): every frame
is journaled once whichever node it reached, each node keeps its own verifiable chain, one
node's consumers are active and publish to a real mosquitto, and when that node is killed
another takes over within ``takeover_s`` without doubling a derived record."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, write_config
from tests.hostile.support import http_get, metric, wait_until
from tests.mosquitto import Mosquitto, Subscriber
from tests.postgres import Database, PostgreSQL

from alarmrx.cli import main

pytestmark = pytest.mark.integration

TAKEOVER_S = 4.0
# Supervision of 1234 fires quickly, so a takeover has derived records to conclude.
ACCOUNTS = [
    'account = "1234"',
    'account = "5678"\nsupervision = { interval_s = 3, grace_s = 0 }',
]


@dataclass
class Node:
    name: str
    daemon: Daemon

    @property
    def port(self) -> int:
        return self.daemon.port

    def readyz(self) -> tuple[int, str]:
        return http_get(self.daemon.metrics_port, "/readyz")

    def active(self) -> bool:
        return metric(self.daemon, "alarmrx_consumers_active") == 1.0


def node_config(directory: Path, db: Database, name: str, mqtt_port: int | None) -> Path:
    directory.mkdir()
    journal = (
        f'backend = "postgresql"\ndsn = "{db.dsn}"\npassword_file = "{db.password_file}"\n'
        f"takeover_s = {TAKEOVER_S}"
    )
    mqtt = f'url = "mqtt://127.0.0.1:{mqtt_port}"' if mqtt_port else None
    return write_config(
        directory,
        accounts=ACCOUNTS,
        receiver="workers = 2",
        journal=journal,
        mqtt=mqtt,
        log_level="info",
        receiver_id=name,
    )


def migrate(config: Path) -> None:
    assert main(["journal", "migrate", "--config", str(config)]) == 0


def journal(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alarmrx", "journal", *argv, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def records(config: Path) -> list[dict[str, Any]]:
    done = journal(config, "query")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture
def nodes(tmp_path: Path, postgres: Database, mosquitto: Mosquitto) -> Iterator[list[Node]]:
    configs = [node_config(tmp_path / n, postgres, n, mosquitto.port) for n in ("rx1", "rx2")]
    migrate(configs[0])
    started = [Node(n, Daemon(c)) for n, c in zip(("rx1", "rx2"), configs, strict=True)]
    try:
        with ThreadPoolExecutor(len(started)) as pool:  # at once: either may win the consumers
            list(pool.map(Daemon.start, (node.daemon for node in started)))
        yield started
    finally:
        for node in started:
            if node.daemon.process is not None and node.daemon.process.poll() is None:
                node.daemon.terminate()


def one_active(nodes: list[Node]) -> Node:
    """The node whose consumers are active, once exactly one is."""
    found: list[Node] = []

    def exactly_one() -> bool:
        found[:] = [n for n in nodes if n.active()]
        return len(found) == 1

    wait_until(exactly_one, TAKEOVER_S * 3, "exactly one node's consumers active")
    return found[0]


def acked(reply: bytes) -> bool:
    return b'"ACK"' in reply


async def test_two_nodes_journal_once_verify_and_publish_from_one(
    nodes: list[Node], mosquitto: Mosquitto
) -> None:
    active = one_active(nodes)
    standby = next(n for n in nodes if n is not active)
    status, body = active.readyz()
    assert (status, body.strip()) == (200, "ready; consumers active")
    status, body = standby.readyz()
    assert (status, body.strip()) == (200, "ready; consumers standby")

    async with Subscriber(mosquitto.port, "alarmrx/v1/events/#") as sub:
        replies = [
            *exchange_tcp(nodes[0].port, [frame("1234", "#1234|Nri1/BA01", sequence=1)]),
            *exchange_tcp(nodes[1].port, [frame("1234", "#1234|Nri1/BA02", sequence=2)]),
        ]
        assert all(acked(r) for r in replies)
        # One frame to both nodes (the first ACK lost, the panel tried its backup).
        again = frame("1234", "#1234|Nri1/BA03", sequence=3)
        assert acked(exchange_udp(nodes[0].port, again))
        assert acked(exchange_udp(nodes[1].port, again))
        await sub.wait_until(lambda s: len(_zones(s)) >= 3, TAKEOVER_S * 5)
        assert sorted(_zones(sub)) == ["BA01", "BA02", "BA03"]
    config = nodes[0].daemon.config
    messages = [r for r in records(config) if r["kind"] == "message"]
    assert len(messages) == 3
    assert {r["chain"] for r in messages} == {"rx1", "rx2"}
    [repeated] = [r for r in messages if r["repeats"]]
    assert repeated["repeats"] == 1
    done = journal(config, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain rx1: ok" in done.stdout and "chain rx2: ok" in done.stdout


def _zones(sub: Subscriber) -> list[str]:
    return [
        f"{e['code']}{e['zone']:02d}" if isinstance(e.get("zone"), int) else str(e.get("code"))
        for e in sub.json("alarmrx/v1/events/1234")
        if e.get("type") == "panel"
    ]


def test_check_accepts_a_postgresql_config(tmp_path: Path, postgres: Database) -> None:
    config = node_config(tmp_path / "rx1", postgres, "rx1", None)
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    bad = config.read_text().replace(f"takeover_s = {TAKEOVER_S}", 'takeover_s = "soon"')
    config.write_text(bad)
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(n for n, text in enumerate(bad.splitlines(), 1) if text.startswith("takeover_s"))
    assert done.returncode == 78
    assert done.stderr.startswith(f"{config}:{line}: journal.takeover_s: ")


def wait_s(since: float) -> float:
    return time.monotonic() - since


def derived(config: Path) -> list[tuple[str, str]]:
    """(type, account) of every derived record in the journal."""
    return [
        (str(r["body"]["type"]), str(r["account"]))
        for r in records(config)
        if r["kind"] == "derived"
    ]


def concluded(db: Database, kind: str, account: str) -> int:
    """Derived records of ``kind`` for ``account`` in the journal, read directly."""
    with psycopg.connect(db.dsn_with_password) as conn:
        row = conn.execute(
            "SELECT count(*) FROM alarmrx.records WHERE kind = 'derived' AND account = %s "
            "AND body::jsonb ->> 'type' = %s",
            (account, kind),
        ).fetchone()
    return int(row[0]) if row else 0


async def until_concluded(db: Database, kind: str, account: str, count: int) -> None:
    """Poll the journal (another process writes it: nothing here to wait on) for 30 s."""
    for _ in range(150):
        if concluded(db, kind, account) >= count:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"not {count} {kind} for {account} within 30 s")


def _published(sub: Subscriber, kind: str, account: str) -> int:
    return sum(1 for e in sub.json(f"alarmrx/v1/events/{account}") if e.get("type") == kind)


async def test_link_tests_to_the_standby_keep_supervision_quiet(
    nodes: list[Node], postgres: Database
) -> None:
    """Link tests are not journaled: the standby's reach the active rules through the
    shared table, so an account reporting only to the standby is not lost."""
    active = one_active(nodes)
    standby = next(n for n in nodes if n is not active)
    # Supervision runs: the silent account is lost, then restored by a frame.
    await until_concluded(postgres, "supervision.lost", "5678", 1)
    assert acked(exchange_tcp(standby.port, [frame("5678", "#5678|Nri1/RP00")])[0])
    await until_concluded(postgres, "supervision.restored", "5678", 1)
    # Link tests to the standby only, for three intervals: no loss.
    until = time.monotonic() + 9.0
    sequence = 1
    while time.monotonic() < until:
        link = frame("5678", "", token="NULL", sequence=sequence)
        assert acked(exchange_udp(standby.port, link))
        sequence += 1
        await asyncio.sleep(1.0)
    assert concluded(postgres, "supervision.lost", "5678") == 1
    # Silence again: lost again, so the quiet above was the link tests' doing.
    await until_concluded(postgres, "supervision.lost", "5678", 2)


async def test_killing_the_active_node_hands_the_consumers_over(
    nodes: list[Node], mosquitto: Mosquitto, postgres: Database
) -> None:
    active = one_active(nodes)
    survivor = next(n for n in nodes if n is not active)
    config = survivor.daemon.config
    async with Subscriber(mosquitto.port, "alarmrx/v1/events/#") as sub:
        await until_concluded(postgres, "supervision.lost", "5678", 1)
        assert acked(exchange_tcp(active.port, [frame("1234", "#1234|Nri1/BA01")])[0])
        await sub.wait_until(lambda s: "BA01" in _zones(s), 30)
        killed = time.monotonic()
        active.daemon.kill()
        wait_until(survivor.active, TAKEOVER_S, "the survivor's consumers active")
        took = time.monotonic() - killed
        status, body = survivor.readyz()
        assert (status, body.strip()) == (200, "ready; consumers active")
        # What follows is published by the survivor; the loss is not concluded twice.
        assert acked(exchange_tcp(survivor.port, [frame("1234", "#1234|Nri1/BA02")])[0])
        assert acked(exchange_tcp(survivor.port, [frame("5678", "#5678|Nri1/RP00")])[0])
        await sub.wait_until(lambda s: "BA02" in _zones(s), 30)
        await sub.wait_until(lambda s: _published(s, "supervision.restored", "5678") == 1, 30)
        # Both nodes published with one id prefix: a redelivery after a takeover keeps its id.
        prefixes = {str(e["id"]).rsplit(":", 2)[0] for e in sub.json("alarmrx/v1/events/")}
        assert len(prefixes) == 1 and prefixes <= {"rx1", "rx2"}, prefixes
    found = derived(config)
    assert found.count(("supervision.lost", "5678")) == 1, found
    assert found.count(("supervision.restored", "5678")) == 1, found
    done = journal(config, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"takeover took {took:.2f} s")


def test_a_node_without_its_database_acks_nothing_and_comes_back(
    tmp_path: Path, own_postgres: PostgreSQL
) -> None:
    """The server stopped: no ACK, ``/readyz`` names the cause; started again: the node
    reconnects by itself, the panel's retry is ACKed, and its consumers are active again."""
    db = own_postgres.create_database()
    config = node_config(tmp_path / "rx1", db, "rx1", None)
    migrate(config)
    with Daemon(config) as daemon:
        node = Node("rx1", daemon)
        wait_until(node.active, TAKEOVER_S * 3, "the only node's consumers active")
        assert acked(exchange_udp(node.port, frame("1234", "#1234|Nri1/BA01", sequence=1)))
        own_postgres.stop("fast")
        wait_until(lambda: node.readyz()[0] == 503, 10, "/readyz 503 without the database")
        assert node.readyz()[1].startswith("journal: postgresql unreachable")
        assert http_get(daemon.metrics_port, "/healthz")[0] == 503
        retried = frame("1234", "#1234|Nri1/BA02", sequence=2)
        assert exchange_udp(node.port, retried, timeout=3.0) == b""
        wait_until(lambda: not node.active(), TAKEOVER_S, "consumers stopped without the lock")
        own_postgres.start()
        wait_until(lambda: node.readyz()[0] == 200, 30, "/readyz 200 with the database back")
        assert acked(exchange_udp(node.port, retried))
        wait_until(node.active, TAKEOVER_S * 3, "consumers active again")
    messages = [r for r in records(config) if r["kind"] == "message"]
    # the frame unanswered during the outage is stored once, on its retry; the chain goes on
    # (the rules' dispatch advice for BA01 may sit between the two)
    assert [r["body"]["events"][0]["code"] for r in messages] == ["BA", "BA"]
    assert [r["sequence"] for r in messages] == ["0001", "0002"]
    assert messages[0]["chain_seq"] == 1 < messages[1]["chain_seq"]
    done = journal(config, "verify")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_node_started_without_its_database_waits_for_it(
    tmp_path: Path, own_postgres: PostgreSQL
) -> None:
    db = own_postgres.create_database()
    config = node_config(tmp_path / "rx1", db, "rx1", None)
    migrate(config)
    own_postgres.stop("fast")
    with Daemon(config) as daemon:
        node = Node("rx1", daemon)
        status, body = node.readyz()
        assert status == 503 and body.startswith("journal: postgresql unreachable"), body
        data = frame("1234", "#1234|Nri1/BA01", sequence=1)
        assert exchange_udp(node.port, data, timeout=3.0) == b""
        own_postgres.start()
        wait_until(lambda: node.readyz()[0] == 200, 30, "/readyz 200 once the database is up")
        assert acked(exchange_udp(node.port, data))
        wait_until(node.active, TAKEOVER_S * 3, "consumers active once the database is up")
    assert [r["chain_seq"] for r in records(config) if r["kind"] == "message"] == [1]
