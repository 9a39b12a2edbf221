"""Operator commands to the rules: their shape, and the journal body that records them.

A command arrives as a JSON object (MQTT command topic, CLI):

- ``{"action": "verify", "account": "1234", "journal_seq": 42, "by": "operator"|"camera",
  "note": "…"}``: the burglary alarm(s) of record 42 are verified;
- ``{"action": "test_mode", "account": "1234", "on": true, "duration_s": 3600}`` puts the
  account in test (at most 7 days); ``"on": false`` ends it;
- ``{"action": "overtime", "account": "1234", "until": "2025-03-01T21:00:00+01:00"}`` keeps
  the premises open until then (docs/schedules.md);
- ``{"action": "alerted" | "guard_arrived", "account": "1234", "journal_seq": 42, "who": "…",
  "note": "…", "at": "…"}`` records a step of an alarm's response (docs/evidence.md);
  ``journal_seq`` (the alarm's record) and ``at`` (when it happened, if not now) are optional.

``parse_command`` checks the shape; the runner checks it against the current state. Either
refusal raises ``CommandRefused`` with the reason given back to the sender.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from alarmrx.journal.isotime import parse_iso_time
from alarmrx.rules.testmode import MAX_DURATION

MAX_NOTE = 500
SOURCES = ("operator", "camera")


class CommandRefused(ValueError):  # noqa: N818 - reads as "raise CommandRefused(reason)"
    """The command is not carried out; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verify:
    """Verify the burglary alarms of record ``journal_seq``."""

    account: str
    journal_seq: int
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestMode:
    """Put ``account`` in test for ``duration_s`` (``on``), or end its test."""

    __test__ = False  # not a pytest test class, despite the name

    account: str
    on: bool
    duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Overtime:
    """Keep ``account`` open from now until ``until`` (schedules)."""

    account: str
    until: datetime


RESPONSE_ACTIONS = ("alerted", "guard_arrived")


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A step of an alarm's response: ``alerted`` (someone was called out) or
    ``guard_arrived``; ``journal_seq`` is the alarm's record (None: the account's latest
    alarm before the command), ``at`` when it happened if not when recorded."""

    action: str
    account: str
    journal_seq: int | None = None
    who: str | None = None
    note: str | None = None
    at: datetime | None = None


Command = Verify | TestMode | Overtime | Response


def _field(cmd: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = cmd.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CommandRefused(f"{name} must be {what}")
    return value


def text_field(cmd: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """The text field ``name`` of a command, read the same way for every action: a string
    of 1 to ``MAX_NOTE`` characters. An optional field that is absent, null or empty gives
    None; a required one must be there and not be empty. Anything else (a number, a list,
    a longer string) is refused, naming the field."""
    value = cmd.get(name)
    if value == "" and required:
        raise CommandRefused(f"{name} must not be empty")
    if (value is None or value == "") and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NOTE:
        raise CommandRefused(f"{name} must be text of 1 to {MAX_NOTE} characters")
    return value


def account_field(cmd: Mapping[str, Any]) -> str:
    """The command's ``account``: required text (``text_field``)."""
    return str(text_field(cmd, "account", required=True))


def _verify(cmd: Mapping[str, Any]) -> Verify:
    journal_seq = _field(cmd, "journal_seq", int, "the journal_seq of the alarm (an integer)")
    by = cmd.get("by")
    if by not in SOURCES:
        raise CommandRefused(f"by must be one of: {', '.join(SOURCES)}")
    note = text_field(cmd, "note")
    return Verify(account=account_field(cmd), journal_seq=int(journal_seq), by=str(by), note=note)


def _test_mode(cmd: Mapping[str, Any]) -> TestMode:
    on = _field(cmd, "on", bool, "true or false")
    if not on:
        return TestMode(account=account_field(cmd), on=False)
    duration = _field(cmd, "duration_s", (int, float), "a number of seconds")
    limit = MAX_DURATION.total_seconds()
    if not 0 < duration <= limit:
        raise CommandRefused(f"duration_s must be above 0 and at most {limit:.0f} (7 days)")
    return TestMode(account=account_field(cmd), on=True, duration_s=float(duration))


def _moment(cmd: Mapping[str, Any], name: str) -> datetime | None:
    value = cmd.get(name)
    if value is None:
        return None
    moment = parse_iso_time(value, zoned=True)
    if moment is None:
        raise CommandRefused(f"{name} must be an ISO 8601 time with a zone (Z or +01:00)")
    return moment


def _overtime(cmd: Mapping[str, Any]) -> Overtime:
    until = _moment(cmd, "until")
    if until is None:
        raise CommandRefused("until must be an ISO 8601 time with a zone (Z or +01:00)")
    return Overtime(account=account_field(cmd), until=until)


def _response(cmd: Mapping[str, Any]) -> Response:
    seq = cmd.get("journal_seq")
    if seq is not None:
        seq = int(_field(cmd, "journal_seq", int, "the journal_seq of the alarm (an integer)"))
    return Response(
        action=str(cmd["action"]),
        account=account_field(cmd),
        journal_seq=seq,
        who=text_field(cmd, "who"),
        note=text_field(cmd, "note"),
        at=_moment(cmd, "at"),
    )


_PARSERS: Mapping[str, Callable[[Mapping[str, Any]], Command]] = MappingProxyType(
    {
        "verify": _verify,
        "test_mode": _test_mode,
        "overtime": _overtime,
        "alerted": _response,
        "guard_arrived": _response,
    }
)


def parse_command(cmd: object) -> Command:
    """The typed command, or ``CommandRefused`` naming what is wrong."""
    if not isinstance(cmd, Mapping):
        raise CommandRefused("a command is a JSON object")
    parse = _PARSERS.get(cmd.get("action"))  # type: ignore[arg-type]  # any key may miss
    if parse is None:
        raise CommandRefused(f"action must be one of: {', '.join(_PARSERS)}")
    return parse(cmd)


def command_body(cmd: object, parsed: Command | None, error: str | None) -> dict[str, Any]:
    """The COMMAND record's body: the typed fields, the outcome and the request as sent."""
    fields: dict[str, Any] = {}
    if isinstance(parsed, Verify):
        fields = {
            "action": "verify",
            "journal_seq": parsed.journal_seq,
            "by": parsed.by,
            "note": parsed.note,
        }
    elif isinstance(parsed, TestMode):
        fields = {"action": "test_mode", "on": parsed.on, "duration_s": parsed.duration_s}
    elif isinstance(parsed, Overtime):
        fields = {"action": "overtime", "until": parsed.until.isoformat()}
    elif isinstance(parsed, Response):
        fields = {
            "action": parsed.action,
            "journal_seq": parsed.journal_seq,
            "who": parsed.who,
            "note": parsed.note,
            "at": parsed.at and parsed.at.isoformat(),
        }
    else:
        action = cmd.get("action") if isinstance(cmd, Mapping) else None
        fields = {"action": action if isinstance(action, str) else None}
    return {**fields, "accepted": error is None, "error": error, "request": _json_safe(cmd)}


def _json_safe(cmd: object) -> Any:
    """The request as sent when it is plain JSON, else its ``repr`` (never fails)."""
    try:
        json.dumps(cmd, allow_nan=False)
    except (TypeError, ValueError):
        return {"repr": repr(cmd)[:MAX_NOTE]}
    return cmd
