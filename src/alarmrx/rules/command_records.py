"""Reading the COMMAND records the rules act on (``commands.py`` writes them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def accepted_action(body: Mapping[str, Any]) -> str | None:
    """The action of an accepted command's record body; None for a refused command."""
    action = body.get("action")
    return action if body.get("accepted") is True and isinstance(action, str) else None
