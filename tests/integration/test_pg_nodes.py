"""Several ``alarmrx run`` nodes on one PostgreSQL journal (docs/deployment.md): every frame
is journaled once whichever node it reached, each node keeps its own verifiable chain, one
node's consumers are active and publish to a real mosquitto, and when that node is killed
another takes over within ``takeover_s`` without doubling a derived record."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, write_config
from tests.hostile.support import http_get, metric, wait_until
from tests.mosquitto import Mosquitto, Subscriber
from tests.postgres import Database

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
    started: list[Node] = []
    try:
        for name, config in zip(("rx1", "rx2"), configs, strict=True):
            started.append(Node(name, Daemon(config).start()))
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
