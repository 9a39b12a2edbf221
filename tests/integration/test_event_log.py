"""One info line per accepted message, so `journalctl -u alarmrx -f` shows the traffic
(systemd/README.md); `[logging] events = false` keeps it at debug level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon, exchange_tcp, exchange_udp, frame, write_config
from tests.hostile.support import log_events, wait_until

pytestmark = pytest.mark.integration


def _committed(daemon: Daemon) -> list[dict[str, Any]]:
    return [line for line in log_events(daemon) if line.get("event") == "message_committed"]


def test_each_accepted_message_is_one_info_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, accounts=['account = "1234"'], log_level="info")
    with Daemon(config) as daemon:
        [tcp_reply] = exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01", sequence=7)])
        udp_reply = exchange_udp(daemon.port, frame("1234", "#1234|Nri2/FA02/ri2/FR03", sequence=8))
        exchange_tcp(daemon.port, [frame("1234", "", token="NULL", sequence=9)])
        assert b'"ACK"' in tcp_reply and b'"ACK"' in udp_reply
        wait_until(lambda: len(_committed(daemon)) >= 2, 10, "two message_committed lines")
        assert daemon.terminate() == 0
    tcp_line, udp_line = _committed(daemon)  # the NULL link test is not among them
    assert tcp_line["level"] == "info"
    assert tcp_line["account"] == "1234"
    assert tcp_line["seq"] == "0007"
    assert tcp_line["codes"] == ["BA"]
    assert tcp_line["reply"] == "ACK"
    assert tcp_line["transport"] == "tcp"
    assert tcp_line["peer"].startswith("127.0.0.1:")
    assert 0 <= tcp_line["latency_ms"] < 5000
    assert isinstance(tcp_line["journal_seq"], int)
    assert tcp_line["duplicate"] is False
    assert (udp_line["codes"], udp_line["seq"], udp_line["transport"]) == (
        ["FA", "FR"],
        "0008",
        "udp",
    )


def test_events_false_keeps_the_line_at_debug(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, accounts=['account = "1234"'], log_level="info", logging="events = false"
    )
    with Daemon(config) as daemon:
        [reply] = exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01", sequence=7)])
        assert b'"ACK"' in reply
        assert daemon.terminate() == 0  # every line is written once it has exited
    events = [line.get("event") for line in log_events(daemon)]
    assert "daemon_stopped" in events
    assert "message_committed" not in events

    config = write_config(
        tmp_path, accounts=['account = "1234"'], log_level="debug", logging="events = false"
    )
    with Daemon(config) as daemon:
        exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01", sequence=8)])
        wait_until(
            lambda: any(line["level"] == "debug" for line in _committed(daemon)),
            10,
            "the line at debug level",
        )
