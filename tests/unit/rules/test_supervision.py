"""The supervision core with an injected clock: intervals, edges, paths, restarts."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.rules.records import T0, Stream, at, event, message

from alarmrx.config.model import PathSettings, SupervisionSettings
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.rules.derived import Derived, DerivedType, new_record
from alarmrx.rules.plans import supervision_plan
from alarmrx.rules.supervision import RECORD_WAIT, SupervisionCore

LOST, RESTORED = DerivedType.SUPERVISION_LOST, DerivedType.SUPERVISION_RESTORED
FAULT, BACK = DerivedType.PATH_FAULT, DerivedType.PATH_RESTORED
DUAL_PATHS = (PathSettings(name="ethernet", line="1"), PathSettings(name="lte", line="2"))


def single(interval_s: float = 60.0, grace_s: float = 5.0, **kw: object) -> SupervisionCore:
    settings = SupervisionSettings(interval_s=interval_s, grace_s=grace_s, **kw)  # type: ignore[arg-type]
    core = SupervisionCore({"1": supervision_plan("1", settings, ())})
    core.start(T0)
    return core


def dual(category: str = "DP4") -> SupervisionCore:
    plan = supervision_plan("1", SupervisionSettings(category=category), DUAL_PATHS)
    core = SupervisionCore({"1": plan})
    core.start(T0)
    return core


def types(derived: list[Derived]) -> list[tuple[str, object]]:
    return [(d.type.value, d.fields.get("path")) for d in derived]


def test_silence_longer_than_interval_plus_grace_is_lost() -> None:
    core = single()
    assert core.next_deadline() == at(65) + timedelta(microseconds=1)
    assert core.on_timer(at(65)) == []  # exactly interval + grace: still in time
    lost = core.on_timer(at(65.000001))
    assert types(lost) == [("supervision.lost", None)]
    assert lost[0].fields["last_seen"] == T0.isoformat(timespec="microseconds")
    assert lost[0].fields["interval_s"] == 60.0
    assert core.is_lost("1") and core.offline == 1
    assert core.on_timer(at(500)) == []  # lost once, not again


def test_a_frame_restarts_the_interval_and_a_frame_at_the_deadline_is_in_time() -> None:
    core = single()
    core.observe("1", None, None, "tcp", at(65))  # exactly at the deadline
    assert core.on_timer(at(66)) == []
    assert core.next_deadline() == at(130) + timedelta(microseconds=1)
    assert types(core.on_timer(at(131))) == [("supervision.lost", None)]


def test_next_frame_restores_and_the_restore_is_due_at_once() -> None:
    core = single()
    core.on_timer(at(70))
    assert core.observe("1", "R1", "L1", "udp", at(80)) is True
    assert core.next_deadline() is not None and core.next_deadline() < at(0)  # at once
    restored = core.on_timer(at(80))
    assert types(restored) == [("supervision.restored", None)]
    assert not core.is_lost("1") and core.offline == 0
    assert core.next_deadline() == at(145) + timedelta(microseconds=1)


def test_observing_the_same_frame_twice_is_harmless() -> None:
    core = single()
    core.on_timer(at(70))
    assert core.observe("1", None, None, "tcp", at(80)) is True
    assert core.observe("1", None, None, "tcp", at(80)) is False  # the journaled copy
    assert len(core.on_timer(at(80))) == 1
    assert core.on_timer(at(81)) == []


def test_out_of_order_older_frame_does_not_move_the_deadline_back() -> None:
    core = single()
    core.observe("1", None, None, "tcp", at(50))
    core.observe("1", None, None, "tcp", at(20))  # a frame journaled late
    assert core.on_timer(at(115)) == []
    assert types(core.on_timer(at(115.5))) == [("supervision.lost", None)]


def test_unsupervised_accounts_are_ignored() -> None:
    core = single()
    assert core.observe("other", None, None, "tcp", at(1)) is False
    assert core.is_lost("other") is False


def test_category_gives_the_interval() -> None:
    plan = supervision_plan("1", SupervisionSettings(category="SP4"), ())
    core = SupervisionCore({"1": plan})
    core.start(T0)
    assert core.on_timer(at(180)) == []
    assert [d.fields["category"] for d in core.on_timer(at(181))] == ["SP4"]


def test_dual_path_one_path_is_a_fault_both_a_loss() -> None:
    core = dual("DP4")  # ethernet 90 s, lte 180 s
    core.observe("1", None, "2", "tcp", at(60))  # lte heard
    assert types(core.on_timer(at(91))) == [("supervision.path_fault", "ethernet")]
    assert core.offline == 0
    assert types(core.on_timer(at(241))) == [
        ("supervision.path_fault", "lte"),
        ("supervision.lost", "lte"),
    ]
    assert core.offline == 1


def test_dual_path_restores_path_by_path() -> None:
    core = dual("DP4")
    core.on_timer(at(200))  # both silent
    core.observe("1", None, "2", "udp", at(210))
    assert types(core.on_timer(at(210))) == [
        ("supervision.path_restored", "lte"),
        ("supervision.restored", "lte"),
    ]
    core.observe("1", None, "1", "tcp", at(220))
    assert types(core.on_timer(at(220))) == [("supervision.path_restored", "ethernet")]


def test_frames_matching_no_path_reset_nothing() -> None:
    core = dual("DP4")
    assert core.observe("1", None, "9", "tcp", at(80)) is False
    assert types(core.on_timer(at(91))) == [("supervision.path_fault", "ethernet")]


def test_path_interval_override_and_dp_secondary() -> None:
    paths = (PathSettings(name="a", line="1"), PathSettings(name="b", interval_s=10.0))
    plan = supervision_plan("1", SupervisionSettings(category="DP2", interval_s=100.0), paths)
    assert [p.interval_s for p in plan.paths] == [100.0, 10.0]
    plan = supervision_plan("1", SupervisionSettings(category="DP2"), DUAL_PATHS)
    assert [p.interval_s for p in plan.paths] == [1800.0, 90000.0]


def test_test_reports_mode_counts_only_periodic_test_reports() -> None:
    core = single(reset_by="test_reports")
    stream = Stream()
    assert core.observe("1", None, None, "tcp", at(30)) is False  # a link test: ignored
    core.handle(stream.add(message("1", event("BA", "alarm", zone=1), when=at(40))))
    core.handle(stream.add(message("1", event("602", "test", qualifier=1), when=at(50))))
    assert core.on_timer(at(115)) == []
    assert types(core.on_timer(at(115.1))) == [("supervision.lost", None)]
    core.handle(stream.add(message("1", event("RP", "test"), when=at(120))))
    assert types(core.on_timer(at(120))) == [("supervision.restored", None)]


def _journaled(derived: list[Derived], stream: Stream) -> None:
    for each in derived:
        stream.add(new_record(each))


def test_restart_keeps_a_lost_account_lost_until_a_frame() -> None:
    core, stream = single(), Stream()
    _journaled(core.on_timer(at(70)), stream)
    again = SupervisionCore(
        {"1": supervision_plan("1", SupervisionSettings(interval_s=60.0, grace_s=5.0), ())}
    )
    for record in stream.records:
        again.handle(record)
    again.start(at(1000))
    assert again.is_lost("1") and again.next_deadline() is None
    assert again.on_timer(at(5000)) == []  # no second loss
    again.observe("1", None, None, "tcp", at(5001))
    restored = again.on_timer(at(5001))
    assert types(restored) == [("supervision.restored", None)]
    assert restored[0].refs == (1,)  # the loss it ends


def test_restart_gives_every_healthy_account_a_fresh_interval() -> None:
    core = SupervisionCore({"1": supervision_plan("1", SupervisionSettings(interval_s=60.0), ())})
    core.handle(Stream().add(message("1", when=at(-3600))))  # journaled long ago
    core.start(T0)
    assert core.on_timer(at(60)) == []
    assert len(core.on_timer(at(60.5))) == 1


def test_restart_after_a_frame_that_came_after_the_loss_restores() -> None:
    core, stream = single(), Stream()
    _journaled(core.on_timer(at(70)), stream)
    stream.add(message("1", when=at(75)))  # the restore was never written: a crash
    again = SupervisionCore(
        {"1": supervision_plan("1", SupervisionSettings(interval_s=60.0, grace_s=5.0), ())}
    )
    for record in stream.records:
        again.handle(record)
    again.start(at(100))
    restored = again.on_timer(at(100))
    assert types(restored) == [("supervision.restored", None)]
    assert restored[0].refs == (1, 2)


def test_journaled_restore_is_folded_not_repeated() -> None:
    core, stream = single(), Stream()
    _journaled(core.on_timer(at(70)), stream)
    core.observe("1", None, None, "tcp", at(75))
    _journaled(core.on_timer(at(75)), stream)
    again = SupervisionCore(
        {"1": supervision_plan("1", SupervisionSettings(interval_s=60.0, grace_s=5.0), ())}
    )
    for record in stream.records:
        again.handle(record)
    again.start(at(100))
    assert again.on_timer(at(100)) == [] and not again.is_lost("1")
    assert again.on_timer(at(165)) == [] and len(again.on_timer(at(165.1))) == 1


def test_recorded_loss_is_referred_to_by_the_restore() -> None:
    core = single()
    lost = core.on_timer(at(70))
    core.recorded(lost[0], 17)
    core.observe("1", None, None, "tcp", at(71))
    assert core.on_timer(at(71))[0].refs == (17,)


def test_restore_names_the_frame_that_restored_it_not_the_one_before_the_loss() -> None:
    """Issue 14: interval 3 s, one frame, 5 s of silence, a second frame. The second frame is
    heard (the receiver's callback) before its record exists; the restore waits for it."""
    core, stream = single(interval_s=3.0, grace_s=0.0), Stream()
    for _ in range(14):
        stream.add(message("2", when=at(0)))  # other accounts' records: seq 1 to 14
    first = stream.add(message("1", when=at(1)))  # seq 15
    core.heard("1", None, None, "tcp", at(1))
    core.handle(first)
    (lost,) = core.on_timer(at(5))
    assert lost.refs == (15,)
    core.recorded(lost, 16)
    stream.add(new_record(lost))  # seq 16
    assert core.heard("1", None, None, "tcp", at(6)) is True
    assert core.next_deadline() == at(6) + RECORD_WAIT
    assert core.on_timer(at(6)) == []  # its record is not there yet
    second = stream.add(message("1", when=at(6)))  # seq 17
    assert core.fold(second, at(6.01)) == []
    assert core.next_deadline() is not None and core.next_deadline() < at(0)  # at once
    (restored,) = core.on_timer(at(6.01))
    assert types([restored]) == [("supervision.restored", None)]
    assert restored.refs == (16, 17)


def test_a_link_test_restores_after_the_record_wait_naming_the_loss_alone() -> None:
    core = single(interval_s=3.0, grace_s=0.0)
    core.handle(Stream().add(message("1", when=at(1))))  # seq 1
    (lost,) = core.on_timer(at(5))
    core.recorded(lost, 2)
    core.heard("1", None, None, "tcp", at(6))  # a NULL: no record will follow
    assert core.on_timer(at(6) + RECORD_WAIT - timedelta(microseconds=1)) == []
    (restored,) = core.on_timer(at(6) + RECORD_WAIT)
    assert restored.refs == (2,) and not core.is_lost("1")
    assert restored.fields["last_seen"] == at(6).isoformat(timespec="microseconds")


def test_a_late_record_of_an_earlier_frame_does_not_restore() -> None:
    core, stream = single(interval_s=3.0, grace_s=0.0), Stream()
    early = stream.add(message("1", when=at(1)))
    core.heard("1", None, None, "tcp", at(1))
    (lost,) = core.on_timer(at(5))
    core.recorded(lost, 5)
    assert core.observe("1", None, None, "tcp", at(1), journal_seq=early.journal_seq) is False
    assert core.on_timer(at(5.5)) == [] and core.is_lost("1")


def test_dual_path_restore_names_the_fault_and_the_restoring_frame() -> None:
    core = dual("DP4")
    (fault,) = core.on_timer(at(91))  # ethernet (line 1) silent
    core.recorded(fault, 7)
    core.heard("1", None, "1", "tcp", at(100))
    assert core.on_timer(at(100)) == []  # waits for the frame's record
    core.observe("1", None, "1", "tcp", at(100), journal_seq=8)
    (back,) = core.on_timer(at(100))
    assert types([back]) == [("supervision.path_restored", "ethernet")]
    assert back.refs == (7, 8)


def test_reload_keeps_silent_paths_and_restarts_changed_accounts() -> None:
    core = dual("DP4")
    core.on_timer(at(100))  # ethernet silent
    plan = supervision_plan("1", SupervisionSettings(category="DP3"), DUAL_PATHS)
    core.configure(
        {"1": plan, "2": supervision_plan("2", SupervisionSettings(interval_s=5), ())}, at(100)
    )
    assert core.on_timer(at(105.1))[0].account == "2"
    assert core.on_timer(at(100 + 90000)) == []  # lte: 25 h from the reload
    core.configure({}, at(200))
    assert core.offline == 0 and core.on_timer(at(10**6)) == []


def test_derived_body_carries_what_the_publisher_reads() -> None:
    lost = single().on_timer(at(70))[0]
    record: NewRecord = new_record(lost)
    assert record.kind is RecordKind.DERIVED and record.account == "1"
    assert record.received_at == at(70) and record.priority == 4  # trouble
    body = record.body
    assert (body["type"], body["code"], body["category"]) == ("supervision.lost", "YC", "trouble")
    assert body["refs"] == [] and body["test"] is False and body["key"] == lost.key


def test_a_mass_outage_is_concluded_in_slices() -> None:
    plans = {
        str(n): supervision_plan(str(n), SupervisionSettings(interval_s=60.0), ())
        for n in range(2500)
    }
    core = SupervisionCore(plans)
    core.start(T0)
    sizes = []
    while (deadline := core.next_deadline()) is not None and deadline <= at(61):
        sizes.append(len(core.on_timer(at(61))))
    assert sizes == [1000, 1000, 500] and core.offline == 2500
    for n in range(2500):
        core.observe(str(n), None, None, "tcp", at(62))
    assert [len(core.on_timer(at(62))) for _ in range(3)] == [1000, 1000, 500]
    assert core.offline == 0 and core.next_deadline() == at(122) + timedelta(microseconds=1)
