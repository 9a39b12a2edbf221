"""The publisher's own way onto paho's connection (aiomqtt's client wraps a paho client).

aiomqtt's ``publish`` awaits each PUBACK in a coroutine of its own, with a timer and an event
each, and scans every pending call on every publication; a window of thousands of messages
needs none of that, only one callback per acknowledgement. So events go straight to paho's
``publish`` and each PUBACK comes from paho's ``on_publish``; aiomqtt keeps its own callbacks
and ours are chained behind them.

paho also reads and writes its socket one packet at a time: three ``recv`` calls for every
PUBACK (type byte, length byte, the rest) and one ``send`` for every PUBLISH (on loopback
the broker's side of the transfer runs inside that ``send``), each of which lets go of the
GIL and may wait to get it back; and it decodes every PUBACK into a reason code and a
properties object of its own. Once connected, ``bulk()`` takes short cuts through paho's
internals (it has no hooks for them):

- the socket is read ahead in one ``recv`` of up to ``READ_AHEAD`` bytes that paho's small
  reads are then served from (``_ReadAhead``), and TCP acknowledges at once what was read;
- the packets queued by the time paho writes are joined and sent at once (``_coalesce``);
- a plain successful PUBACK is settled here as paho would (``_PubAcks``); any other goes
  paho's own way.

Measured with ``benchmarks/mqtt_latency.py`` at 1 000 events/s (docs/mqtt.md, "Cost"),
the three together took the publisher's loop CPU from about 240 to about 170 us per event
(the rest of the fall to about 130 us is the outbox's). ``supports_bulk`` checks that paho
has the attributes used here (2.1 and 2.2 do); without them the publisher runs plain.
"""

from __future__ import annotations

import contextlib
import socket
from collections import deque
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast

from paho.mqtt.client import MQTT_ERR_SUCCESS, CallbackOnPublish_v2
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

READ_AHEAD = 65536
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
_PUBLISH, _DISCONNECT = 0x30, 0xE0


class Message(Protocol):
    """What ``Wire.publish`` sends (``outbox.Outgoing``)."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def retain(self) -> bool: ...


class PublishError(Exception):
    """paho refused a publication (``rc``: its error code); the connection is gone."""

    def __init__(self, rc: int) -> None:
        super().__init__(f"could not publish: paho error {rc}")
        self.rc = rc


class Wire:
    """Events onto one paho client, PUBACKs back from it."""

    def __init__(self, paho: PahoClient, qos: int, properties: Properties | None) -> None:
        self._paho = paho
        self._qos = qos
        self._properties = properties

    def publish(self, message: Message) -> int:
        """Queue ``message`` on the connection; its packet id."""
        info = self._paho.publish(
            message.topic, message.payload, self._qos, message.retain, self._properties
        )
        if info.rc != MQTT_ERR_SUCCESS:
            raise PublishError(info.rc)
        return info.mid

    def on_ack(self, acked: Callable[[int, ReasonCode | None], None]) -> None:
        """Call ``acked(mid, refusal)`` for every PUBACK (PUBCOMP at QoS 2), after aiomqtt's
        callback; ``refusal`` is the MQTT 5 reason code when the broker refused the message
        (0x80 and above, e.g. 0x87 not authorized), else None."""
        previous = self._paho.on_publish

        def on_publish(client: PahoClient, userdata: Any, mid: int, *rest: Any) -> None:
            if previous is not None:
                previous(client, userdata, mid, *rest)
            reason = rest[0] if rest else None
            acked(mid, reason if isinstance(reason, ReasonCode) and reason.is_failure else None)

        self._paho.on_publish = on_publish

    def on_connack(self, connack: Callable[[Properties | None], None]) -> None:
        """Call ``connack(properties)`` for the CONNACK, before aiomqtt's callback."""
        previous = self._paho.on_connect

        def on_connect(client: PahoClient, userdata: Any, *rest: Any) -> None:
            connack(rest[2] if len(rest) > 2 else None)  # (flags, reason code, properties)
            if previous is not None:
                previous(client, userdata, *rest)

        self._paho.on_connect = on_connect

    def bulk(self) -> bool:
        """Connected: the short cuts of the module doc, for this connection's socket (a new
        connection starts plain again). False when this paho lacks what they need."""
        paho = self._paho
        sock = paho._sock
        if sock is None or isinstance(sock, _ReadAhead) or not supports_bulk(paho):
            return False
        paho._sock = _ReadAhead(sock)
        write = paho.loop_write

        def loop_write() -> MQTTErrorCode:
            _coalesce(paho._out_packet)
            return write()

        # aiomqtt's writer callback calls ``loop_write`` on this instance, and paho its own
        # PUBACK handler
        paho.loop_write = loop_write  # type: ignore[method-assign]
        paho._handle_pubackcomp = _PubAcks(paho)  # type: ignore[method-assign]
        return True


