"""The MQTT publisher: tails the journal and publishes the contract (docs/mqtt.md) at QoS 1.

The only module that imports aiomqtt. One connection at a time; every failure ends the
connection, waits a capped, jittered backoff and reconnects; the cursor advances only after
the broker acknowledged every message of a window and of the windows before it
(``outbox.py``, ``flight.py``), so an outage or a crash delays publication and never drops an
event. Windows overlap: the next one is read and sent while the acknowledgements of the
previous are still coming in, as long as no more than ``_LOOKAHEAD`` messages are
outstanding (so a backlog is still published by priority, window by window). Events go
straight to paho's ``publish`` and each PUBACK is taken in paho's callback: no task, timer
or future per message (``wire.py``), and paho's socket is read and written in bulk.
``run()`` returns only by cancellation, after publishing the retained
``offline`` status, disconnecting and saving the cursor.

With a command handler (``RulesRunner.command``) it also serves the command topic
(``command_topic.py``): each request is handled in its own task (at most
``MAX_PENDING_COMMANDS`` at once) and answered at QoS 1; nothing a request carries can end
the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from paho.mqtt.reasoncodes import ReasonCode

from alarmrx.journal.tail import JournalTail
from alarmrx.mqtt.broker import Backoff, parse_url
from alarmrx.mqtt.command_topic import (
    CommandRequest,
    decode_request,
    is_command,
    reply_payload,
    reply_topic,
    subscription,
)
from alarmrx.mqtt.discovery import Discovery
from alarmrx.mqtt.flight import Flight
from alarmrx.mqtt.interfaces import (
    AccountsSource,
    FailureReason,
    MQTTOptions,
    NoMetrics,
    PublisherMetrics,
    StrPath,
)
from alarmrx.mqtt.outbox import CursorSaver, Outbox, Outgoing, Plan, encode
from alarmrx.mqtt.payloads import ReceiverInfo, offline_payload, status_payload
from alarmrx.mqtt.topics import Topics
from alarmrx.mqtt.wire import PublishError, Wire

log = structlog.get_logger("alarmrx.mqtt.publish")

_PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}
_INFLIGHT = 500  # QoS 1 messages on the wire before the first PUBACK must come back
_LOOKAHEAD = _INFLIGHT  # the next window is read once no more messages than this are pending
_RECEIVE_MAXIMUM = 65535  # MQTT 5: what a broker allows when its CONNACK does not say
_GOODBYE_S = 2.0  # how long a shutdown waits to publish "offline"
MAX_PENDING_COMMANDS = 32  # requests in progress at once; more are answered "busy"
COMMAND_TIMEOUT_S = 30.0  # a request not answered by then is answered "timed out"
_DRAIN_S = 2.0  # how long a dropped connection waits for requests in progress

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class BrokerRefusedError(Exception):
    """The broker answered a publication with a failure reason (MQTT 5): it did not take the
    message, so the cursor stays before it and the connection starts over."""


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
    if isinstance(exc, BrokerRefusedError):
        return FailureReason.REFUSED
    if isinstance(exc, aiomqtt.MqttCodeError) and not connected:
        return FailureReason.REFUSED
    if isinstance(exc, aiomqtt.MqttError | OSError | _DisconnectedError | PublishError):
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
            receiver_id=receiver_id,
            version=version,
            listeners=tuple(listeners),
            started_at=clock(),
        )
        self._qos = settings.qos if settings.qos in (1, 2) else 1
        self._properties = self._publish_properties()
        self._desk = CommandDesk(commands, self._topics, self._reply) if commands else None
        self._saver = CursorSaver(journal, 0)
        self._acked = asyncio.Event()  # set by every PUBACK of a window's message
        self._refusal: ReasonCode | None = None  # a PUBACK's failure reason, until handled
        self._receive_maximum = _RECEIVE_MAXIMUM

    async def run(self) -> None:
        """Publish until cancelled; broker trouble is logged, counted and retried."""
        await self.outbox.restore()
        self._saver = CursorSaver(self.outbox.journal, self.outbox.cursor)
        self._metrics.mqtt_publish_backlog(self.outbox.backlog)
        log.info(
            "mqtt_state_restored",
            cursor=self.outbox.cursor,
            accounts=len(self.outbox.book.accounts),
        )
        try:
            await self._reconnecting()
        finally:
            await self._saver.flush()

    async def _reconnecting(self) -> None:
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
                self.outbox.rewind()
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
        """Status first, then window after window, overlapping; waits for the journal when
        caught up."""
        flight = self._flight(client)
        status_due = 0.0
        while True:
            self._check_acks(flight)
            if time.monotonic() >= status_due:
                await self._send(client, self._status())
                status_due = time.monotonic() + self._status_interval_s
            await self._room(flight)
            records = await self.outbox.window()
            plan = self.outbox.plan(records)
            if records or plan.messages:
                self.outbox.take(plan)
                flight.add(plan)
                self._metrics.mqtt_publish_backlog(self.outbox.backlog)
            if not records:
                wait = min(status_due - time.monotonic(), self.outbox.refresh_in())
                await self._idle(min(wait, self._ack_due_in(flight)))

    def _flight(self, client: aiomqtt.Client) -> Flight:
        wire = self._wire(client)
        wire.bulk()
        limit = min(_INFLIGHT, self._receive_maximum)
        flight = Flight(
            wire.publish,
            limit=limit,
            settled=self._settled,
            monotonic=time.monotonic,
            clock=self._clock,
        )

        def acked(mid: int, refusal: ReasonCode | None) -> None:
            if refusal is None:
                flight.acked(mid)
            elif mid in flight:  # a journal record's message: never past the cursor
                self._refusal = refusal
            else:  # a command's reply (its response topic) or the status: only it is lost
                log.warning(
                    "mqtt_publication_refused", reason=str(refusal), code=f"0x{refusal.value:02x}"
                )
            self._acked.set()

        self._refusal = None

        wire.on_ack(acked)
        return flight

    def _settled(self, plan: Plan, latencies: list[float]) -> None:
        """Every message of ``plan`` and of the plans before it was acknowledged."""
        self.outbox.settle(plan)
        self._saver.want(self.outbox.cursor)
        if latencies:
            self._metrics.mqtt_published(latencies)
        self._metrics.mqtt_publish_backlog(self.outbox.backlog)

    async def _room(self, flight: Flight) -> None:
        """Until no more than ``_LOOKAHEAD`` messages are pending."""
        while flight.outstanding > _LOOKAHEAD:
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ack_due_in(flight)):
                    await self._acked.wait()
            self._check_acks(flight)

    def _ack_due_in(self, flight: Flight) -> float:
        """Seconds until the oldest message on the wire is overdue (inf: none is out)."""
        sent_at = flight.oldest_sent_at()
        if sent_at is None:
            return float("inf")
        return max(0.0, sent_at + self._settings.publish_timeout_s - time.monotonic())

    def _check_acks(self, flight: Flight) -> None:
        """A refused publication, or a PUBACK overdue by ``publish_timeout_s``, ends the
        connection; the messages from the cursor on are sent again on the next one."""
        if self._refusal is not None:
            refusal, self._refusal = self._refusal, None
            raise BrokerRefusedError(
                f"the broker refused a publication: {refusal} (0x{refusal.value:02x});"
                " check its access control for the topic"
            )
        if self._ack_due_in(flight) <= 0.0:
            raise TimeoutError("no PUBACK within publish_timeout_s")

    async def _idle(self, seconds: float) -> None:
        """Until the journal has a record after what is planned, or ``seconds`` passed."""
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self.outbox.journal.wait_for(self.outbox.planned)
        except TimeoutError:
            return

    async def _send(self, client: aiomqtt.Client, message: Outgoing) -> None:
        """One publication, acknowledged (QoS 1 PUBACK) within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await client.publish(
                message.topic,
                message.payload,
                qos=self._qos,
                retain=message.retain,
                properties=self._properties,
                timeout=float("inf"),
            )

    async def _reply(
        self, client: aiomqtt.Client, topic: str, payload: bytes, correlation: bytes | None
    ) -> None:
        """One reply on the command topic, acknowledged within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await client.publish(
                topic,
                payload,
                qos=1,
                retain=False,
                timeout=float("inf"),
                properties=self._reply_properties(correlation),
            )

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
        return _JSONProperties() if self._settings.protocol == "5" else None

    def _client(self) -> aiomqtt.Client:
        settings = self._settings
        self._receive_maximum = _RECEIVE_MAXIMUM
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
            max_inflight_messages=0,  # no limit in paho: the flight keeps it, without a scan
            tls_params=self._tls(),
            tls_insecure=settings.tls_insecure if self._address.tls else None,
        )
        self._wire(client).on_connack(self._connack)
        return client

    def _wire(self, client: aiomqtt.Client) -> Wire:
        # aiomqtt has no public hook for acknowledgements: its paho client is the way in
        return Wire(client._client, self._qos, self._properties)

    def _connack(self, properties: Properties | None) -> None:
        """MQTT 5: the broker's Receive Maximum bounds the QoS 1 messages on the wire."""
        maximum = getattr(properties, "ReceiveMaximum", None)
        self._receive_maximum = maximum if isinstance(maximum, int) else _RECEIVE_MAXIMUM

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


