"""structlog set-up: JSON lines with UTC timestamps, redaction, rate-limited lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from alarmrx.observability.logs import REDACTED, RateLimitedLog, configure, is_secret, redact


@pytest.fixture(autouse=True)
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_utc_timestamp_level_event_and_fields() -> None:
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    log = structlog.get_logger().bind(peer="127.0.0.1:5000", transport="tcp")
    log.info("message_committed", account="1234", journal_seq=7)
    log.debug("not_shown")
    (line,) = json_lines(stream)
    assert line["event"] == "message_committed"
    assert line["level"] == "info"
    assert isinstance(line["timestamp"], str)
    assert line["timestamp"].endswith("Z")
    assert (line["peer"], line["account"], line["journal_seq"]) == ("127.0.0.1:5000", "1234", 7)


def test_auto_is_json_off_a_terminal_and_under_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()  # not a TTY
    configure("info", "auto", stream=stream)
    structlog.get_logger().info("started")
    assert json_lines(stream)[0]["event"] == "started"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    terminal = Terminal()
    configure("info", "auto", stream=terminal)
    structlog.get_logger().info("started")
    assert json_lines(terminal)[0]["event"] == "started"
    monkeypatch.delenv("JOURNAL_STREAM")
    terminal = Terminal()
    configure("info", "console", stream=terminal)
    structlog.get_logger().info("started")
    assert "started" in terminal.getvalue()
    assert not terminal.getvalue().startswith("{")


def test_secrets_are_masked_at_any_depth() -> None:
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    structlog.get_logger().warning(
        "account_loaded",
        key=key,
        password="hunter2",
        aes_key=key.hex(),
        pin="1234",
        account={"account": "1", "keys": [key], "secret": "s"},
        key_file="/etc/k",
        token="SIA-DCS",
    )
    (line,) = json_lines(stream)
    text = stream.getvalue()
    assert "hunter2" not in text
    assert key.hex() not in text
    assert "x00" not in text and "\\x11" not in text
    assert line["key"] == line["password"] == line["aes_key"] == line["pin"] == REDACTED
    assert line["account"] == {"account": "1", "keys": REDACTED, "secret": REDACTED}
    assert line["key_file"] == "/etc/k"  # a path is not a secret
    assert line["token"] == "SIA-DCS"  # the DC-09 ID token is not a secret


def test_redact_as_a_plain_processor() -> None:
    assert redact(None, "info", {"event": "x", "secrets": [1]}) == {
        "event": "x",
        "secrets": REDACTED,
    }
    assert is_secret("MQTT_PASSWORD")
    assert not is_secret("keyboard")


def test_rate_limited_log_counts_what_it_suppressed() -> None:
    now = [0.0]
    with structlog.testing.capture_logs() as captured:
        limited = RateLimitedLog(structlog.get_logger(), 60.0, clock=lambda: now[0])
        assert limited.warning("peer-a", "frame_rejected", reason="crc") is True
        assert limited.warning("peer-a", "frame_rejected", reason="crc") is False
        assert limited.warning("peer-a", "frame_rejected", reason="crc") is False
        assert limited.warning("peer-b", "frame_rejected", reason="crc") is True
        now[0] = 61.0
        assert limited.warning("peer-a", "frame_rejected", reason="crc") is True
        assert limited.info("peer-a", "frame_rejected") is False
    assert [(c["event"], c.get("suppressed")) for c in captured] == [
        ("frame_rejected", None),
        ("frame_rejected", None),
        ("frame_rejected", 2),
    ]
    assert captured[0]["log_level"] == "warning"


def test_rate_limited_log_forgets_the_oldest_keys() -> None:
    with structlog.testing.capture_logs() as captured:
        limited = RateLimitedLog(structlog.get_logger(), 60.0, max_keys=2, clock=lambda: 0.0)
        for key in ("a", "b", "c", "a"):
            limited.error(key, "limit_hit")
    assert len(captured) == 4  # "a" was forgotten when "c" arrived, so it logs again


def test_json_lines_are_the_text_json_dumps_gives() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    stream = io.StringIO()
    configure("info", "json", stream=stream)
    structlog.get_logger().info("zone_named", name="Køkken ☃", refs=(1, 2), thing=Opaque())
    (line,) = json_lines(stream)
    assert stream.getvalue() == json.dumps(line) + "\n"
    assert (line["name"], line["refs"], line["thing"]) == ("Køkken ☃", [1, 2], "<opaque>")
