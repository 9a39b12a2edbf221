"""Publication order under a backlog: higher priority first, per-account order kept."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.builders import cid, message, stored

from alarmrx.journal.records import Record
from alarmrx.mqtt.order import effective_priorities, publication_order


def _record(seq: int, account: str, priority: int) -> Record:
    return replace(stored(message(account, cid("602", 1, "test")), seq), priority=priority)


backlogs = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(min_value=1, max_value=5)),
    max_size=60,
).map(lambda items: [_record(i + 1, a, p) for i, (a, p) in enumerate(items)])


def test_holdup_first_then_fire_then_the_rest() -> None:
    records = [_record(1, "A", 5), _record(2, "B", 3), _record(3, "C", 1), _record(4, "D", 2)]
    assert [r.journal_seq for r in publication_order(records)] == [3, 4, 2, 1]


def test_earlier_records_of_the_account_go_ahead_of_its_holdup() -> None:
    records = [_record(1, "A", 5), _record(2, "B", 2), _record(3, "A", 1), _record(4, "A", 5)]
    assert [r.journal_seq for r in publication_order(records)] == [1, 3, 2, 4]


@given(backlogs)
def test_per_account_order_is_kept(records: list[Record]) -> None:
    ordered = publication_order(records)
    assert sorted(r.journal_seq for r in ordered) == [r.journal_seq for r in records]
    for account in {r.account for r in records}:
        seqs = [r.journal_seq for r in ordered if r.account == account]
        assert seqs == sorted(seqs)


@given(backlogs)
def test_no_record_waits_behind_a_less_urgent_account(records: list[Record]) -> None:
    inherited = dict(
        zip((r.journal_seq for r in records), effective_priorities(records), strict=True)
    )
    ordered = [inherited[r.journal_seq] for r in publication_order(records)]
    assert ordered == sorted(ordered)
    for record in records:
        assert inherited[record.journal_seq] <= record.priority
