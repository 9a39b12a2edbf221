"""The schedule core with an injected clock: late to arm, disarms outside the schedule, the
evening check, overtime (past midnight, within the grace), re-arming after an alarm, and
periods across the daylight-saving nights in Europe/Copenhagen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.schedule.helpers import (
    ACCOUNT,
    MON,
    SAT,
    SUN,
    TUE,
    Site,
    alarm,
    closing,
    local,
    opening,
    period,
    plan,
)

from alarmrx.rules.derived import DerivedType, new_record
from alarmrx.rules.schedule import ScheduleCore

WORKDAY = period(MON, "07:00-18:00")
US = timedelta(microseconds=1)


def test_late_to_arm_after_the_grace_and_not_a_microsecond_before() -> None:
    site = Site(plan(WORKDAY, grace_s=900))
    assert site.send(local("2025-03-03 07:05"), opening()) == []  # inside the period
    assert site.core.next_deadline() == local("2025-03-03 18:15")
    assert site.timer(local("2025-03-03 18:15") - US) == []
    late = site.timer(local("2025-03-03 18:15"))
    assert [d.type for d in late] == [DerivedType.LATE_TO_ARM]
    body = new_record(late[0]).body
    assert body["code"] == "OT" and body["category"] == "supervisory"
    assert body["period_end"] == "2025-03-03T17:00:00.000000+00:00"  # 18:00 CET
    assert body["refs"] == [1]  # the disarm that left it open
    assert site.timer(local("2025-03-04 12:00")) == []  # once per period


def test_arming_exactly_at_the_deadline_is_in_time() -> None:
    site = Site(plan(WORKDAY, grace_s=900))
    site.send(local("2025-03-03 07:05"), opening())
    assert site.send(local("2025-03-03 18:15"), closing()) == []
    assert site.run_until(local("2025-03-04 12:00")) == []


def test_disarm_outside_the_periods_is_unexpected() -> None:
    site = Site(plan(WORKDAY))
    site.send(local("2025-03-03 06:00"), closing())
    out = site.send(local("2025-03-03 20:30"), opening(area=2, user=12))
    assert [(d.type, d.area, d.fields["user"], d.refs) for d in out] == [
        (DerivedType.UNEXPECTED_DISARM, 2, 12, (2,))
    ]
    assert "20:30+01:00" in out[0].description
    assert site.send(local("2025-03-03 06:59:59"), opening()) != []  # a second early: outside
    assert site.send(local("2025-03-03 07:00"), opening()) == []  # the start is inside


def test_evening_check_once_at_the_end_of_the_window() -> None:
    site = Site(plan(WORKDAY, evening="22:00-24:00"))
    site.send(local("2025-03-04 21:00"), opening())  # Tuesday: no period at all
    out = site.run_until(local("2025-03-05 12:00"))
    assert [(d.type, d.fields["evening"]) for d in out] == [
        (DerivedType.NOT_ARMED_EVENING, "2025-03-04")
    ]
    assert out[0].at == local("2025-03-05 00:00") and new_record(out[0]).body["code"] == "CI"
    site.send(local("2025-03-05 22:30"), closing())  # armed within the window next evening
    assert site.run_until(local("2025-03-06 12:00")) == []


def test_overtime_past_midnight_moves_the_late_check_and_covers_the_evening() -> None:
    site = Site(plan(WORKDAY, grace_s=600, evening="22:00-24:00"))
    site.send(local("2025-03-03 07:30"), opening())
    granted = site.overtime(local("2025-03-03 17:30"), local("2025-03-04 01:00"))
    assert [d.type for d in granted] == [DerivedType.OVERTIME]
    assert new_record(granted[0]).body["code"] == "CE"
    assert site.run_until(local("2025-03-04 01:09")) == []  # no late at 18:10, no evening
    assert site.send(local("2025-03-04 00:30"), opening(area=2)) == []  # open: overtime
    late = site.run_until(local("2025-03-04 01:10"))
    assert [(d.type, d.fields["period_end"]) for d in late] == [
        (DerivedType.LATE_TO_ARM, "2025-03-04T00:00:00.000000+00:00")
    ]


def test_overtime_asked_within_the_grace_extends_the_ended_period() -> None:
    site = Site(plan(WORKDAY, grace_s=900))
    site.send(local("2025-03-03 07:30"), opening())
    granted = site.overtime(local("2025-03-03 18:10"), local("2025-03-03 20:00"))
    assert granted[0].fields["from"] == "2025-03-03T17:00:00.000000+00:00"  # from 18:00
    assert site.run_until(local("2025-03-03 20:14")) == []
    assert [d.type for d in site.run_until(local("2025-03-03 20:15"))] == [DerivedType.LATE_TO_ARM]


def test_overtime_after_the_grace_is_a_new_open_interval() -> None:
    site = Site(plan(WORKDAY, grace_s=900))
    site.send(local("2025-03-03 07:30"), opening())
    assert len(site.run_until(local("2025-03-03 18:20"))) == 1
    granted = site.overtime(local("2025-03-03 18:20"), local("2025-03-03 19:00"))
    assert granted[0].fields["from"] == "2025-03-03T17:20:00.000000+00:00"
    late = site.run_until(local("2025-03-03 19:30"))  # the first report stays; a second one
    assert [d.fields["period_end"] for d in late] == ["2025-03-03T18:00:00.000000+00:00"]


def test_overtime_refusals() -> None:
    core = ScheduleCore({ACCOUNT: plan(WORKDAY)})
    now = local("2025-03-03 17:00")
    assert core.overtime_refusal("other", now + timedelta(hours=1), now) is not None
    assert "future" in str(core.overtime_refusal(ACCOUNT, now, now))
    assert "43200" in str(core.overtime_refusal(ACCOUNT, now + timedelta(hours=13), now))
    assert core.overtime_refusal(ACCOUNT, now + timedelta(hours=12), now) is None


def test_rearm_missing_after_a_disarm_that_followed_an_alarm() -> None:
    site = Site(plan(WORKDAY, rearm_s=1800))
    site.send(local("2025-03-04 02:00"), closing())  # Tuesday night, armed
    site.send(local("2025-03-04 02:10"), alarm())
    site.send(local("2025-03-04 02:30"), opening())  # the guard disarms (unexpected, too)
    out = site.run_until(local("2025-03-04 03:00"))
    assert [(d.type, d.refs, d.fields["due"]) for d in out] == [
        (DerivedType.REARM_MISSING, (2, 3), "2025-03-04T02:00:00.000000+00:00")
    ]
    assert new_record(out[0]).body["code"] == "CD"
    assert site.run_until(local("2025-03-04 06:00")) == []


def test_rearm_in_time_or_into_an_open_period_raises_nothing() -> None:
    site = Site(plan(period(TUE, "07:00-18:00"), rearm_s=1800))
    site.send(local("2025-03-04 02:00"), closing())
    site.send(local("2025-03-04 02:10"), alarm())
    site.send(local("2025-03-04 02:30"), opening())
    site.send(local("2025-03-04 02:59"), closing())  # re-armed in time
    site.send(local("2025-03-04 06:40"), alarm())
    site.send(local("2025-03-04 06:50"), opening())  # due 07:20: the premises are open then
    assert [d.type for d in site.run_until(local("2025-03-04 12:00"))] == []
    assert DerivedType.REARM_MISSING.value not in site.types()


def test_an_alarm_while_disarmed_does_not_ask_for_rearming() -> None:
    site = Site(plan(WORKDAY, rearm_s=60))
    site.send(local("2025-03-03 08:00"), opening())
    site.send(local("2025-03-03 08:05"), alarm())
    site.send(local("2025-03-03 08:06"), opening(area=2))
    site.run_until(local("2025-03-03 09:00"))
    assert DerivedType.REARM_MISSING.value not in site.types()


def test_every_area_must_be_armed() -> None:
    site = Site(plan(WORKDAY, grace_s=0))
    site.send(local("2025-03-03 08:00"), opening(area=1), opening(area=2))
    site.send(local("2025-03-03 17:55"), closing(area=1))
    assert [d.type for d in site.run_until(local("2025-03-03 18:00"))] == [DerivedType.LATE_TO_ARM]


def test_nothing_is_judged_before_the_first_open_or_close() -> None:
    site = Site(plan(WORKDAY, evening="22:00-24:00"))
    site.send(local("2025-03-03 08:00"), alarm())
    assert site.core.next_deadline() is None
    assert site.run_until(local("2025-03-10 12:00")) == []


def test_spring_forward_night_period_ends_at_local_six() -> None:
    night = period(SAT, "22:00-06:00")  # Sat 29 March 2025 22:00 CET -> Sun 06:00 CEST
    site = Site(plan(night, grace_s=0))
    site.send(local("2025-03-29 22:05"), opening())
    assert site.core.next_deadline() == datetime(2025, 3, 30, 4, 0, tzinfo=UTC)  # 7 h later
    out = site.run_until(local("2025-03-30 07:00"))
    assert [d.fields["period_end"] for d in out] == ["2025-03-30T04:00:00.000000+00:00"]
    assert "06:00+02:00" in out[0].description


def test_fall_back_night_period_ends_at_local_six() -> None:
    night = period(SAT, "22:00-06:00")  # Sat 25 Oct 2025 22:00 CEST -> Sun 06:00 CET
    site = Site(plan(night, grace_s=0))
    site.send(local("2025-10-25 22:05"), opening())
    assert site.core.next_deadline() == datetime(2025, 10, 26, 5, 0, tzinfo=UTC)  # 9 h later
    assert site.send(local("2025-10-26 02:30"), opening(area=2)) == []  # both 02:30s open


def test_a_period_starting_in_the_spring_gap_starts_when_the_clock_resumes() -> None:
    site = Site(plan(period(SUN, "02:30-05:00")))
    site.send(local("2025-03-29 12:00"), closing())
    early = site.send(datetime(2025, 3, 30, 1, 29, tzinfo=UTC), opening())  # 03:29 CEST
    assert [d.type for d in early] == [DerivedType.UNEXPECTED_DISARM]
    assert site.send(datetime(2025, 3, 30, 1, 30, tzinfo=UTC), opening()) == []  # 03:30


def test_evening_check_across_the_fall_back_night() -> None:
    site = Site(plan(evening="23:00-02:30"))  # ends at the first 02:30 (summer time)
    site.send(local("2025-10-25 20:00"), opening())
    out = site.run_until(local("2025-10-26 12:00"))
    assert [d.at for d in out] == [datetime(2025, 10, 26, 0, 30, tzinfo=UTC)]


def test_a_deadline_between_two_records_is_judged_with_the_state_before_the_later() -> None:
    site = Site(plan(WORKDAY, grace_s=0))
    site.send(local("2025-03-03 08:00"), opening())
    late = site.send(local("2025-03-03 19:00"), closing())  # no timer call in between
    assert [(d.type, d.at) for d in late] == [(DerivedType.LATE_TO_ARM, local("2025-03-03 19:00"))]
    assert late[0].fields["due"] == "2025-03-03T17:00:00.000000+00:00"


def test_a_replay_concludes_the_same_keys() -> None:
    schedule = plan(WORKDAY, grace_s=900, evening="22:00-24:00", rearm_s=600)
    site = Site(schedule)
    site.send(local("2025-03-03 07:30"), opening())
    site.overtime(local("2025-03-03 17:00"), local("2025-03-03 19:00"))
    site.run_until(local("2025-03-03 23:00"))
    site.send(local("2025-03-04 01:00"), closing())
    site.send(local("2025-03-04 01:05"), alarm())
    site.send(local("2025-03-04 01:10"), opening())
    site.run_until(local("2025-03-05 00:00"))
    again = ScheduleCore({ACCOUNT: schedule})
    keys = [d.key for r in site.stream.records for d in again.handle(r)]
    keys += [d.key for d in again.on_timer(local("2025-03-05 00:00"))]
    assert sorted(keys) == sorted(d.key for d in site.derived)
    assert len(site.types()) == len({d.key for d in site.derived}) >= 5


def test_reload_judges_a_changed_plan_from_the_reload_on() -> None:
    site = Site(plan(WORKDAY, grace_s=0))
    site.send(local("2025-03-03 08:00"), opening())
    site.core.configure(
        {ACCOUNT: plan(period(MON, "07:00-20:00"), grace_s=0)}, local("2025-03-03 12:00")
    )
    assert [d.fields["period_end"] for d in site.run_until(local("2025-03-03 21:00"))] == [
        "2025-03-03T19:00:00.000000+00:00"
    ]
    site.core.configure({}, local("2025-03-03 21:00"))
    assert site.core.next_deadline() is None
