"""The queue of one TCP connection's replies: frames answered out of order, replies in order.

Sans-IO: no socket, no event loop, no clock. A frame read from the connection takes the next
place (``take``); its answer may come at once (a link test, a rejected frame) or after its
commit, and commits complete out of order. ``answered`` gives back the places whose replies
are now due, oldest first: the answered ones at the head of the queue, up to the first frame
still waiting. ``clear`` drops every place (the connection is gone); an answer to a dropped
place releases nothing.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Generic, TypeVar

Outcome = TypeVar("Outcome")

_NOTHING: tuple[()] = ()


class Place(Generic[Outcome]):
    """A frame's place in the queue: when it was received, and its answer once it has one."""

    __slots__ = ("dropped", "outcome", "received_at")

    def __init__(self, received_at: datetime) -> None:
        self.received_at = received_at
        self.outcome: Outcome | None = None
        self.dropped = False


class ReplyQueue(Generic[Outcome]):
    """Places in the order the frames came."""

    __slots__ = ("_places",)

    def __init__(self) -> None:
        self._places: deque[Place[Outcome]] = deque()

    def __len__(self) -> int:
        """Frames read and not yet released (answered or waiting)."""
        return len(self._places)

    def take(self, received_at: datetime) -> Place[Outcome]:
        """A place for the frame just read, behind every earlier one."""
        place: Place[Outcome] = Place(received_at)
        self._places.append(place)
        return place

    def answered(self, place: Place[Outcome], outcome: Outcome) -> list[Place[Outcome]] | tuple[()]:
        """``place`` has its answer: the places now due, in order (none while an earlier
        frame waits). Each place is released once."""
        if place.dropped or place.outcome is not None:
            return _NOTHING
        place.outcome = outcome
        places = self._places
        if places[0] is not place:
            return _NOTHING
        due = [places.popleft()]
        while places and places[0].outcome is not None:
            due.append(places.popleft())
        return due

    def clear(self) -> None:
        """Drop every place; answers still to come release nothing."""
        for place in self._places:
            place.dropped = True
        self._places.clear()
