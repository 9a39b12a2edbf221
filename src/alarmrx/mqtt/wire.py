"""One MQTT connection through paho-mqtt's public API, driven by the running asyncio loop.

This is paho's documented way to run under an event loop of one's own (its
``examples/loop_asyncio.py``): the socket callbacks (``on_socket_open``, ``on_socket_close``,
``on_socket_register_write``, ``on_socket_unregister_write``) hand the socket to the loop,
whose readiness calls ``loop_read`` / ``loop_write``, and a task calls ``loop_misc`` every
second for the keep-alive. Publications are pipelined: ``publish`` queues a PUBLISH and
returns its packet id at once (``MQTTMessageInfo.mid``), and every PUBACK (PUBCOMP at QoS 2)
comes back through ``on_publish`` with that id and its reason code: no task, timer or future
per message. paho keeps no in-flight limit of its own (``max_inflight_messages_set(0)``); the
publisher's flight (``flight.py``) does.

``connect`` blocks (name lookup, TCP, the TLS handshake), so it runs in a worker thread; the
socket is handed to the loop only once it returned, so every later paho call runs on the
loop's thread. One ``Connection`` per connection: a new one is built for every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self

from paho.mqtt.client import MQTT_ERR_SUCCESS, MQTTMessage
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alarmrx.mqtt.broker import BrokerAddress
from alarmrx.mqtt.interfaces import MQTTOptions, StrPath

RECEIVE_MAXIMUM = 65535  # MQTT 5: what a broker allows when its CONNACK does not say
_PROTOCOLS = MappingProxyType(
    {"3.1.1": MQTTProtocolVersion.MQTTv311, "5": MQTTProtocolVersion.MQTTv5}
)
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

Acked = Callable[[int, ReasonCode | None], None]


class Message(Protocol):
    """What ``Connection.publish`` sends (``outbox.Outgoing``)."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def retain(self) -> bool: ...


class PublishError(Exception):
    """paho refused a publication or subscription (``rc``: its error code); the connection
    is gone."""

    def __init__(self, rc: int) -> None:
        super().__init__(f"could not send: paho error {rc}")
        self.rc = rc


class ConnectRefusedError(Exception):
    """The broker's CONNACK refused the connection (credentials, client id, …)."""


class DisconnectedError(Exception):
    """The connection dropped (or was closed)."""


@dataclass(frozen=True, slots=True)
class Greeting:
    """What the client says when it connects: its id and its last will."""

    client_id: str
    will: Message


def _path(path: StrPath | None) -> str | None:
    return None if path is None else os.fspath(path)


