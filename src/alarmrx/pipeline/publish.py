"""The MQTT publisher: tails the journal and publishes the contract (docs/mqtt.md) at QoS 1.

The only module that imports aiomqtt. One connection at a time; every failure ends the
connection, waits a capped, jittered backoff and reconnects; the cursor advances only after
the broker acknowledged every message of a window (``outbox.py``), so an outage or a crash
delays publication and never drops an event. ``run()`` returns only by cancellation, after
publishing the retained ``offline`` status and disconnecting.

With a command handler (``RulesRunner.command``) it also serves the command topic
(``command_topic.py``): each request is handled in its own task (at most
``MAX_PENDING_COMMANDS`` at once) and answered at QoS 1; nothing a request carries can end
the connection.
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
from alarmrx.pipeline.command_topic import (
    CommandRequest,
    decode_request,
    is_command,
    reply_payload,
    reply_topic,
    subscription,
)
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
MAX_PENDING_COMMANDS = 32  # requests in progress at once; more are answered "busy"
COMMAND_TIMEOUT_S = 30.0  # a request not answered by then is answered "timed out"
_DRAIN_S = 2.0  # how long a dropped connection waits for requests in progress

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


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
        commands: CommandHandler | None = None,
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
        self._desk = CommandDesk(commands, self._topics, self._reply) if commands else None

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
        if self._desk is not None:
            await client.subscribe(subscription(self._topics), qos=1)
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

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Returns only by raising, when the connection drops; hands requests on the command
        topic to the desk."""
        desk = self._desk
        try:
            async for message in client.messages:
                if desk is not None and is_command(str(message.topic), self._topics):
                    desk.take(client, message)
        finally:
            if desk is not None:
                await desk.drain()
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

    async def _reply(
        self, client: aiomqtt.Client, topic: str, payload: bytes, correlation: bytes | None
    ) -> None:
        """One reply on the command topic, acknowledged within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await client.publish(topic, payload, qos=1, retain=False, timeout=float("inf"),
                                 properties=self._reply_properties(correlation))  # fmt: skip

    def _reply_properties(self, correlation: bytes | None) -> Properties | None:
        """MQTT 5: the JSON properties, and the request's correlation data echoed."""
        if self._properties is None:
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/json"
        properties.PayloadFormatIndicator = 1
        if correlation is not None:
            properties.CorrelationData = correlation
        return properties

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


Reply = Callable[[aiomqtt.Client, str, bytes, bytes | None], Awaitable[None]]


def _response_properties(message: aiomqtt.Message) -> tuple[str | None, bytes | None]:
    """MQTT 5 response topic and correlation data of a request (None under 3.1.1)."""
    properties = message.properties
    topic = getattr(properties, "ResponseTopic", None)
    correlation = getattr(properties, "CorrelationData", None)
    return (topic if isinstance(topic, str) else None,
            bytes(correlation) if isinstance(correlation, bytes | bytearray) else None)  # fmt: skip


class CommandDesk:
    """The command topic's requests, each served in its own task; a reply for each."""

    def __init__(self, handler: CommandHandler, topics: Topics, reply: Reply) -> None:
        self._handler = handler
        self._topics = topics
        self._reply = reply
        self._tasks: set[asyncio.Task[None]] = set()

    def take(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Start serving one request (answered "busy" when too many are in progress)."""
        request = decode_request(str(message.topic), bytes(message.payload), self._topics)
        if request.error is None and len(self._tasks) >= MAX_PENDING_COMMANDS:
            request = CommandRequest(request.account, request.request_id,
                                     error="busy: too many requests in progress")  # fmt: skip
        task = asyncio.create_task(self._serve(client, request, *_response_properties(message)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """The connection ended: let requests in progress finish briefly, then stop them."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_DRAIN_S)
        for task in set(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client: aiomqtt.Client, request: CommandRequest,
                     response_topic: str | None, correlation: bytes | None) -> None:  # fmt: skip
        try:
            reply = await self._answer(request)
            topic = reply_topic(request, response_topic, self._topics)
            if topic is None:
                log.warning("command_unanswerable", account=request.account, error=request.error)
                return
            await self._reply(client, topic, encode(reply_payload(request, reply)), correlation)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            log.warning("command_reply_failed", account=request.account, error=str(exc))
        except Exception:  # task root: a request must never end the connection
            log.exception("command_failed", account=request.account)

    async def _answer(self, request: CommandRequest) -> dict[str, Any]:
        if request.command is None:
            log.warning("command_malformed", account=request.account, error=request.error)
            return {"ok": False, "error": request.error}
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                return await self._handler(request.command)
        except TimeoutError:
            log.warning("command_timed_out", account=request.account)
            return {"ok": False, "error": "timed out; the journal shows whether it was recorded"}
