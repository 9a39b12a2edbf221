"""The order in which a backlog is published (docs/architecture.md, "Priority").

Higher classes first (hold-up, fire, intrusion, trouble, other; ``Record.priority`` 1..5,
lower first), and within one account the journal order. Both hold because a record takes
the most urgent class of itself and every later record of its account in the backlog
(priority inheritance): an account with a hold-up pending flushes its earlier records ahead
of it, and no record ever overtakes an earlier one of the same account.
"""

from __future__ import annotations

from collections.abc import Sequence

from alarmrx.journal.records import Record


def effective_priorities(records: Sequence[Record]) -> list[int]:
    """Per record: the minimum priority of it and the later records of its account."""
    most_urgent: dict[str | None, int] = {}
    result = [0] * len(records)
    for position in range(len(records) - 1, -1, -1):
        record = records[position]
        urgent = min(record.priority, most_urgent.get(record.account, record.priority))
        most_urgent[record.account] = urgent
        result[position] = urgent
    return result


def publication_order(records: Sequence[Record]) -> list[Record]:
    """``records`` (in journal order) sorted for publication."""
    inherited = effective_priorities(records)
    ranked = sorted(range(len(records)), key=lambda i: (inherited[i], records[i].journal_seq))
    return [records[i] for i in ranked]
