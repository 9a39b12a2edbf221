"""The publisher's short cuts through paho: read-ahead, joined writes, plain PUBACKs."""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alarmrx.mqtt.wire import (
    READ_AHEAD,
    _coalesce,
    _plain_reason,
    _ReadAhead,
    supports_bulk,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.setblocking(False)
    yield left, right
    left.close()
    right.close()


def test_the_installed_paho_has_what_the_short_cuts_need() -> None:
    # fails on a paho upgrade that renamed its internals: the publisher would still work,
    # only slower (bulk() declines), so say it here
    assert supports_bulk(paho.Client(CallbackAPIVersion.VERSION2))


def test_small_reads_are_served_from_one_large_recv(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    right.sendall(b"\x40\x02\x00\x01\x40\x03\x00\x02\x10")
    ahead = _ReadAhead(left)
    assert [ahead.recv(1), ahead.recv(1), ahead.recv(2)] == [b"\x40", b"\x02", b"\x00\x01"]
    assert ahead.pending() == 5  # read already, waiting for paho
    assert [ahead.recv(1), ahead.recv(1), ahead.recv(3)] == [b"\x40", b"\x03", b"\x00\x02\x10"]
    assert ahead.pending() == 0
    with pytest.raises(BlockingIOError):  # as paho expects of a non-blocking socket
        ahead.recv(1)


def test_a_read_larger_than_what_is_ahead_returns_what_there_is(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    right.sendall(b"abc")
    ahead = _ReadAhead(left)
    assert ahead.recv(1) == b"a"
    assert ahead.recv(READ_AHEAD) == b"bc"  # paho counts what it got and reads again


def test_a_closed_peer_reads_as_empty_and_the_rest_is_the_socket(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    right.close()
    ahead = _ReadAhead(left)
    assert ahead.recv(1) == b""
    assert ahead.fileno() == left.fileno()


def _packet(command: int, data: bytes, qos: int = 1, pos: int = 0) -> dict[str, Any]:
    return {
        "command": command,
        "mid": 1,
        "qos": qos,
        "pos": pos,
        "to_process": len(data) - pos,
        "packet": bytearray(data),
        "info": None,
    }


def test_quiet_packets_are_joined_in_order() -> None:
    queue = deque([_packet(0x32, b"one", pos=1), _packet(0x32, b"two"), _packet(0x40, b"ack")])
    _coalesce(queue)
    assert [bytes(p["packet"]) for p in queue] == [b"netwoack"]
    assert queue[0]["to_process"] == len(b"netwoack")
    assert queue[0]["pos"] == 0


def test_qos0_publish_and_disconnect_keep_their_own_packets() -> None:
    # paho acts once each of them is written (on_publish at QoS 0, closing on DISCONNECT)
    queue = deque(
        [
            _packet(0x32, b"a"),
            _packet(0x32, b"b"),
            _packet(0x30, b"q0", qos=0),
            _packet(0x32, b"c"),
            _packet(0xE0, b"bye"),
        ]
    )
    _coalesce(queue)
    assert [bytes(p["packet"]) for p in queue] == [b"ab", b"q0", b"c", b"bye"]
    assert [p["command"] for p in queue][1::2] == [0x30, 0xE0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x07", 0),  # packet id alone: Success
        (b"\x00\x07\x00", 0),
        (b"\x00\x07\x10", 0x10),  # no matching subscribers: a success too
        (b"\x00\x07\x10\x00", 0x10),  # with an empty property list
        (b"\x00\x07\x87", 0x87),  # not authorized: paho's own way decides
        (b"\x00\x07\x00\x03\x1f\x00\x00", -1),  # with properties
    ],
)
def test_the_reason_of_a_plain_puback(body: bytes, reason: int) -> None:
    assert _plain_reason(body) == reason
