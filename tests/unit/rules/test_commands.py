"""Command shapes: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import json

import pytest

from alarmrx.rules.cards import parse_request
from alarmrx.rules.commands import (
    MAX_NOTE,
    CommandRefused,
    TestMode,
    Verify,
    account_field,
    command_body,
    parse_command,
    text_field,
)


def test_verify_and_test_mode_parse() -> None:
    assert parse_command(
        {"action": "verify", "account": "1", "journal_seq": 4, "by": "camera", "note": "n"}
    ) == Verify(account="1", journal_seq=4, by="camera", note="n")
    assert parse_command(
        {"action": "test_mode", "account": "1", "on": True, "duration_s": 60}
    ) == TestMode(account="1", on=True, duration_s=60.0)
    assert parse_command({"action": "test_mode", "account": "1", "on": False}) == TestMode(
        account="1", on=False
    )


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        ([], "a command is a JSON object"),
        ({"action": "arm"}, "action must be one of: verify, test_mode"),
        ({"action": "verify", "account": 1, "journal_seq": 1, "by": "operator"}, "account must"),
        ({"action": "verify", "account": "", "journal_seq": 1, "by": "operator"}, "empty"),
        ({"action": "verify", "account": "1", "journal_seq": "1", "by": "operator"}, "journal_seq"),
        (
            {"action": "verify", "account": "1", "journal_seq": True, "by": "operator"},
            "journal_seq",
        ),
        ({"action": "verify", "account": "1", "journal_seq": 1, "by": "dog"}, "by must be"),
        ({"action": "verify", "account": "1", "journal_seq": 1, "by": "camera", "note": 5}, "note"),
        ({"action": "test_mode", "account": "1", "on": "yes"}, "on must be true or false"),
        ({"action": "test_mode", "account": "1", "on": True}, "duration_s must be a number"),
        ({"action": "test_mode", "account": "1", "on": True, "duration_s": 0}, "above 0"),
        ({"action": "test_mode", "account": "1", "on": True, "duration_s": 604801}, "7 days"),
        ({"action": "test_mode", "account": "1", "on": True, "duration_s": float("nan")}, "above"),
    ],
)
def test_refusals_say_why(cmd: object, reason: str) -> None:
    with pytest.raises(CommandRefused, match=reason):
        parse_command(cmd)


def test_seven_days_exactly_is_allowed() -> None:
    parsed = parse_command(
        {"action": "test_mode", "account": "1", "on": True, "duration_s": 604800}
    )
    assert isinstance(parsed, TestMode) and parsed.duration_s == 604800


def test_body_records_outcome_and_request_and_is_json() -> None:
    cmd = {"action": "verify", "account": "1", "journal_seq": 4, "by": "operator"}
    body = command_body(cmd, parse_command(cmd), None)
    assert body["accepted"] is True and body["journal_seq"] == 4 and body["request"] == cmd
    refused = command_body({"action": "test_mode", "x": float("nan")}, None, "why")
    assert refused["accepted"] is False and refused["error"] == "why"
    assert refused["action"] == "test_mode" and "repr" in refused["request"]
    json.dumps(refused, allow_nan=False)


SAMPLES = {
    "verify": {"action": "verify", "account": "1", "journal_seq": 1, "by": "operator"},
    "alerted": {"action": "alerted", "account": "1"},
    "mark_false": {
        "action": "mark_false",
        "account": "1",
        "journal_seq": 1,
        "police_alerted": True,
        "by": "op",
    },
    "close_alarm": {"action": "close_alarm", "account": "1", "journal_seq": 1},
}


@pytest.mark.parametrize("action", sorted(SAMPLES))
def test_every_action_reads_its_text_fields_the_same_way(action: str) -> None:
    sample = SAMPLES[action]
    assert parse_request({**sample, "note": ""}).note is None
    assert parse_request({**sample, "note": None}).note is None
    assert parse_request({**sample, "note": "n" * MAX_NOTE}).note == "n" * MAX_NOTE
    for bad in ("n" * (MAX_NOTE + 1), 5, ["x"]):
        with pytest.raises(CommandRefused, match=rf"^note must be text of 1 to {MAX_NOTE} "):
            parse_request({**sample, "note": bad})
    with pytest.raises(CommandRefused, match=r"^account must not be empty$"):
        parse_request({**sample, "account": ""})
    with pytest.raises(CommandRefused, match=rf"^account must be text of 1 to {MAX_NOTE} "):
        parse_request({**sample, "account": 1234})


def test_a_required_text_field_must_be_there() -> None:
    cmd = {"action": "cancel", "account": "1", "journal_seq": 1}
    assert text_field({}, "note") is None
    with pytest.raises(CommandRefused, match=r"^id_code must be text"):
        parse_request(cmd)
    with pytest.raises(CommandRefused, match=r"^id_code must not be empty$"):
        parse_request({**cmd, "id_code": ""})
    assert account_field({"account": "0042"}) == "0042"  # verbatim, never a number
