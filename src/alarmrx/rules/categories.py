"""EN 50136-1 reporting times by ATS category: the default supervision intervals.

The values are the ones commonly quoted (docs/protocol.md, "EN 50136 reporting times");
they could not be checked against the standard's text, which is why every one of them can be
overridden per account (``supervision.interval_s``) and per path (``paths.interval_s``).
For a dual-path category the first path is the primary one and takes the category's value;
the others take the secondary value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_MINUTE = 60.0
_HOUR = 3600.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ReportingTime:
    """Seconds within which a fault of the primary (and secondary) path must be reported."""

    primary_s: float
    secondary_s: float | None = None


REPORTING_TIMES: Mapping[str, ReportingTime] = MappingProxyType(
    {
        "SP1": ReportingTime(32 * _DAY),
        "SP2": ReportingTime(25 * _HOUR),
        "SP3": ReportingTime(30 * _MINUTE),
        "SP4": ReportingTime(3 * _MINUTE),
        "SP5": ReportingTime(90.0),
        "SP6": ReportingTime(20.0),
        "DP1": ReportingTime(25 * _HOUR, 25 * _HOUR),
        "DP2": ReportingTime(30 * _MINUTE, 25 * _HOUR),
        "DP3": ReportingTime(3 * _MINUTE, 25 * _HOUR),
        "DP4": ReportingTime(90.0, 3 * _MINUTE),
    }
)
