"""The command table of ``alarmrx``: every command listed with its help, and only the chosen
command's module imported (each subprocess of the daemon and of the tests pays for what it
imports)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from alarmrx.commands import COMMANDS

MODULES = sorted({command.module for command in COMMANDS.values()})


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


# The modules under alarmrx.commands a command (argv[1:]) imported, one per line.
_IMPORTED = """
import sys
from alarmrx.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(*sorted(m for m in sys.modules if m.startswith("alarmrx.commands.")), sep="\\n")
"""


@pytest.mark.parametrize("module", MODULES)
def test_each_module_adds_the_commands_the_table_names(module: str) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"alarmrx.commands.{module}").register(sub)
    assert set(sub.choices) == {n for n, c in COMMANDS.items() if c.module == module}


def test_help_lists_every_command_with_its_help_and_imports_none() -> None:
    done = _run(_IMPORTED, "--help")
    assert done.returncode == 0, done.stderr
    listing = " ".join(done.stdout.split())  # argparse wraps long names
    for name, command in COMMANDS.items():
        assert f"{name} {command.help}" in listing
    assert "alarmrx.commands." not in done.stdout


@pytest.mark.parametrize("name", ["check", "decode", "guard-arrived", "journal"])
def test_a_command_imports_its_own_module_only(name: str) -> None:
    done = _run(_IMPORTED, name, "--help")
    assert done.returncode == 0, done.stderr
    imported = {line for line in done.stdout.splitlines() if line.startswith("alarmrx.")}
    own = f"alarmrx.commands.{COMMANDS[name].module}"
    assert own in imported
    assert imported - {own} <= {  # what the module itself imports
        "alarmrx.commands.operate",
        "alarmrx.commands.report",
    }


def test_an_unknown_command_is_one_error_line() -> None:
    done = _run(_IMPORTED, "no-such-command")
    assert "Traceback" not in done.stderr
    [usage, error] = done.stderr.splitlines()
    assert usage.startswith("usage: alarmrx")
    assert error.startswith("alarmrx: error: argument COMMAND: invalid choice: 'no-such-command'")