class _JSONProperties(Properties):
    """MQTT 5 PUBLISH properties for UTF-8 JSON, packed once: paho packs the properties of
    every message it sends, which costs more than building the message itself."""

    _packed: bytes

    def __init__(self) -> None:
        super().__init__(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self.ContentType = "application/json"
        self.PayloadFormatIndicator = 1
        # paho's __setattr__ admits only property names
        object.__setattr__(self, "_packed", super().pack())  # type: ignore[no-untyped-call]

    def pack(self) -> bytes:
        return self._packed


Reply = Callable[[aiomqtt.Client, str, bytes, bytes | None], Awaitable[None]]


def _response_properties(message: aiomqtt.Message) -> tuple[str | None, bytes | None]:
    """MQTT 5 response topic and correlation data of a request (None under 3.1.1)."""
    properties = message.properties
    topic = getattr(properties, "ResponseTopic", None)
    correlation = getattr(properties, "CorrelationData", None)
    return (
        topic if isinstance(topic, str) else None,
        bytes(correlation) if isinstance(correlation, bytes | bytearray) else None,
    )


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
            request = CommandRequest(
                request.account, request.request_id, error="busy: too many requests in progress"
            )
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

    async def _serve(
        self,
        client: aiomqtt.Client,
        request: CommandRequest,
        response_topic: str | None,
        correlation: bytes | None,
    ) -> None:
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
