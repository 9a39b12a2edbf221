"""The command topic without a broker: decoding requests, where replies go, what they say,
and that a request can never pass for the operator's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from alarmrx.mqtt.command_topic import (
    MAX_REQUEST_BYTES,
    CommandRequest,
    account_of,
    decode_request,
    reply_payload,
    reply_topic,
    subscription,
)
from alarmrx.mqtt.topics import Topics

TOPICS = Topics("alarmrx", "rx1")
SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schema"


def schema(name: str) -> jsonschema.Draft202012Validator:
    loaded = json.loads((SCHEMAS / f"{name}.v1.json").read_text())
    return jsonschema.Draft202012Validator(loaded, format_checker=jsonschema.FormatChecker())


def request(**fields: object) -> bytes:
    return json.dumps(
        {
            "action": "cancel",
            "request_id": "r-1",
            "id_code": "1001",
            "pin": "2580",
            "journal_seq": 42,
            **fields,
        }
    ).encode()


def test_the_subscription_and_the_account_level() -> None:
    assert subscription(TOPICS) == "alarmrx/v1/commands/+"
    assert account_of("alarmrx/v1/commands/12%2F34", TOPICS) == "12/34"
    assert account_of("alarmrx/v1/commands/1234/ha", TOPICS) is None
    assert account_of("alarmrx/v1/events/1234", TOPICS) is None
    assert account_of("alarmrx/v1/commands/", TOPICS) is None


def test_a_valid_request_is_marked_mqtt_whatever_it_says() -> None:
    decoded = decode_request("alarmrx/v1/commands/1234", request(source="cli"), TOPICS)
    assert decoded.error is None and decoded.command is not None
    assert (decoded.command["source"], decoded.command["account"]) == ("mqtt", "1234")
    assert "2580" not in repr(decoded)
    schema("command").validate(json.loads(request()))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", "a request is one JSON object in UTF-8"),
        (b"[1, 2]", "a request is one JSON object in UTF-8"),
        (b"\xff\xfe", "a request is one JSON object in UTF-8"),
        (b'{"action": "cancel"}', "request_id must be 1 to 64"),
        (request(request_id="a/b"), "request_id must be 1 to 64"),
        (request(account="9999"), "account differs from the topic's"),
        (b" " * (MAX_REQUEST_BYTES + 1), f"a request is at most {MAX_REQUEST_BYTES} bytes"),
    ],
)
def test_malformed_requests_are_refused(payload: bytes, error: str) -> None:
    decoded = decode_request("alarmrx/v1/commands/1234", payload, TOPICS)
    assert decoded.command is None and str(decoded.error).startswith(error)


def test_the_reply_topic_and_payload() -> None:
    decoded = CommandRequest("1234", "r-1")
    assert reply_topic(decoded, None, TOPICS) == "alarmrx/v1/replies/r-1"
    assert reply_topic(decoded, "app/inbox/7", TOPICS) == "app/inbox/7"
    assert reply_topic(decoded, "app/+/7", TOPICS) == "alarmrx/v1/replies/r-1"
    assert reply_topic(CommandRequest("1234", None), None, TOPICS) is None
    ok = reply_payload(decoded, {"ok": True, "journal_seq": 7, "pin": "2580"})
    refused = reply_payload(CommandRequest(None, None), {"ok": False, "error": "bad"})
    assert ok == {"schema": "alarmrx.reply.v1", "request_id": "r-1", "ok": True, "journal_seq": 7}
    assert refused == {
        "schema": "alarmrx.reply.v1",
        "request_id": None,
        "ok": False,
        "error": "bad",
    }
    warned = reply_payload(decoded, {"ok": True, "journal_seq": 8, "warning": "check --at"})
    assert warned["warning"] == "check --at"
    for payload in (ok, refused, warned):
        schema("reply").validate(payload)