_NEEDED = (
    "_sock",
    "_in_packet",
    "_out_packet",
    "_out_messages",
    "_out_message_mutex",
    "_inflight_messages",
    "_max_inflight_messages",
    "_handle_pubackcomp",
    "_userdata",
    "_callback_api_version",
    "loop_write",
)


def supports_bulk(paho: PahoClient) -> bool:
    """Whether this paho has the internals ``Wire.bulk`` relies on."""
    return all(hasattr(paho, name) for name in _NEEDED)


class _ReadAhead:
    """A socket whose reads are served from one large ``recv``; the rest is the socket's.

    ``pending()`` is what aiomqtt's reader asks of an SSL socket to read again before it
    waits for the next readiness: bytes already read ahead are pending just the same."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._ahead = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._ahead):
            # errors (would block, SSL wants, reset) and b"" (closed) reach paho as they are
            self._ahead, self._at = self._sock.recv(max(size, READ_AHEAD)), 0
            self._ack_now()
        start = self._at
        self._at += size
        return self._ahead[start : start + size]

    def _ack_now(self) -> None:
        """Acknowledge (TCP) what was read at once rather than after the delayed-ACK timer.
        A broker that leaves Nagle's algorithm on (mosquitto does by default) holds back
        every PUBACK after the first of a burst until that ACK comes: with the writes joined
        there is no outgoing data for it to ride on, and the median receipt-to-PUBACK went
        from 4 to 12 ms without this (3 ms with it). Linux only; elsewhere a no-op."""
        if _QUICKACK is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._ahead) - self._at + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _PubAcks:
    """paho's ``_handle_pubackcomp`` with a short way for a plain successful PUBACK (reason
    Success or "no matching subscribers", no properties): what paho's own does then (forget
    the message, count it out of flight, tell ``on_publish``), without decoding a fresh
    reason code and properties object for every acknowledgement."""

    # what paho hands on_publish for those, made once
    _REASONS = MappingProxyType(
        {code: ReasonCode(PacketTypes.PUBACK, identifier=code) for code in (0x00, 0x10)}
    )
    _NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

    def __init__(self, paho: PahoClient) -> None:
        self._paho = paho
        self._paho_way = paho._handle_pubackcomp
        self._v2 = paho._callback_api_version is CallbackAPIVersion.VERSION2  # aiomqtt's

    def __call__(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        paho = self._paho
        packet = paho._in_packet["packet"]
        reason = self._REASONS.get(_plain_reason(packet), None)
        if cmd != "PUBACK" or reason is None or paho._max_inflight_messages or not self._v2:
            return self._paho_way(cmd)
        mid = (packet[0] << 8) | packet[1]
        with paho._out_message_mutex:
            message = paho._out_messages.pop(mid, None)
            if message is None:
                return MQTT_ERR_SUCCESS
            paho._inflight_messages -= 1
        message.info._set_as_published()
        on_publish = cast("CallbackOnPublish_v2 | None", paho.on_publish)
        if on_publish is not None:
            on_publish(paho, paho._userdata, mid, reason, self._NO_PROPERTIES)
        return MQTT_ERR_SUCCESS


def _plain_reason(packet: bytes | bytearray) -> int:
    """The reason code of a PUBACK's body without properties (-1 with properties)."""
    if len(packet) == 2:
        return 0
    if len(packet) == 3 or (len(packet) == 4 and packet[3] == 0):
        return packet[2]
    return -1


def _quiet(packet: Any) -> bool:
    """A packet whose complete write paho does nothing about (all but QoS 0 PUBLISH and
    DISCONNECT), so it can go out joined with its neighbours."""
    command = packet["command"] & 0xF0
    return command != _DISCONNECT and not (command == _PUBLISH and packet["qos"] == 0)


def _coalesce(queue: deque[Any]) -> None:
    """Join each run of quiet packets in paho's write queue into one packet."""
    if len(queue) < 2:
        return
    packets, run = list(queue), bytearray()
    queue.clear()
    for packet in packets:
        if _quiet(packet):
            run += memoryview(packet["packet"])[packet["pos"] :]
            continue
        _flush(queue, run)
        queue.append(packet)
        run = bytearray()
    _flush(queue, run)


def _flush(queue: deque[Any], run: bytearray) -> None:
    if run:
        queue.append(
            {
                "command": 0,
                "mid": 0,
                "qos": 1,
                "pos": 0,
                "to_process": len(run),
                "packet": run,
                "info": None,
            }
        )
