"""Account state folded from journal records."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.builders import T0, cid, derived, message, sia, stored

from alarmrx.rules.state import Change, StateBook


def _book(*records: object) -> StateBook:
    book = StateBook()
    for seq, record in enumerate(records, start=1):
        book.apply(stored(record, seq))  # type: ignore[arg-type]
    return book


def test_open_close_arm_and_disarm_per_area() -> None:
    book = _book(
        message("1", sia("CL", "close", area=1, user=4)),
        message("1", sia("CL", "close", area=2)),
        message("1", sia("OP", "open", area=1, user=5)),
    )
    areas = book.accounts["1"].areas
    assert (areas[1].armed, areas[1].user, areas[1].journal_seq) == (False, 5, 3)
    assert areas[2].armed is True


def test_alarm_stays_open_until_its_restore() -> None:
    book = _book(
        message("1", sia("BA", "alarm", zone=5), sia("FA", "alarm", zone=2)),
        message("1", sia("BR", "restore", zone=5)),
    )
    assert [(a.code, a.zone) for a in book.accounts["1"].open_alarms] == [("FA", 2)]


def test_contact_id_restore_by_qualifier() -> None:
    book = _book(
        message("1", cid("130", 1, "alarm", zone=3)),
        message("1", cid("131", 1, "alarm", zone=4)),
        message("1", cid("130", 3, "restore", zone=3)),
    )
    assert [(a.code, a.zone) for a in book.accounts["1"].open_alarms] == [("131", 4)]


def test_cancel_closes_the_areas_alarms() -> None:
    book = _book(
        message("1", sia("BA", "alarm", zone=5, area=1), sia("BA", "alarm", zone=6, area=2)),
        message("1", cid("406", 1, "cancel", area=1)),
    )
    assert [a.zone for a in book.accounts["1"].open_alarms] == [6]


def test_link_from_frames_hints_and_supervision() -> None:
    book = _book(message("1", sia("RP", "test")))
    assert book.accounts["1"].link == "online"
    book.apply(stored(derived("1", "supervision.lost", "trouble"), 2))
    assert book.accounts["1"].link == "offline"
    book.apply(stored(derived("1", "supervision.path_fault", "trouble"), 3))
    assert book.accounts["1"].link == "path_fault"
    book.apply(stored(derived("1", "supervision.path_restored", "restore"), 4))
    assert book.accounts["1"].link == "online"
    book.apply(stored(message("1", sia("RP", "test"), link="path_fault"), 5))
    assert book.accounts["1"].link == "path_fault"


def test_test_mode() -> None:
    book = _book(message("1", sia("RP", "test"), test=True))
    assert book.accounts["1"].test is True
    book.apply(stored(derived("1", "test.ended", "status"), 2))
    assert book.accounts["1"].test is False


def test_replayed_records_count_once() -> None:
    book = StateBook()
    first = stored(message("1", sia("BA", "alarm", zone=5)), 1)
    assert book.apply(first) is Change.CHANGED
    assert book.apply(first) is Change.NONE
    assert len(book.accounts["1"].open_alarms) == 1
    assert book.applied_seq == 1


def test_a_routine_report_only_moves_last_event() -> None:
    book = _book(message("1", sia("RP", "test")))
    later = stored(message("1", sia("RP", "test"), received_at=T0 + timedelta(minutes=5)), 2)
    assert book.apply(later) is Change.SEEN
    assert book.accounts["1"].last_event_at == T0 + timedelta(minutes=5)
    assert book.apply(stored(message("1", sia("BA", "alarm", zone=1)), 3)) is Change.CHANGED
