"""The MQTT publisher: tails the journal and publishes the contract (docs/mqtt.md) at QoS 1.

One connection at a time, to one of the configured brokers (``[mqtt] url``, one or several:
the nodes of a clustered broker). Every failure ends the connection, waits a capped, jittered
backoff and connects to the next broker in turn; the cursor advances only after the broker
acknowledged every message of a window and of the windows before it (``outbox.py``,
``flight.py``), so an outage, a failover or a crash delays publication and never drops an
event, and what is sent again carries the same event ids. Windows overlap: the next one is
read and sent while the acknowledgements of the previous are still coming in, as long as no
more than ``_LOOKAHEAD`` messages are outstanding (so a backlog is still published by
priority, window by window). The connection is paho-mqtt's, through its public API
(``wire.py``): each event is one ``publish`` and each PUBACK one ``on_publish`` callback, no
task, timer or future per message. ``run()`` returns only by cancellation, after publishing
the retained ``offline`` status, disconnecting and saving the cursor.

With a command handler (``RulesRunner.command``) it also serves the command topic
(``command_topic.py``): each request is handled in its own task (at most
``MAX_PENDING_COMMANDS`` at once) and answered at QoS 1; nothing a request carries can end
the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog
from paho.mqtt.client import MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alarmrx.journal.tail import JournalTail
from alarmrx.mqtt.broker import Backoff, BrokerAddress, parse_urls
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
)
from alarmrx.mqtt.outbox import CursorSaver, Outbox, Outgoing, Plan, encode
from alarmrx.mqtt.payloads import ReceiverInfo, offline_payload, status_payload
from alarmrx.mqtt.topics import Topics
from alarmrx.mqtt.wire import (
    Connection,
    ConnectRefusedError,
    DisconnectedError,
    Greeting,
    PublishError,
    paho_client,
)

log = structlog.get_logger("alarmrx.mqtt.publish")

_INFLIGHT = 500  # QoS 1 messages on the wire before the first PUBACK must come back
_LOOKAHEAD = _INFLIGHT  # the next window is read once no more messages than this are pending
_GOODBYE_S = 2.0  # how long a shutdown waits to publish "offline" and to disconnect
MAX_PENDING_COMMANDS = 32  # requests in progress at once; more are answered "busy"
COMMAND_TIMEOUT_S = 30.0  # a request not answered by then is answered "timed out"
_DRAIN_S = 2.0  # how long a dropped connection waits for requests in progress

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

_FAILURES: tuple[tuple[type[BaseException], FailureReason, FailureReason], ...] = (
    # (exception, reason before the CONNACK, reason once connected)
    (TimeoutError, FailureReason.TIMEOUT, FailureReason.TIMEOUT),
    (ConnectRefusedError, FailureReason.REFUSED, FailureReason.REFUSED),
    (OSError, FailureReason.CONNECT, FailureReason.DISCONNECTED),
    (DisconnectedError, FailureReason.CONNECT, FailureReason.DISCONNECTED),
    (PublishError, FailureReason.CONNECT, FailureReason.DISCONNECTED),
)


class BrokerRefusedError(Exception):
    """The broker answered a publication with a failure reason (MQTT 5): it did not take the
    message, so the cursor stays before it and the connection starts over."""


def _failure_reason(exc: BaseException, connected: bool) -> FailureReason:
    if isinstance(exc, BrokerRefusedError):
        return FailureReason.REFUSED
    for kind, before, after in _FAILURES:
        if isinstance(exc, kind):
            return after if connected else before
    return FailureReason.ERROR


async def _first_failure(*jobs: Awaitable[None]) -> None:
    """Run ``jobs`` together until the first one fails; raise its exception (not as an
    ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(_awaited(job))
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None


async def _awaited(job: Awaitable[None]) -> None:
    await job


class MQTTPublisher:
    """Publishes the journal to a broker; built by ``app.py``, run in its TaskGroup."""

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
        state_refresh_s: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        commands: CommandHandler | None = None,
        event_ids: str | None = None,
    ) -> None:
        self._settings = settings
        self._brokers = parse_urls(settings.url)
        self._turn = 0  # the broker of the next connection
        self._topics = Topics(settings.topic_root, receiver_id)
        discovery = Discovery(settings.ha_prefix, self._topics) if settings.ha_discovery else None
        self.outbox = Outbox(
            journal,
            topics=self._topics,
            accounts=accounts,
            discovery=discovery,
            window=window,
            event_ids=event_ids,
            state_refresh_s=state_refresh_s,
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
        self._idling: asyncio.Timeout | None = None  # the wait of ``_idle``, while it waits

    @property
    def broker(self) -> BrokerAddress:
        """The broker of the current connection (or of the next attempt)."""
        return self._brokers[self._turn]

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
            self._turn = (self._turn + 1) % len(self._brokers)
            delay = self._backoff.delay(attempt, random.random)
            log.info(
                "mqtt_reconnect_scheduled",
                retry_in_s=round(delay, 3),
                attempt=attempt,
                broker=self.broker.url,
            )
            await asyncio.sleep(delay)

    async def _connect_once(self) -> bool:
        """One connection, until it fails; True if it got connected at all."""
        connected = False
        broker = self.broker
        try:
            connection = await self._connect(broker)
            async with connection:
                connected = True
                self.outbox.rewind()
                self.outbox.reconnected()
                self._metrics.mqtt_connected(True)
                self._metrics.mqtt_broker(broker.url)
                log.info("mqtt_connected", broker=broker.url)
                await self._serve_until_cancelled(connection)
        except Exception as exc:  # noqa: BLE001 - task root: every failure means reconnect
            self._failed(exc, connected, broker)
        finally:
            self._metrics.mqtt_connected(False)
        return connected

    async def _connect(self, broker: BrokerAddress) -> Connection:
        settings = self._settings
        client_id = settings.client_id or f"alarmrx-{self._info.receiver_id}"
        paho = paho_client(broker, settings, Greeting(client_id, self._offline()))
        connection = Connection(paho)
        keepalive = max(1, round(settings.keepalive_s))
        await connection.open(broker, keepalive, settings.publish_timeout_s)
        return connection

    def _failed(self, exc: Exception, connected: bool, broker: BrokerAddress) -> None:
        reason = _failure_reason(exc, connected)
        self._metrics.mqtt_publish_failed(reason.value)
        if reason is FailureReason.ERROR:
            log.exception("mqtt_failed", reason=reason.value, broker=broker.url)
        else:
            error = str(exc) or type(exc).__name__
            log.warning("mqtt_failed", reason=reason.value, broker=broker.url, error=error)

    async def _serve_until_cancelled(self, connection: Connection) -> None:
        desk = self._desk
        if desk is not None:
            connection.on_message = lambda message: self._take(desk, connection, message)
            topic = subscription(self._topics)
            for reason in await connection.subscribe(topic, 1):
                if reason.is_failure:  # its ACL: commands go unanswered, events still go out
                    log.warning("mqtt_subscription_refused", topic=topic, reason=str(reason))
        try:
            await _first_failure(self._watch(connection), self._serve(connection))
        except asyncio.CancelledError:
            await self._goodbye(connection)
            raise

    def _take(self, desk: CommandDesk, connection: Connection, message: MQTTMessage) -> None:
        if is_command(message.topic, self._topics):
            desk.take(connection, message)

    async def _goodbye(self, connection: Connection) -> None:
        """On shutdown: the retained status says offline (a clean DISCONNECT sends no will)."""
        try:
            async with asyncio.timeout(_GOODBYE_S):
                await connection.publish_acked(self._offline(), self._qos, self._properties)
            log.info("mqtt_offline_published")
        except (DisconnectedError, PublishError, TimeoutError) as exc:
            log.warning("mqtt_offline_not_published", error=str(exc))

    async def _watch(self, connection: Connection) -> None:
        """Returns only by raising, when the connection drops; then lets the requests in
        progress finish briefly."""
        try:
            await connection.wait_closed()
        finally:
            if self._desk is not None:
                await self._desk.drain()

    async def _serve(self, connection: Connection) -> None:
        """Status first, then window after window, overlapping; waits for the journal when
        caught up."""
        flight = self._flight(connection)
        status_due = 0.0
        while True:
            self._check_acks(flight)
            if time.monotonic() >= status_due:
                await self._send(connection, self._status())
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

    def _flight(self, connection: Connection) -> Flight:
        qos, properties = self._qos, self._properties

        def publish(message: Outgoing) -> int:
            return connection.publish(message, qos, properties)

        flight = Flight(
            publish,
            limit=min(_INFLIGHT, connection.receive_maximum),
            settled=self._settled,
            monotonic=time.monotonic,
            clock=self._clock,
        )

        def acked(mid: int, refusal: ReasonCode | None) -> None:
            if refusal is None:
                flight.acked(mid)
            elif mid in flight:  # a journal record's message: never past the cursor
                self._refusal = refusal
                self._wake()
            else:  # a command's reply (its response topic) or the status: only it is lost
                log.warning(
                    "mqtt_publication_refused", reason=str(refusal), code=f"0x{refusal.value:02x}"
                )
            self._acked.set()

        self._refusal = None
        connection.on_ack = acked
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
        """Until the journal has a record after what is planned, ``seconds`` passed or the
        broker refused a publication (``_wake``)."""
        if self._refusal is not None:
            return
        try:
            async with asyncio.timeout(max(seconds, 0.0)) as idling:
                self._idling = idling
                await self.outbox.journal.wait_for(self.outbox.planned)
        except TimeoutError:
            return
        finally:
            self._idling = None

    def _wake(self) -> None:
        """End ``_idle`` now (its wait expires), so that a refusal is acted on at once and
        not when the PUBACKs are due."""
        idling = self._idling
        if idling is not None and not idling.expired():
            idling.reschedule(asyncio.get_running_loop().time())

    async def _send(self, connection: Connection, message: Outgoing) -> None:
        """One publication, acknowledged (QoS 1 PUBACK) within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await connection.publish_acked(message, self._qos, self._properties)

    async def _reply(
        self, connection: Connection, topic: str, payload: bytes, correlation: bytes | None
    ) -> None:
        """One reply on the command topic, acknowledged within ``publish_timeout_s``."""
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await connection.publish_acked(
                Outgoing(topic, payload), 1, self._reply_properties(correlation)
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
        return json_properties() if self._settings.protocol == "5" else None


class _PackedOnce(Properties):
    """Properties that are never changed once built, serialised by ``pack`` once: paho packs
    the properties of every PUBLISH anew, and these go with every message."""

    def pack(self) -> bytes:
        """The properties as sent, computed on the first call."""
        packed: bytes | None = getattr(self, "packed", None)
        if packed is None:
            packed = super().pack()  # type: ignore[no-untyped-call]
            object.__setattr__(self, "packed", packed)  # not a property: past the name check
        return packed


def json_properties() -> Properties:
    """MQTT 5 PUBLISH properties for UTF-8 JSON (content type, payload format indicator),
    built once and given with every message (never changed after: they are packed once)."""
    properties = _PackedOnce(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = "application/json"
    properties.PayloadFormatIndicator = 1
    return properties


Reply = Callable[[Connection, str, bytes, bytes | None], Awaitable[None]]


def _response_properties(message: MQTTMessage) -> tuple[str | None, bytes | None]:
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

    def take(self, connection: Connection, message: MQTTMessage) -> None:
        """Start serving one request (answered "busy" when too many are in progress)."""
        request = decode_request(message.topic, bytes(message.payload), self._topics)
        if request.error is None and len(self._tasks) >= MAX_PENDING_COMMANDS:
            request = CommandRequest(
                request.account, request.request_id, error="busy: too many requests in progress"
            )
        task = asyncio.create_task(self._serve(connection, request, *_response_properties(message)))
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
        connection: Connection,
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
            await self._reply(connection, topic, encode(reply_payload(request, reply)), correlation)
        except (DisconnectedError, PublishError, TimeoutError) as exc:
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
