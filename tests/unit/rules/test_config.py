"""The rules' configuration keys: loading, every problem as file:line: key, and the plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from alarmrx.config import ConfigError, load_settings
from alarmrx.rules.plans import plans_from

REPO = Path(__file__).resolve().parents[3]
ACCOUNT = '[[accounts]]\naccount = "1"\n'


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "alarmrx.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


def test_example_accounts_have_supervision_and_verification() -> None:
    settings = load_settings(REPO / "config" / "alarmrx.example.toml", environ={})
    plans = plans_from(settings.accounts)
    bakery, warehouse = plans.supervision["1234"], plans.supervision["0A7F"]
    assert [(p.name, p.interval_s) for p in bakery.paths] == [(None, 180.0)]
    assert [(p.name, p.line, p.interval_s, p.grace_s) for p in warehouse.paths] == [
        ("ethernet", "1", 1800.0, 60.0),
        ("lte", "2", 90000.0, 60.0),
    ]
    verification = plans.verification["0A7F"]
    assert verification.window.total_seconds() == 300
    assert verification.adjacent(2, 3) and not verification.adjacent(1, 3)
    assert plans.accounts == {"1234", "0A7F"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ACCOUNT + "[accounts.supervision]\ngrace_s = 5\n",
            "3: accounts[0].supervision: needs a category or interval_s",
        ),
        (
            ACCOUNT + '[accounts.supervision]\ncategory = "SP7"\n',
            "4: accounts[0].supervision.category: 'SP7' is not one of: 'SP1', 'SP2', 'SP3', 'SP4', "
            "'SP5', 'SP6', 'DP1', 'DP2', 'DP3', 'DP4'",
        ),
        (
            ACCOUNT + '[accounts.supervision]\ncategory = "DP2"\n',
            "4: accounts[0].supervision.category: "
            "a dual-path category needs two [[accounts.paths]]",
        ),
        (
            ACCOUNT + "[accounts.supervision]\ninterval_s = 0\n",
            "4: accounts[0].supervision.interval_s: must be above 0, got 0",
        ),
        (
            ACCOUNT + '[accounts.supervision]\ninterval_s = 60\nreset_by = "nulls"\n',
            "5: accounts[0].supervision.reset_by: "
            "'nulls' is not one of: 'any_frame', 'test_reports'",
        ),
        (
            ACCOUNT + '[[accounts.paths]]\nname = "a"\nline = "1"\n',
            "3: accounts[0].paths[0]: paths are used by supervision: add [accounts.supervision]",
        ),
        (
            ACCOUNT + '[[accounts.paths]]\nname = "a"\n[[accounts.paths]]\nname = "b"\nline = "2"\n'
            "[accounts.supervision]\ninterval_s = 60\n",
            "3: accounts[0].paths[0]: a path without receiver, line or transport matches every "
            "frame; list it last",
        ),
        (
            ACCOUNT + '[[accounts.paths]]\nname = "a"\nline = "1"\n[[accounts.paths]]\nname = "a"\n'
            "[accounts.supervision]\ninterval_s = 60\n",
            "7: accounts[0].paths[1].name: path 'a' is listed twice",
        ),
        (
            ACCOUNT + '[[accounts.paths]]\nname = "a"\ntransport = "sctp"\n',
            "5: accounts[0].paths[0].transport: 'sctp' is not one of: 'tcp', 'udp'",
        ),
        (
            ACCOUNT + "[accounts.verification]\nwindow_s = 600\n",
            "3: accounts[0].verification: needs chains, or zones with neighbours",
        ),
        (
            ACCOUNT + "[accounts.verification]\nwindow_s = 7200\nchains = [[1, 2]]\n",
            "4: accounts[0].verification.window_s: must be at most 3600",
        ),
        (
            ACCOUNT + "[accounts.verification]\nchains = [[1, 2], [3]]\n",
            "4: accounts[0].verification.chains[1]: a chain needs two zones or more",
        ),
        (
            ACCOUNT + "[accounts.verification]\nchains = [[1, 2, 1]]\n",
            "4: accounts[0].verification.chains[0]: a zone appears twice in this chain",
        ),
        (
            ACCOUNT + '[accounts.verification]\nchains = [[1, "2"]]\n',
            "4: accounts[0].verification.chains[0][1]: expected an integer, got a string",
        ),
    ],
)
def test_problems_name_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_every_bad_chain_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, ACCOUNT + "[accounts.verification]\nchains = [1, [2, 3], 4]\n") == [
        "4: accounts[0].verification.chains[0]: expected an array of integers, got an integer",
        "4: accounts[0].verification.chains[2]: expected an array of integers, got an integer",
    ]


def test_only_one_entry_of_an_account_sets_its_rules(tmp_path: Path) -> None:
    text = (
        ACCOUNT
        + 'line = "1"\n[accounts.supervision]\ninterval_s = 60\n'
        + ACCOUNT
        + 'line = "2"\n[accounts.supervision]\ninterval_s = 90\n'
    )
    assert problems(tmp_path, text) == [
        "9: accounts[1].supervision: already set for this account in accounts[0]"
    ]


def test_neighbours_alone_turn_verification_on_with_the_default_window(tmp_path: Path) -> None:
    path = tmp_path / "alarmrx.toml"
    path.write_text(ACCOUNT + "[[accounts.zones]]\nzone = 1\nneighbours = [2]\n")
    plan = plans_from(load_settings(path, environ={}).accounts).verification["1"]
    assert plan.window.total_seconds() == 300 and plan.adjacent(2, 1)
