"""``alarmrx run --config FILE``: the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alarmrx.commands import CommandError, add_command

EX_CONFIG = 78


def register(sub: Any) -> None:
    """Add the ``run`` sub-command."""
    parser = add_command(sub, "run")
    parser.add_argument("--config", required=True, type=Path, help="the TOML configuration")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run; a config with problems exits 78 with every problem on its own line."""
    from alarmrx import app  # noqa: PLC0415 - the daemon's imports only when running it
    from alarmrx.config import ConfigError, load_settings, refuse_for_daemon  # noqa: PLC0415
    from alarmrx.journal.errors import JournalError  # noqa: PLC0415

    try:
        refuse_for_daemon(load_settings(args.config), args.config)
        return app.run(args.config)
    except ConfigError as err:
        raise CommandError(f"configuration refused:\n{err}", status=EX_CONFIG) from err
    except JournalError as err:
        raise CommandError(str(err), status=1) from err
    except OSError as err:
        raise CommandError(f"cannot start: {err}", status=1) from err
