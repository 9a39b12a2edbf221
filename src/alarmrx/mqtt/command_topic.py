"""The MQTT command topic (docs/mqtt.md, "Commands"), without I/O: what a message on
``{topic_root}/v1/commands/{account}`` asks, where its reply goes, and what the reply says.

``publish.py`` subscribes, hands each decoded request to the rules (``RulesRunner.command``)
and publishes the reply. A request is one JSON object of at most ``MAX_REQUEST_BYTES``; the
account is the topic's level (a differing ``account`` in the object is refused) and
``source`` is always set to ``mqtt``, so a request can never pass for the operator's. The
reply goes to the MQTT 5 response topic when the request has one, else to
``{topic_root}/v1/replies/{request_id}``; it never repeats anything but ``request_id``,
``ok``, ``error``, ``warning`` and ``journal_seq``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alarmrx.mqtt.topics import Topics, escape_level, unescape_level

MAX_REQUEST_BYTES = 4096
REPLY_SCHEMA = "alarmrx.reply.v1"
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_WILDCARDS = re.compile(r"[#+\x00]")
MAX_TOPIC_BYTES = 1024


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A decoded request: the command for the rules, or the ``error`` that refuses it."""

    account: str | None
    request_id: str | None
    command: dict[str, Any] | None = field(default=None, repr=False)  # holds the PIN
    error: str | None = None


def subscription(topics: Topics) -> str:
    """The filter the publisher subscribes to: one level, the account."""
    return f"{topics.base}/commands/+"


def account_of(topic: str, topics: Topics) -> str | None:
    """The account a command topic names; None for any other topic."""
    prefix = f"{topics.base}/commands/"
    level = topic.removeprefix(prefix)
    if level == topic or not level or "/" in level:
        return None
    try:
        return unescape_level(level)
    except UnicodeDecodeError:
        return None


def is_command(topic: str, topics: Topics) -> bool:
    """True for ``{topic_root}/v1/commands/{account}``."""
    return account_of(topic, topics) is not None


def _object(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def decode_request(topic: str, payload: bytes, topics: Topics) -> CommandRequest:
    """The request a message carries, or why it is refused (never raises)."""
    account = account_of(topic, topics)
    if len(payload) > MAX_REQUEST_BYTES:
        return CommandRequest(
            account, None, error=f"a request is at most {MAX_REQUEST_BYTES} bytes"
        )
    data = _object(payload)
    if data is None:
        return CommandRequest(account, None, error="a request is one JSON object in UTF-8")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        error = "request_id must be 1 to 64 of A-Z a-z 0-9 _ . : -"
        return CommandRequest(account, None, error=error)
    if "account" in data and data["account"] != account:
        return CommandRequest(account, request_id, error="account differs from the topic's")
    command = {**data, "account": account, "source": "mqtt"}
    return CommandRequest(account, request_id, command=command)


def reply_topic(request: CommandRequest, response_topic: str | None, topics: Topics) -> str | None:
    """Where the reply goes: the MQTT 5 response topic, else ``replies/{request_id}``;
    None when neither is usable."""
    usable = response_topic and len(response_topic.encode()) <= MAX_TOPIC_BYTES
    if usable and not _WILDCARDS.search(str(response_topic)):
        return response_topic
    if request.request_id is None:
        return None
    return f"{topics.base}/replies/{escape_level(request.request_id)}"


def reply_payload(request: CommandRequest, reply: Mapping[str, Any]) -> dict[str, Any]:
    """The reply: ``request_id``, ``ok``, and ``error`` / ``warning`` / ``journal_seq`` when
    given."""
    out: dict[str, Any] = {
        "schema": REPLY_SCHEMA,
        "request_id": request.request_id,
        "ok": bool(reply.get("ok")),
    }
    for key in ("error", "warning"):
        if isinstance(reply.get(key), str):
            out[key] = reply[key]
    if isinstance(reply.get("journal_seq"), int):
        out["journal_seq"] = reply["journal_seq"]
    return out
