"""The test-mode core with an injected clock: start, expiry at its edge, end, restart."""

from __future__ import annotations

from tests.unit.rules.records import Stream, at, command

from alarmrx.rules.derived import DerivedType, new_record
from alarmrx.rules.testmode import TestModeCore


def on(seconds: float, duration_s: float, account: str = "1") -> object:
    return command(account, at(seconds), action="test_mode", on=True, duration_s=duration_s)


def off(seconds: float, account: str = "1") -> object:
    return command(account, at(seconds), action="test_mode", on=False, duration_s=None)


def test_start_and_expiry_exactly_at_the_end() -> None:
    core, stream = TestModeCore(), Stream()
    started = core.handle(stream.add(on(0, 600)))  # type: ignore[arg-type]
    assert [d.type for d in started] == [DerivedType.TEST_STARTED]
    assert started[0].test is True and started[0].refs == (1,)
    assert started[0].fields["until"] == at(600).isoformat(timespec="microseconds")
    assert core.in_test("1", at(0)) and core.in_test("1", at(599.999999))
    assert not core.in_test("1", at(600)) and not core.in_test("1", at(-1))
    assert core.next_deadline() == at(600)
    assert core.on_timer(at(599.9)) == []
    ended = core.on_timer(at(600))
    assert [(d.type, d.fields["reason"], d.test) for d in ended] == [
        (DerivedType.TEST_ENDED, "expired", False)
    ]
    assert core.session("1") is None and core.next_deadline() is None
    body = new_record(ended[0]).body
    assert (body["code"], body["category"], body["started"]) == ("TE", "test", started[0].key)


def test_off_command_ends_once() -> None:
    core, stream = TestModeCore(), Stream()
    core.handle(stream.add(on(0, 600)))  # type: ignore[arg-type]
    ended = core.handle(stream.add(off(100)))  # type: ignore[arg-type]
    assert [(d.fields["reason"], d.refs, d.at) for d in ended] == [("command", (1, 2), at(100))]
    assert core.on_timer(at(600)) == []  # no second end
    assert core.handle(stream.add(off(101))) == []  # type: ignore[arg-type]


def test_on_while_in_test_replaces_the_session() -> None:
    core, stream = TestModeCore(), Stream()
    core.handle(stream.add(on(0, 600)))  # type: ignore[arg-type]
    core.handle(stream.add(on(300, 600)))  # type: ignore[arg-type]
    assert core.on_timer(at(600)) == []
    assert len(core.on_timer(at(900))) == 1


def test_duration_is_capped_at_seven_days() -> None:
    core = TestModeCore()
    started = core.handle(Stream().add(on(0, 10**9)))  # type: ignore[arg-type]
    assert started[0].fields["duration_s"] == 7 * 86400


def test_restart_keeps_the_session_and_its_single_end() -> None:
    core, stream = TestModeCore(), Stream()
    for new in (on(0, 600),):
        stream.add(new)  # type: ignore[arg-type]
    for derived in core.handle(stream.records[0]):
        stream.add(new_record(derived))
    again = TestModeCore()
    for record in stream.records:
        again.handle(record)
    assert again.in_test("1", at(300))
    ended = again.on_timer(at(700))  # the daemon was down at the end: it ends at start
    assert ended and ended[0].at == at(700) and ended[0].fields["until"].startswith("2025")
    stream.add(new_record(ended[0]))
    third = TestModeCore()
    for record in stream.records:
        third.handle(record)
    assert third.session("1") is None and third.on_timer(at(800)) == []
