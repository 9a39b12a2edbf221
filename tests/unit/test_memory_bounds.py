"""Structures that grow with records or accounts stop at their bound
(docs/performance.md, "Memory")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alarmrx.journal.dedupe import DedupeIndex
from alarmrx.protocols import contact_id, sia_dcs
from alarmrx.rules.auth import MAX_FAILURES_PER_ID, MAX_KEYS, Limiter

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_the_dedupe_index_keeps_at_most_its_entries_and_the_newest() -> None:
    index = DedupeIndex(timedelta(seconds=120), max_entries=100)
    for n in range(250):
        index.add(n.to_bytes(4, "big"), n + 1, T0 + timedelta(milliseconds=n))
    assert len(index) == 100
    assert index.find((249).to_bytes(4, "big"), T0) == 250
    assert index.find((0).to_bytes(4, "big"), T0) is None  # pushed out before its window


def test_the_dedupe_index_keeps_its_bound_when_a_commit_adds_many() -> None:
    index = DedupeIndex(timedelta(seconds=120), max_entries=100)
    index.add_commit({n.to_bytes(4, "big"): (n + 1, T0) for n in range(250)})
    assert len(index) == 100
    assert index.find((249).to_bytes(4, "big"), T0) == 250
    assert index.find((149).to_bytes(4, "big"), T0) is None
    index.add_commit({b"late": (251, T0 + timedelta(seconds=200))})  # the others: too old
    assert len(index) == 1
    assert index.find(b"late", T0 + timedelta(seconds=200)) == 251


def test_the_limiter_forgets_idle_keys_first_and_keeps_a_running_lockout() -> None:
    limiter = Limiter(MAX_FAILURES_PER_ID)
    for _ in range(MAX_FAILURES_PER_ID):
        limiter.failed("locked", T0)
    for n in range(MAX_KEYS + 50):
        limiter.failed(f"k{n}", T0 - timedelta(hours=1))  # old: idle by the next look
    later = T0 + timedelta(minutes=1)
    limiter.failed("new", later)
    assert len(limiter) <= MAX_KEYS
    assert limiter.locked_until("locked", later) is not None


def test_long_sia_blocks_are_decoded_but_not_cached() -> None:
    before = sia_dcs.cached_blocks()
    long_zone = "Nri1/BA" + "7" * 200
    assert sia_dcs.decode(long_zone).events[0].code == "BA"
    assert sia_dcs.cached_blocks() == before


def test_the_event_caches_can_be_emptied() -> None:
    sia_dcs.decode("Nri1/BA01")
    assert sia_dcs.cached_blocks() >= 1
    sia_dcs.clear_cache()
    assert sia_dcs.cached_blocks() == 0
    contact_id.decode("#1234|1130 01 003")
    contact_id.clear_cache()  # the next decode builds its event again, the same
    assert contact_id.decode("#1234|1130 01 003").events[0].code == "130"
