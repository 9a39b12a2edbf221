"""The centre's rules (docs/rules.md): supervision, verification and test mode.

Each rule is a pure core (journal records and the current time in, derived events and its
next deadline out); ``RulesRunner`` drives them over the journal and appends what they
conclude as DERIVED records. ``app.py`` builds one runner::

    runner = RulesRunner.from_accounts(journal, settings.accounts, clock=utc_now,
                                       metrics=metrics)
    # FrameHandler(on_link=runner.observe_link, ...); TaskGroup: runner.run()
    # commands (MQTT, CLI): await runner.command({...}); SIGHUP: runner.reload(plans_from(...))
"""

from alarmrx.rules.commands import CommandRefused, TestMode, Verify, parse_command
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.interfaces import NoRulesMetrics, Rule, RulesJournal, RulesMetrics
from alarmrx.rules.plans import (
    PathPlan,
    RulePlans,
    SupervisionPlan,
    VerificationPlan,
    plans_from,
)
from alarmrx.rules.runner import CURSOR, RulesRunner
from alarmrx.rules.supervision import SupervisionCore
from alarmrx.rules.testmode import MAX_DURATION, TestModeCore
from alarmrx.rules.verification import VerificationCore

__all__ = [
    "RulesRunner",
    "CURSOR",
    "RulePlans",
    "plans_from",
    "SupervisionPlan",
    "PathPlan",
    "VerificationPlan",
    "SupervisionCore",
    "VerificationCore",
    "TestModeCore",
    "MAX_DURATION",
    "Derived",
    "DerivedType",
    "Rule",
    "RulesJournal",
    "RulesMetrics",
    "NoRulesMetrics",
    "parse_command",
    "CommandRefused",
    "Verify",
    "TestMode",
]