def paho_client(address: BrokerAddress, settings: MQTTOptions, greeting: Greeting) -> PahoClient:
    """A paho client set up from the ``[mqtt]`` settings, not connected yet."""
    client = PahoClient(
        CallbackAPIVersion.VERSION2,
        client_id=greeting.client_id,
        protocol=_PROTOCOLS[settings.protocol],
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    will = greeting.will
    client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
    if address.tls:
        client.tls_set(
            ca_certs=_path(settings.tls_ca),
            certfile=_path(settings.tls_cert),
            keyfile=_path(settings.tls_key),
        )
        client.tls_insecure_set(settings.tls_insecure)
    client.max_inflight_messages_set(0)  # no limit in paho: the flight keeps it
    client.connect_timeout = settings.publish_timeout_s
    return client


class Connection:
    """One connection of a paho client, its socket served by the running event loop.

    ``on_ack(mid, refusal)`` is called for every PUBACK (``refusal``: the MQTT 5 reason code
    when the broker did not take the message, 0x80 and above, else None); ``on_message`` for
    every message of a subscription.
    """

    def __init__(self, paho: PahoClient) -> None:
        self._paho = paho
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()  # the loop's
        self._fd = -1
        self._misc: asyncio.Task[None] | None = None
        self._connack: asyncio.Future[Properties | None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._closed.add_done_callback(_retrieve)
        self._connack.add_done_callback(_retrieve)
        self._waiting: dict[int, asyncio.Future[ReasonCode | None]] = {}
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._lock = threading.Lock()  # the connecting thread against an abandoning loop
        self._abandoned = False
        self.on_ack: Acked = _ignore_ack
        self.on_message: Callable[[MQTTMessage], None] = _ignore_message
        self.receive_maximum = RECEIVE_MAXIMUM
        paho.on_socket_open = self._socket_open
        paho.on_socket_close = self._socket_close
        paho.on_socket_register_write = self._register_write
        paho.on_socket_unregister_write = self._unregister_write
        paho.on_connect = self._connected
        paho.on_disconnect = self._disconnected
        paho.on_publish = self._published
        paho.on_subscribe = self._subscribed
        paho.on_message = self._message

    async def open(self, address: BrokerAddress, keepalive_s: int, timeout_s: float) -> None:
        """Connect and wait for the broker's CONNACK (at most ``timeout_s``)."""
        connecting = self._loop.run_in_executor(None, self._connect, address, keepalive_s)
        try:
            await connecting
        except asyncio.CancelledError:
            self._abandon()
            raise
        self._attach()
        try:
            async with asyncio.timeout(timeout_s):
                done: set[asyncio.Future[Any]] = {self._connack, self._closed}
                await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
            if not self._connack.done():
                self._closed.result()  # raises why it closed before the CONNACK
            self._connack.result()
        except BaseException:
            self.abort()
            raise

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close(2.0)

    def publish(self, message: Message, qos: int, properties: Properties | None = None) -> int:
        """Queue ``message``; its packet id. Its PUBACK comes to ``on_ack``."""
        if self._closed.done():
            raise DisconnectedError("the connection is closed")
        info = self._paho.publish(message.topic, message.payload, qos, message.retain, properties)
        if info.rc != MQTT_ERR_SUCCESS:
            raise PublishError(info.rc)
        return info.mid

    async def publish_acked(
        self, message: Message, qos: int, properties: Properties | None = None
    ) -> ReasonCode | None:
        """Publish ``message`` and wait for its PUBACK; the broker's refusal, if any."""
        mid = self.publish(message, qos, properties)
        waiter: asyncio.Future[ReasonCode | None] = self._loop.create_future()
        self._waiting[mid] = waiter
        try:
            return await waiter
        finally:
            self._waiting.pop(mid, None)

    async def subscribe(self, topic: str, qos: int) -> list[ReasonCode]:
        """Subscribe and wait for the SUBACK; its reason codes."""
        rc, mid = self._paho.subscribe(topic, qos)
        if rc != MQTT_ERR_SUCCESS or mid is None:
            raise PublishError(rc)
        suback: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._subacks[mid] = suback
        try:
            return await suback
        finally:
            self._subacks.pop(mid, None)

    async def wait_closed(self) -> None:
        """Until the connection drops; raises ``DisconnectedError`` (or what broke it)."""
        await asyncio.shield(self._closed)

    async def close(self, timeout_s: float) -> None:
        """A clean DISCONNECT (so the broker sends no will), then the socket closed."""
        if not self._closed.done():
            self._paho.disconnect()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._closed)
        self.abort()

    def abort(self) -> None:
        """Close the socket at once; everything waiting learns the connection is gone."""
        self._lost(DisconnectedError("connection closed"))
        self._detach()
        sock = self._paho.socket()
        if sock is not None:
            sock.close()

    # the connecting thread

    def _connect(self, address: BrokerAddress, keepalive_s: int) -> None:
        self._paho.connect(address.host, address.port, keepalive_s)
        with self._lock:
            if self._abandoned:  # the loop stopped waiting: nobody will serve this socket
                self._close_socket()

    def _abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            self._close_socket()

    def _close_socket(self) -> None:
        sock = self._paho.socket()
        if sock is not None:
            sock.close()

    # the loop's side

    def _attach(self) -> None:
        sock = self._paho.socket()
        if sock is None:
            raise DisconnectedError("paho has no socket after connect")
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._readable, sock)
        if self._paho.want_write():  # the CONNECT, queued while connecting
            self._loop.add_writer(self._fd, self._writable)
        self._misc = self._loop.create_task(self._keepalive())

    def _detach(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = -1
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _readable(self, sock: Any) -> None:
        try:
            rc = self._paho.loop_read()
            # an SSL socket may hold decrypted bytes the file descriptor no longer signals
            while rc == MQTT_ERR_SUCCESS and self._fd >= 0 and _pending(sock):
                rc = self._paho.loop_read()
            _quick_ack(sock)
        except Exception as exc:  # noqa: BLE001 - paho raises what the socket raised
            self._lost(exc)
            self._detach()
            return
        if rc != MQTT_ERR_SUCCESS:
            self._lost(DisconnectedError(f"connection lost (paho error {rc})"))
            self._detach()

    def _writable(self) -> None:
        try:
            rc = self._paho.loop_write()
        except Exception as exc:  # noqa: BLE001 - paho raises what the socket raised
            self._lost(exc)
            self._detach()
            return
        if rc != MQTT_ERR_SUCCESS:
            self._lost(DisconnectedError(f"connection lost (paho error {rc})"))
            self._detach()

    async def _keepalive(self) -> None:
        """paho's keep-alive: a PINGREQ when due, the connection closed when unanswered."""
        while self._paho.loop_misc() == MQTT_ERR_SUCCESS:  # noqa: ASYNC110 - a clock, no event
            await asyncio.sleep(1.0)
        self._lost(DisconnectedError("no answer to the keep-alive ping"))

    def _lost(self, exc: BaseException) -> None:
        """The connection is gone: fail whatever waits on it (first reason wins)."""
        futures: tuple[asyncio.Future[Any], ...] = (self._connack, self._closed)
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        waiters: list[asyncio.Future[Any]] = [*self._waiting.values(), *self._subacks.values()]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(DisconnectedError(str(exc)))

    # paho's callbacks (VERSION2 signatures)

    def _socket_open(self, _client: PahoClient, _userdata: Any, _sock: Any) -> None:
        """Called in the connecting thread: the socket is attached once ``connect`` returned."""

    def _socket_close(self, _client: PahoClient, _userdata: Any, _sock: Any) -> None:
        if threading.get_ident() == self._thread:  # not while connecting
            self._detach()

    def _register_write(self, _client: PahoClient, _userdata: Any, _sock: Any) -> None:
        if self._fd >= 0:
            self._loop.add_writer(self._fd, self._writable)

    def _unregister_write(self, _client: PahoClient, _userdata: Any, _sock: Any) -> None:
        if self._fd >= 0:
            self._loop.remove_writer(self._fd)

    def _connected(
        self,
        _client: PahoClient,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connack.done():
            return
        if reason.is_failure:
            self._connack.set_exception(
                ConnectRefusedError(f"the broker refused the connection: {reason}")
            )
            return
        maximum = getattr(properties, "ReceiveMaximum", None)
        self.receive_maximum = maximum if isinstance(maximum, int) else RECEIVE_MAXIMUM
        self._connack.set_result(properties)

    def _disconnected(
        self,
        _client: PahoClient,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._lost(DisconnectedError(f"disconnected: {reason}"))

    def _published(
        self,
        _client: PahoClient,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        refusal = reason if reason.is_failure else None
        self.on_ack(mid, refusal)
        waiter = self._waiting.get(mid)
        if waiter is not None and not waiter.done():
            waiter.set_result(refusal)

    def _subscribed(
        self,
        _client: PahoClient,
        _userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        suback = self._subacks.get(mid)
        if suback is not None and not suback.done():
            suback.set_result(list(reasons))

    def _message(self, _client: PahoClient, _userdata: Any, message: MQTTMessage) -> None:
        self.on_message(message)


def _pending(sock: Any) -> int:
    pending = getattr(sock, "pending", None)
    return int(pending()) if pending is not None else 0


def _quick_ack(sock: Any) -> None:
    """Acknowledge (TCP) what was read at once rather than after the delayed-ACK timer: a
    broker that leaves Nagle's algorithm on (mosquitto does by default) holds back the next
    PUBACKs of a burst until that ACK comes. Linux only; elsewhere a no-op."""
    if _QUICKACK is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (nobody may be waiting on it any more)."""
    if not future.cancelled():
        future.exception()


def _ignore_ack(_mid: int, _refusal: ReasonCode | None) -> None:
    """No one listens to acknowledgements."""


def _ignore_message(_message: MQTTMessage) -> None:
    """No one listens to messages."""
