"""contrib/grafana/alarmrx.json and contrib/prometheus/alarmrx-rules.yml against the real
thing: every metric they query is on a running daemon's ``/metrics``, every expression is
PromQL that Prometheus's own ``promtool`` accepts, and the alerts pass their
``promtool test rules`` cases.

``promtool`` comes with Debian's ``prometheus`` package (scripts/bootstrap installs it for
the tests); under ``CI=true`` a missing promtool fails these tests, elsewhere it skips them.
On a host running systemd the package also starts a Prometheus server (and, through its
recommends, a node exporter) on ports 9090 and 9100; nothing here talks to them, and the
tests' own servers take kernel-chosen ports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.daemon import Daemon, exchange_tcp, frame, write_config
from tests.hostile.support import http_get
from tests.promql import HISTOGRAM_SUFFIXES, declared_families, exposed_names, metric_names

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "contrib" / "grafana" / "alarmrx.json"
RULES = REPO / "contrib" / "prometheus" / "alarmrx-rules.yml"
RULE_TESTS = REPO / "contrib" / "prometheus" / "alarmrx-rules.test.yml"
# Series Prometheus itself makes for each target, not on /metrics.
SYNTHETIC = frozenset({"up"})
# Grafana's variables, as Prometheus would see them once substituted.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
    "$instance": ".*",
}
# What an ops team opens the dashboard for (issue 14): each must be on it.
DASHBOARD_MUST_SHOW = {
    "alarmrx_replies_total",  # frames/s by reply
    "alarmrx_frames_rejected_total",  # rejects by reason
    "alarmrx_ack_latency_seconds_bucket",
    "alarmrx_journal_commit_seconds_bucket",
    "alarmrx_journal_batch_records_bucket",  # the journal's backlog
    "alarmrx_mqtt_publish_backlog",
    "alarmrx_mqtt_receipt_to_ack_seconds_bucket",  # publisher lag
    "alarmrx_accounts_offline",
    "alarmrx_connections",
    "alarmrx_limits_hit_total",
    "alarmrx_clock_synchronised",
    "process_cpu_seconds_total",
}


def require_promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool not found (apt-get install prometheus; scripts/bootstrap does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``/metrics`` of a daemon that has received a frame."""
    directory = tmp_path_factory.mktemp("monitoring")
    with Daemon(write_config(directory, accounts=['account = "1234"'])) as daemon:
        exchange_tcp(daemon.port, [frame("1234", "#1234|Nri1/BA01")])
        status, text = http_get(daemon.metrics_port, "/metrics")
    assert status == 200
    return text


@pytest.mark.parametrize(
    ("source", "expressions"),
    [("dashboard", dashboard_expressions), ("rules", rule_expressions)],
)
def test_every_queried_metric_is_on_the_daemons_metrics(
    exposition: str, source: str, expressions: Any
) -> None:
    families = declared_families(exposition)
    available = exposed_names(families) | SYNTHETIC
    queried = {name for expr in expressions() for name in metric_names(expr)}
    assert queried, f"no metric found in the {source}"
    assert queried - available == set(), f"the {source} queries metrics the daemon lacks"
    for name in queried:  # a histogram's series only through its suffixes
        if name.endswith(HISTOGRAM_SUFFIXES):
            assert families.get(name.rsplit("_", 1)[0]) == "histogram", name


def test_the_dashboard_shows_what_operators_look_for_first() -> None:
    queried = {name for expr in dashboard_expressions() for name in metric_names(expr)}
    assert queried >= DASHBOARD_MUST_SHOW


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = list(_panels(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert "Processes" in rows
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job", "instance"}
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"], (panel["title"], target["expr"])


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    promtool = require_promtool()
    rules = []
    for n, query in enumerate(dashboard_expressions()):
        expr = query
        for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:panel_{n}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_pass_their_promtool_tests() -> None:
    promtool = require_promtool()
    done = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_promtool_case() -> None:
    """Each alert named in the rules is exercised in the tests file."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    tested = {
        check["alertname"]
        for case in cases["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert alerts == tested
