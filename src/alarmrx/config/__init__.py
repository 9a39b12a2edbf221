"""Configuration: TOML in, frozen validated ``Settings`` out; problems name file, line, key."""

from alarmrx.config.accounts import AccountTable, account_policy
from alarmrx.config.load import load_settings, refuse_for_daemon
from alarmrx.config.model import (
    AccountSettings,
    JournalSettings,
    ListenAddress,
    LoggingSettings,
    MetricsSettings,
    MQTTSettings,
    ReceiverSettings,
    Settings,
    ZoneSettings,
)
from alarmrx.config.problems import ConfigError, Problem
from alarmrx.config.schema import Secrets

__all__ = [
    "load_settings",
    "refuse_for_daemon",
    "Secrets",
    "ConfigError",
    "Problem",
    "Settings",
    "ReceiverSettings",
    "ListenAddress",
    "JournalSettings",
    "MetricsSettings",
    "MQTTSettings",
    "LoggingSettings",
    "AccountSettings",
    "ZoneSettings",
    "AccountTable",
    "account_policy",
]
