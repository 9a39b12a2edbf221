"""The queue of a connection's replies, driven without sockets: answers in any order, replies
in the frames' order, each once; a cleared queue releases nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from alarmrx.receiver.replies import Place, ReplyQueue

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _frames(queue: ReplyQueue[str], count: int) -> list[Place[str]]:
    return [queue.take(T0 + timedelta(milliseconds=n)) for n in range(count)]


def _outcomes(released: Sequence[Place[str]]) -> list[str | None]:
    return [place.outcome for place in released]


def test_answers_in_order_go_out_at_once() -> None:
    queue: ReplyQueue[str] = ReplyQueue()
    first, second = _frames(queue, 2)
    assert _outcomes(queue.answered(first, "a")) == ["a"]
    assert len(queue) == 1
    assert _outcomes(queue.answered(second, "b")) == ["b"]
    assert len(queue) == 0


def test_a_later_answer_waits_for_the_earlier_frame() -> None:
    queue: ReplyQueue[str] = ReplyQueue()
    first, second, third = _frames(queue, 3)
    assert queue.answered(third, "c") == ()
    assert queue.answered(second, "b") == ()
    assert len(queue) == 3
    released = queue.answered(first, "a")
    assert _outcomes(released) == ["a", "b", "c"]
    assert [p.received_at for p in released] == [
        first.received_at,
        second.received_at,
        third.received_at,
    ]
    assert len(queue) == 0


def test_a_frame_answered_while_it_is_read_goes_out_in_its_turn() -> None:
    """A link test answered at once, behind a message whose commit is out."""
    queue: ReplyQueue[str] = ReplyQueue()
    [message] = _frames(queue, 1)
    [link_test] = _frames(queue, 1)
    assert queue.answered(link_test, "null-ack") == ()
    assert _outcomes(queue.answered(message, "ack")) == ["ack", "null-ack"]


def test_each_place_is_released_once() -> None:
    queue: ReplyQueue[str] = ReplyQueue()
    first, second = _frames(queue, 2)
    assert _outcomes(queue.answered(first, "a")) == ["a"]
    assert queue.answered(first, "again") == ()
    assert _outcomes(queue.answered(second, "b")) == ["b"]


def test_after_clear_late_answers_release_nothing() -> None:
    queue: ReplyQueue[str] = ReplyQueue()
    first, second = _frames(queue, 2)
    queue.clear()
    assert len(queue) == 0
    assert queue.answered(second, "b") == ()
    assert queue.answered(first, "a") == ()
    [fresh] = _frames(queue, 1)
    assert _outcomes(queue.answered(fresh, "c")) == ["c"]


@given(st.permutations(range(12)))
def test_any_answer_order_gives_the_frames_order(order: list[int]) -> None:
    """Whatever order the commits complete in, the replies leave in the order the frames
    came, each exactly once, and never ahead of a frame still waiting."""
    queue: ReplyQueue[str] = ReplyQueue()
    places = _frames(queue, 12)
    sent: list[str | None] = []
    answered: set[int] = set()
    for n in order:
        answered.add(n)
        sent += _outcomes(queue.answered(places[n], str(n)))
        waiting = min(set(range(12)) - answered, default=12)
        assert sent == [str(i) for i in range(waiting)]  # all before the first waiting frame
    assert sent == [str(i) for i in range(12)]
    assert len(queue) == 0
