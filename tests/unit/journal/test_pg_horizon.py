"""The read horizon's pure part: a probe becomes safe once no transaction it saw runs."""

from __future__ import annotations

from alarmrx.journal.postgres.horizon import MAX_PROBES, Horizon


def test_idle_database_is_safe_at_once() -> None:
    horizon = Horizon()
    assert horizon.observe(allocated=5, xmin=100, xmax=100) == 5


def test_a_running_transaction_holds_the_horizon_until_it_ends() -> None:
    horizon = Horizon()
    assert horizon.observe(allocated=5, xmin=100, xmax=100) == 5
    # transaction 100 took seq 6 and runs; another committed 7
    assert horizon.observe(allocated=7, xmin=100, xmax=102) == 5
    assert horizon.observe(allocated=9, xmin=101, xmax=104) == 5  # 100 still below 102
    assert horizon.observe(allocated=9, xmin=102, xmax=104) == 7  # the first probe is safe
    assert horizon.observe(allocated=9, xmin=104, xmax=104) == 9


def test_the_horizon_never_goes_back() -> None:
    horizon = Horizon()
    horizon.observe(allocated=9, xmin=10, xmax=10)
    assert horizon.observe(allocated=3, xmin=10, xmax=10) == 9


def test_probes_are_bounded_while_a_long_transaction_runs() -> None:
    horizon = Horizon()
    for n in range(1, 3 * MAX_PROBES):
        assert horizon.observe(allocated=n, xmin=1, xmax=2 + n) == 0
    # once it ends, the newest kept probe is safe; a fresh probe covers the rest
    assert horizon.observe(allocated=3 * MAX_PROBES, xmin=10**6, xmax=10**6) == 3 * MAX_PROBES
