"""Replay: a captured encrypted frame sent again after the timestamp window gets a NAK (with
the receiver's time) and is not journaled again; within the window it is a retransmission,
ACKed and recorded once. A plaintext frame for an account with a key is refused (DUH).

The account's window is shortened to 2 s (``window_past_s``) so the test need not wait 40 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, write_config

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind

pytestmark = pytest.mark.integration

KEY = "00112233445566778899AABBCCDDEEFF"
WINDOW_S = 2


def test_captured_frame_replayed_after_the_window_is_refused(tmp_path: Path) -> None:
    account = f'account = "5678"\nkey = "{KEY}"\nwindow_past_s = {WINDOW_S}'
    with Daemon(write_config(tmp_path, accounts=[account])) as daemon:
        captured = frame("5678", "#5678|Nri1/PA01", key=KEY, sequence=77)
        first, within = exchange_tcp(daemon.port, [captured, captured])
        assert b'"*ACK"0077' in first
        assert b'"*ACK"0077' in within  # a retransmission inside the window

        time.sleep(WINDOW_S + 1.5)
        [late_tcp] = exchange_tcp(daemon.port, [captured])
        late_udp = exchange_udp(daemon.port, captured)
        plaintext = exchange_udp(daemon.port, frame("5678", "#5678|Nri1/PA01", sequence=78))
        assert daemon.terminate() == 0

    for reply in (late_tcp, late_udp):
        assert b'"NAK"' in reply and b"ACK" not in reply.replace(b"NAK", b"")
    assert b'"DUH"' in plaintext
    records = [r for r in query(tmp_path / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert [r.raw for r in records] == [captured]
    assert records[0].repeats == 1
