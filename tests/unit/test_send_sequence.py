"""``alarmrx send``'s sequence numbers, counted per account in a state file (issue 14)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alarmrx.commands.sequence import following, state_file, take


def test_counts_up_per_account_and_wraps_to_0001(tmp_path: Path) -> None:
    path = tmp_path / "state" / "send-sequence.json"
    assert [take(path, "1234") for _ in range(3)] == [1, 2, 3]
    assert take(path, "5678") == 1
    assert take(path, "1234", 9998) == 9998  # given: sent as given and remembered
    assert [take(path, "1234") for _ in range(3)] == [9999, 1, 2]
    assert (following(9999), following(0), following(41)) == (1, 1, 42)


def test_an_unreadable_file_starts_again_at_0001(tmp_path: Path) -> None:
    path = tmp_path / "send-sequence.json"
    path.write_text("{not json", encoding="utf-8")
    assert take(path, "1234") == 1
    path.write_text('{"1234": "7", "5678": 99999}', encoding="utf-8")
    assert (take(path, "1234"), take(path, "5678")) == (1, 1)


def test_sends_at_the_same_time_get_different_numbers(tmp_path: Path) -> None:
    path = tmp_path / "send-sequence.json"
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(lambda _: take(path, "1234"), range(64)))
    assert sorted(numbers) == list(range(1, 65))


def test_the_file_lives_under_xdg_state_home_or_home() -> None:
    assert state_file({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == Path(
        "/s/alarmrx/send-sequence.json"
    )
    assert state_file({"HOME": "/h"}) == Path("/h/.local/state/alarmrx/send-sequence.json")
