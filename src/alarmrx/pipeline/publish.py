"""The MQTT publisher: tails the journal and publishes the contract (docs/mqtt.md) at QoS 1.

The only module that imports aiomqtt. One connection at a time; every failure ends the
connection, waits a capped, jittered backoff and reconnects; the cursor advances only after
the broker acknowledged every message of a window (``outbox.py``), so an outage or a crash
delays publication and never drops an event. ``run()`` returns only by cancellation, after
publishing the retained ``offline`` status and disconnecting.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alarmrx.pipeline.broker import Backoff, parse_url
from alarmrx.pipeline.discovery import Discovery
from alarmrx.pipeline.interfaces import (
    AccountsSource,
    FailureReason,
    JournalTail,
    MQTTOptions,
    NoMetrics,
    PublisherMetrics,
    StrPath,
)
from alarmrx.pipeline.outbox import Outbox, Outgoing, Plan, encode
from alarmrx.pipeline.payloads import ReceiverInfo, offline_payload, status_payload
from alarmrx.pipeline.topics import Topics

log = structlog.get_logger("alarmrx.pipeline.publish")

_PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}
_INFLIGHT = 100  # QoS 1 messages on the wire before the first PUBACK must come back
# publications awaiting their PUBACK at once (aiomqtt's bookkeeping is linear in this)
_PIPELINE = _INFLIGHT
_GOODBYE_S = 2.0  # how long a shutdown waits to publish "offline"


class _DisconnectedError(Exception):
    """The connection dropped (the messages iterator ended)."""


async def _in_group(start: Callable[[asyncio.TaskGroup], Awaitable[None]]) -> None:
    """Run ``start(group)`` and the tasks it creates; the first failure cancels the others
    and is raised as itself (not as an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            await start(group)
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None


async def _first_failure(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run ``jobs`` together until the first one fails; raise its exception."""

    async def start(group: asyncio.TaskGroup) -> None:
        for job in jobs:
            group.create_task(job)

    await _in_group(start)


def _path(path: StrPath | None) -> str | None:
    return None if path is None else os.fspath(path)


def _failure_reason(exc: BaseException, connected: bool) -> FailureReason:
    if isinstance(exc, TimeoutError):
        return FailureReason.TIMEOUT
    if isinstance(exc, aiomqtt.MqttCodeError) and not connected:
        return FailureReason.REFUSED
    if isinstance(exc, aiomqtt.MqttError | OSError | _DisconnectedError):
        return FailureReason.DISCONNECTED if connected else FailureReason.CONNECT
    return FailureReason.ERROR


class MQTTPublisher:
    """Publishes the journal to one broker; built by ``app.py``, run in its TaskGroup."""

    def __init__(
        self,
        settings: MQTTOptions,
        *,
        receiver_id: str,
        journal: JournalTail,
        accounts: AccountsSource,
        metrics: PublisherMetrics | None = None,
        version: str,
        listeners: Iterable[str] = (),
        backoff: Backoff | None = None,
        window: int = 2000,
        status_interval_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._address = parse_url(settings.url)
        self._topics = Topics(settings.topic_root, receiver_id)
        discovery = Discovery(settings.ha_prefix, self._topics) if settings.ha_discovery else None
        self.outbox = Outbox(
            journal, topics=self._topics, accounts=accounts, discovery=discovery, window=window
        )
        self._metrics = metrics or NoMetrics()
        self._backoff = backoff or Backoff()
        self._status_interval_s = status_interval_s
        self._clock = clock
        self._info = ReceiverInfo(
            receiver_id=receiver_id, version=version, listeners=tuple(listeners),
            started_at=clock(),
        )  # fmt: skip
        self._qos = settings.qos if settings.qos in (1, 2) else 1
        self._properties = self._publish_properties()

    async def run(self) -> None:
        """Publish until cancelled; broker trouble is logged, counted and retried."""
        await self.outbox.restore()
        self._metrics.mqtt_publish_backlog(self.outbox.backlog)
        log.info("mqtt_state_restored", cursor=self.outbox.cursor,
                 accounts=len(self.outbox.book.accounts))  # fmt: skip
        attempt = 0
        while True:
            connected = await self._connect_once()
            attempt = 0 if connected else attempt + 1
            delay = self._backoff.delay(attempt, random.random)
            log.info("mqtt_reconnect_scheduled", retry_in_s=round(delay, 3), attempt=attempt)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> bool:
        """One connection, until it fails; True if it got connected at all."""
        connected = False
        try:
            async with self._client() as client:
                connected = True
                self.outbox.reconnected()
                self._metrics.mqtt_connected(True)
                log.info("mqtt_connected", host=self._address.host, port=self._address.port)
                await self._serve_until_cancelled(client)
        except Exception as exc:  # noqa: BLE001 - task root: every failure means reconnect
            self._failed(exc, connected)
        finally:
            self._metrics.mqtt_connected(False)
        return connected

    def _failed(self, exc: Exception, connected: bool) -> None:
        reason = _failure_reason(exc, connected)
        self._metrics.mqtt_publish_failed(reason.value)
        if reason is FailureReason.ERROR:
            log.exception("mqtt_failed", reason=reason.value)
        else:
            log.warning("mqtt_failed", reason=reason.value, error=str(exc) or type(exc).__name__)

    async def _serve_until_cancelled(self, client: aiomqtt.Client) -> None:
        try:
            await _first_failure(self._watch(client), self._serve(client))
        except asyncio.CancelledError:
            await self._goodbye(client)
            raise

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """On shutdown: the retained status says offline (a clean DISCONNECT sends no will)."""
        try:
            async with asyncio.timeout(_GOODBYE_S):
                await self._send(client, self._offline())
            log.info("mqtt_offline_published")
        except (aiomqtt.MqttError, TimeoutError) as exc:
            log.warning("mqtt_offline_not_published", error=str(exc))

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Returns only by raising, when the connection drops (nothing is subscribed)."""
        async for _message in client.messages:
            pass
        raise _DisconnectedError

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Status first, then window after window; waits for the journal when caught up."""
        status_due = 0.0
        while True:
            if time.monotonic() >= status_due:
                await self._send(client, self._status())
                status_due = time.monotonic() + self._status_interval_s
            records = await self.outbox.window()
            plan = self.outbox.plan(records)
            await self._send_plan(client, plan)
            await self.outbox.commit(plan)
            self._metrics.mqtt_publish_backlog(self.outbox.backlog)
            if not records:
                await self._idle(min(status_due - time.monotonic(), self.outbox.refresh_in()))

    async def _idle(self, seconds: float) -> None:
        """Until the journal has a record after the cursor, or ``seconds`` passed."""
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self.outbox.journal.wait_for(self.outbox.cursor)
        except TimeoutError:
            return

    async def _send_plan(self, client: aiomqtt.Client, plan: Plan) -> None:
        """Every message of ``plan``, pipelined in order; returns once all were acked."""
        latencies: list[float] = []
        slots = asyncio.Semaphore(_PIPELINE)

        async def send(message: Outgoing) -> None:
            try:
                await self._send(client, message)
            finally:
                slots.release()
            if message.received_at is not None:
                latencies.append((self._clock() - message.received_at).total_seconds())

        async def send_all(group: asyncio.TaskGroup) -> None:
            for message in plan.messages:  # tasks start in creation order: so do the PUBLISHes
                await slots.acquire()
                group.create_task(send(message))

        if plan.messages:
            await _in_group(send_all)
            self._metrics.mqtt_published(latencies)

    async def _send(self, client: aiomqtt.Client, message: Outgoing) -> None:
        """One publication, acknowledged (QoS 1 PUBACK) within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await client.publish(
                message.topic, message.payload, qos=self._qos, retain=message.retain,
                properties=self._properties, timeout=float("inf"),
            )  # fmt: skip

    def _status(self) -> Outgoing:
        payload = status_payload(self._info, self._clock())
        return Outgoing(self._topics.status, encode(payload), retain=True)

    def _offline(self) -> Outgoing:
        payload = offline_payload(self._info.receiver_id)
        return Outgoing(self._topics.status, encode(payload), retain=True)

    def _publish_properties(self) -> Properties | None:
        """MQTT 5: say the payload is UTF-8 JSON (content type, payload format indicator)."""
        if self._settings.protocol != "5":
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/json"
        properties.PayloadFormatIndicator = 1
        return properties

    def _client(self) -> aiomqtt.Client:
        settings = self._settings
        offline = self._offline()
        client = aiomqtt.Client(
            self._address.host,
            self._address.port,
            username=settings.username,
            password=settings.password,
            identifier=settings.client_id or f"alarmrx-{self._info.receiver_id}",
            protocol=_PROTOCOLS[settings.protocol],
            will=aiomqtt.Will(offline.topic, offline.payload, qos=1, retain=True),
            timeout=settings.publish_timeout_s,
            keepalive=max(1, round(settings.keepalive_s)),
            max_inflight_messages=_INFLIGHT,
            tls_params=self._tls(),
            tls_insecure=settings.tls_insecure if self._address.tls else None,
        )
        # aiomqtt warns above this many calls in flight; a window pipelines thousands.
        client.pending_calls_threshold = 1 << 30
        return client

    def _tls(self) -> aiomqtt.TLSParameters | None:
        """TLS for ``mqtts://``: the CA (else the system's), the client certificate and key."""
        if not self._address.tls:
            return None
        settings = self._settings
        return aiomqtt.TLSParameters(
            ca_certs=_path(settings.tls_ca),
            certfile=_path(settings.tls_cert),
            keyfile=_path(settings.tls_key),
        )
