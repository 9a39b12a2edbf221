"""The verification core: neighbours, chains, the window's edges, order, restarts, commands."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.rules.records import Stream, at, burglary, command, event, message

from alarmrx.config.model import AccountSettings, VerificationSettings, ZoneSettings
from alarmrx.rules.derived import Derived, new_record
from alarmrx.rules.plans import VerificationPlan, verification_plan
from alarmrx.rules.verification import VerificationCore


def plan(
    window_s: float = 300.0,
    chains: tuple[tuple[int, ...], ...] = ((1, 2, 3),),
    zones: tuple[ZoneSettings, ...] = (),
) -> VerificationPlan:
    entry = AccountSettings(
        account="1",
        zones=zones,
        verification=VerificationSettings(window_s=window_s, chains=chains),
    )
    built = verification_plan(entry)
    assert built is not None
    return built


def run(core: VerificationCore, stream: Stream, *records: object) -> list[Derived]:
    out: list[Derived] = []
    for new in records:
        out += core.handle(stream.add(new))  # type: ignore[arg-type]
    return out


def verified(*records: object, window_s: float = 300.0) -> list[Derived]:
    return run(VerificationCore({"1": plan(window_s)}), Stream(), *records)


def test_two_detectors_in_consecutive_zones_verify() -> None:
    out = verified(message("1", burglary(1), when=at(0)), message("1", burglary(2), when=at(10)))
    assert len(out) == 1
    derived = out[0]
    assert derived.refs == (1, 2) and derived.at == at(10)
    assert derived.fields["zones"] == [1, 2] and derived.fields["verified_by"] == "rule"
    assert derived.zone == 2
    body = new_record(derived).body
    assert (body["type"], body["code"], body["category"], body["verified"]) == (
        "alarm.verified",
        "BV",
        "alarm",
        True,
    )
    assert new_record(derived).priority == 3  # intrusion


def test_window_edge_is_inclusive() -> None:
    assert verified(message("1", burglary(1), when=at(0)), message("1", burglary(2), when=at(300)))
    assert not verified(
        message("1", burglary(1), when=at(0)),
        message("1", burglary(2), when=at(300) + timedelta(microseconds=1)),
    )


def test_danish_window() -> None:
    records = (message("1", burglary(1), when=at(0)), message("1", burglary(2), when=at(590)))
    assert not verified(*records)
    assert verified(*records, window_s=600)


def test_same_detector_twice_does_not_verify() -> None:
    assert not verified(
        message("1", burglary(1), when=at(0)), message("1", burglary(1), when=at(5))
    )


def test_restores_and_other_events_do_not_verify() -> None:
    assert not verified(
        message("1", burglary(1), when=at(0)),
        message("1", event("BR", "restore", zone=2), when=at(5)),
        message("1", event("FA", "alarm", zone=2), when=at(6)),  # fire, not burglary
        message("1", event("130", "restore", zone=2, qualifier=3), when=at(7)),
    )


def test_zones_in_different_chains_or_not_adjacent_do_not_verify() -> None:
    core = VerificationCore({"1": plan(chains=((1, 2, 3), (10, 11)))})
    stream = Stream()
    assert not run(
        core,
        stream,
        message("1", burglary(3), when=at(0)),
        message("1", burglary(10), when=at(1)),
        message("1", burglary(1), when=at(2)),
    )
    assert run(core, stream, message("1", burglary(11), when=at(3)))[0].fields["zones"] == [10, 11]


def test_explicit_neighbours_work_both_ways() -> None:
    zones = (ZoneSettings(zone=5, neighbours=(9,)),)
    core = VerificationCore({"1": plan(chains=(), zones=zones)})
    assert run(
        core, Stream(), message("1", burglary(9), when=at(0)), message("1", burglary(5), when=at(1))
    )


def test_contact_id_burglary_alarms_verify() -> None:
    out = verified(
        message("1", event("130", "alarm", zone=1, qualifier=1), when=at(0)),
        message("1", event("131", "alarm", zone=2, qualifier=1), when=at(1)),
    )
    assert out and out[0].fields["alarms"][1]["code"] == "131"


def test_two_zones_in_one_frame_verify() -> None:
    out = verified(message("1", burglary(2), burglary(3), when=at(0)))
    assert [a["index"] for a in out[0].fields["alarms"]] == [0, 1]


def test_out_of_order_arrival_still_pairs() -> None:
    out = verified(message("1", burglary(2), when=at(100)), message("1", burglary(1), when=at(0)))
    assert out and out[0].refs == (1, 2)


def test_each_alarm_is_verified_once_and_a_third_joins() -> None:
    out = verified(
        message("1", burglary(1), when=at(0)),
        message("1", burglary(2), when=at(10)),
        message("1", burglary(1), when=at(20)),  # a new alarm: pairs with zone 2
        message("1", burglary(3), when=at(30)),
    )
    assert [d.refs for d in out] == [(1, 2), (2, 3), (2, 4)]


def test_alarms_of_unplanned_accounts_are_kept_for_commands() -> None:
    core, stream = VerificationCore({}), Stream()
    assert not run(core, stream, message("7", burglary(1)), message("7", burglary(2)))
    assert [a.zone for a in core.alarms_of("7", 2)] == [2]


def test_command_verifies_and_names_the_command() -> None:
    core, stream = VerificationCore({"1": plan()}), Stream()
    run(core, stream, message("1", burglary(7), when=at(0)))
    out = run(
        core,
        stream,
        command("1", at(30), action="verify", journal_seq=1, by="camera", note="person on image"),
    )
    assert len(out) == 1 and out[0].refs == (1, 2)
    assert out[0].fields["verified_by"] == "camera" and out[0].fields["note"] == "person on image"
    assert out[0].at == at(30)
    assert (
        run(core, stream, command("1", at(31), action="verify", journal_seq=1, by="operator")) == []
    )  # already verified
    refused = command("1", at(32), action="verify", journal_seq=1, by="operator")
    refused.body["accepted"] = False
    assert run(core, stream, refused) == []


def test_restart_in_the_middle_of_a_window_neither_forgets_nor_repeats() -> None:
    stream = Stream()
    stream.add(message("1", burglary(1), when=at(0)))
    again = VerificationCore({"1": plan()})  # the restarted core folds the journal
    assert [again.handle(r) for r in stream.records] == [[]]
    out = again.handle(stream.add(message("1", burglary(2), when=at(100))))
    assert out and out[0].refs == (1, 2)
    stream.add(new_record(out[0]))
    # Folding again concludes the same thing under the same key (which is how the runner
    # recognises it in the journal), and the journaled conclusion marks both verified.
    third = VerificationCore({"1": plan()})
    results = [third.handle(r) for r in stream.records]
    assert [[d.key for d in r] for r in results] == [[], [out[0].key], []]
    assert all(a.verified for a in third.alarms_of("1", 1) + third.alarms_of("1", 2))


def test_journaled_conclusion_marks_alarms_verified_for_commands() -> None:
    stream = Stream()
    stream.add(message("1", burglary(1), when=at(0)))
    stream.add(message("1", burglary(2), when=at(1)))
    derived = VerificationCore({"1": plan()})
    conclusion = next(d for r in stream.records for d in derived.handle(r))
    stream.add(new_record(conclusion))
    unplanned = VerificationCore({})  # e.g. the zones were removed from the config since
    for record in stream.records:
        unplanned.handle(record)
    assert all(a.verified for a in unplanned.alarms_of("1", 2))


def test_redelivered_record_is_ignored() -> None:
    core, stream = VerificationCore({"1": plan()}), Stream()
    one = stream.add(message("1", burglary(1), when=at(0)))
    two = stream.add(message("1", burglary(2), when=at(1)))
    assert core.handle(one) == [] and len(core.handle(two)) == 1
    assert core.handle(one) == [] and core.handle(two) == []
