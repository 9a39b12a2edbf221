"""A real mosquitto broker for tests: own config in a temporary directory, a free loopback
port, started and stopped on demand (to simulate outages) and killed abruptly if asked.

Under ``CI=true`` a missing broker fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

BINARY = Path(os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto"))
START_TIMEOUT_S = 10.0


def require_binary() -> Path:
    """The broker binary; fail under CI, skip elsewhere, when it is missing."""
    found = BINARY if BINARY.exists() else shutil.which("mosquitto")
    if found:
        return Path(found)
    message = f"mosquitto not found at {BINARY} (apt-get install mosquitto)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files for a TLS listener that requires a client certificate."""

    ca: Path
    cert: Path
    key: Path


class Mosquitto:
    """One broker process; ``start``/``stop`` may be called repeatedly on the same port."""

    def __init__(
        self,
        directory: Path,
        *,
        tls: TLSFiles | None = None,
        persistent: bool = False,
        acl: str | None = None,
        anonymous: bool = True,
    ) -> None:
        self.binary = require_binary()
        self.directory = directory
        self.port = free_port()
        self.tls = tls
        self.persistent = persistent
        self.acl = acl  # an acl_file's text: what anonymous clients may publish
        self.anonymous = anonymous  # False: every client is refused (none has a password)
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._config_text())

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _config_text(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.anonymous else 'false'}",
            # when started as root, mosquitto switches to this user: stay the test's own,
            # which can read the temporary directory
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            # persistent: sessions and queued QoS 1 messages survive a clean restart, so a
            # test's subscriber misses nothing published while it reconnects
            f"persistence {'true' if self.persistent else 'false'}",
            f"persistence_location {self.directory}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
        ]
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        if self.tls:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
                "require_certificate true",
            ]
        return "\n".join(lines) + "\n"

    def reconfigure(self, *, acl: str | None) -> None:
        """A new ACL, taken at the next ``start``."""
        self.acl = acl
        self.config.write_text(self._config_text())

    def start(self) -> None:
        """Start and return once the port accepts connections."""
        assert self.process is None, "already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "-c", str(self.config)], stdout=log, stderr=log
            )
        self._wait_accepting()

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.01)  # polling the port, not waiting a fixed time
                continue
            return
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): clients see their connection closed."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """An abrupt stop (SIGKILL)."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        self.process.wait(timeout=10)
        self.process = None


Received = tuple[str, bytes, bool]


class Subscriber:
    """A real MQTT client subscribed at QoS 1, collecting (topic, payload, retain)."""

    def __init__(
        self,
        port: int,
        topic: str = "#",
        *,
        client_id: str | None = None,
        persistent: bool = False,
        **options: Any,
    ) -> None:
        self.port = port
        self.topic = topic
        self.client_id = client_id
        self.persistent = persistent
        self.options = options
        self.messages: list[Received] = []
        self.decoded: list[Any] = []  # each payload's JSON, parsed once on arrival
        self.ids: set[str] = set()  # the distinct event ids seen
        self._arrived = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._client = aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=self.client_id,
            clean_session=not self.persistent,
            **self.options,
        )
        await self._client.__aenter__()
        await self._client.subscribe(self.topic, qos=1)
        self._task = asyncio.create_task(self._collect(self._client))

    async def _collect(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.messages.append((str(message.topic), payload, bool(message.retain)))
                self.decoded.append(json.loads(payload) if payload else None)
                if isinstance(self.decoded[-1], dict) and "id" in self.decoded[-1]:
                    self.ids.add(self.decoded[-1]["id"])
                self._arrived.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)
        self._client = self._task = None

    async def __aenter__(self) -> Subscriber:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def json(self, prefix: str) -> list[dict[str, Any]]:
        """Payloads of the messages whose topic starts with ``prefix``, decoded."""
        return [
            d
            for (t, _, _), d in zip(self.messages, self.decoded, strict=True)
            if t.startswith(prefix)
        ]

    async def wait_until(
        self, predicate: Callable[[Subscriber], bool], within_s: float = 15.0
    ) -> None:
        """Until ``predicate(self)`` holds; fails the test after ``within_s``."""
        async with asyncio.timeout(within_s):
            while not predicate(self):
                self._arrived.clear()
                await self._arrived.wait()
