"""tests/promql.py, the lexer the dashboard and alert checks rely on, on expressions whose
traps a regex over the whole text would fall into."""

from __future__ import annotations

import pytest
from tests.promql import declared_families, exposed_names, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job=~"$job"}'
            "[$__rate_interval])))",
            {"a_seconds_bucket"},
        ),
        ("sum(rate(a_total[5m])) / ignoring(x) group_left(y) sum(b) > bool 0.5", {"a_total", "b"}),
        ("(c - c offset 10m) >= 10 and d unless up", {"c", "d", "up"}),
        ("predict_linear(e[6h], 24 * 3600) < 1024 * 1024", {"e"}),
        ('sum without (instance) (f{a="by(g) h"}) by (z)', {"f"}),
        ("count by (a, b) (x) * on (c) group_right y", {"x", "y"}),
        ("rate(m[1h30m:5m]) > inf or NaN", {"m"}),
        ("min_over_time(n[2m]) == 0x10", {"n"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_a_selector_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="without a metric name"):
        metric_names('{__name__=~"alarmrx_.*"}')


def test_exposed_names_give_histograms_only_their_series() -> None:
    text = (
        "# TYPE a_seconds histogram\n# TYPE b_total counter\n# TYPE c gauge\n# TYPE d_info gauge\n"
    )
    families = declared_families(text)
    assert exposed_names(families) == {
        "a_seconds_bucket",
        "a_seconds_sum",
        "a_seconds_count",
        "b_total",
        "c",
        "d_info",
    }
