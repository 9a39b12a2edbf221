"""Anchors of several chains (PostgreSQL): one ANCHOR body naming every chain's head, its
MQTT payload, and reading it back; a single-chain body stays as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.unit.builders import stored

from alarmrx.evidence.anchor import (
    Anchor,
    anchor_of,
    anchor_payload,
    body_of,
    parse_anchor,
    record_of,
    single_anchor,
)
from alarmrx.journal import bodies
from alarmrx.journal.bodies import AnchorHead
from alarmrx.journal.heads import ChainHead, anchor_heads, body_heads

AT = datetime(2025, 3, 3, 21, 5, tzinfo=UTC)
HEADS = (ChainHead("rx1", 12, "ab" * 32), ChainHead("rx2", 7, "cd" * 32))


def test_one_body_names_every_chains_head() -> None:
    anchor = Anchor(HEADS, AT)
    assert anchor.single is None
    assert record_of(anchor).body == {
        "heads": [
            {"chain": "rx1", "head_seq": 12, "head_hash": "ab" * 32},
            {"chain": "rx2", "head_seq": 7, "head_hash": "cd" * 32},
        ],
        "at": "2025-03-03T21:05:00.000000+00:00",
    }
    assert parse_anchor(body_of(anchor), 40, "rx1") == Anchor(HEADS, AT, 40)


def test_the_payload_of_several_chains_is_schema_v2() -> None:
    payload = json.loads(anchor_payload(Anchor(HEADS, AT, 40), "rx1"))
    assert payload["schema"] == "alarmrx.anchor.v2" and payload["journal_seq"] == 40
    assert [h["chain"] for h in payload["heads"]] == ["rx1", "rx2"]
    assert "head_seq" not in payload


def test_a_single_chain_body_names_the_chain_it_is_read_from() -> None:
    body = body_of(single_anchor(5, "ef" * 32, AT))
    assert body == {"head_seq": 5, "head_hash": "ef" * 32, "at": "2025-03-03T21:05:00.000000+00:00"}
    assert body_heads(body) == (ChainHead(None, 5, "ef" * 32),)
    assert body_heads(body, "rx1") == (ChainHead("rx1", 5, "ef" * 32),)  # a migrated chain
    assert json.loads(anchor_payload(single_anchor(5, "ef" * 32, AT, 6), "rx1"))["schema"] == (
        "alarmrx.anchor.v1"
    )


def test_malformed_heads_name_none() -> None:
    good = {"chain": "rx1", "head_seq": 1, "head_hash": "ab" * 32}
    for heads in (
        [],
        "rx1",
        [good, {"chain": "rx2", "head_seq": "7", "head_hash": "cd" * 32}],
        [good, {"head_seq": 7, "head_hash": "cd" * 32}],
        [good, {"chain": "rx2", "head_seq": True, "head_hash": "cd" * 32}],
        [good, "rx2"],
    ):
        assert body_heads({"heads": heads, "at": "2025-03-03T21:05:00+00:00"}) is None, heads
        assert parse_anchor({"heads": heads, "at": "2025-03-03T21:05:00+00:00"}) is None
    assert parse_anchor({"heads": [good], "at": "yesterday"}) is None


def test_the_typed_view_reads_the_heads_of_a_stored_record() -> None:
    record = stored(record_of(Anchor(HEADS, AT)), 40)
    typed = bodies.anchor(record)
    assert typed is not None and typed.head_seq is None
    assert typed.heads == (
        AnchorHead(chain="rx1", head_seq=12, head_hash="ab" * 32),
        AnchorHead(chain="rx2", head_seq=7, head_hash="cd" * 32),
    )
    assert anchor_heads(typed, "rx1") == HEADS
    assert anchor_of(record) == Anchor(HEADS, AT, 40)


def test_malformed_heads_never_read_as_the_single_chain_form() -> None:
    odd = {"chain": "rx2", "head_seq": "7", "head_hash": "cd" * 32}
    body = {"head_seq": 5, "head_hash": "ef" * 32, "heads": [odd], "at": "2025-03-03T21:05:00"}
    assert bodies.anchor_of(body).heads == ()
    assert body_heads(body) is None
    assert parse_anchor(body) is None
