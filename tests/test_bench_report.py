"""Medians, ratios, goal checks and the shape of the bench report (no load is generated)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives at the repo root

from bench import report


def scen(rps: float, p50: float) -> dict[str, Any]:
    run = {"rps": rps, "p50_ms": p50, "p99_ms": p50 * 3, "requests": 100, "errors": 0}
    run["cpu_us_per_req"] = 1e6 / rps  # as if each target had its core to itself
    return report.aggregate([run])


def ok_row(json_c1_p50: float, json_rps: float, sse_rps: float) -> dict[str, Any]:
    return {
        "status": "ok",
        "error": None,
        "scenarios": {
            "json_c1": scen(1000.0, json_c1_p50),
            "json_c32": scen(json_rps, 10.0),
            "sse_c32": scen(sse_rps, 30.0),
        },
    }


def rows(litellm: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    out = {
        "direct": ok_row(0.10, 10000.0, 1500.0),
        "floor": ok_row(0.55, 4000.0, 1000.0),
        "bordergate": ok_row(0.70, 2600.0, 650.0),
    }
    out["litellm"] = litellm or {"status": "error", "error": "install failed", "scenarios": {}}
    return out


def test_median_ignores_missing_values() -> None:
    assert report.median([3.0, None, 1.0, 2.0]) == 2.0
    assert report.median([None]) is None
    assert report.median([1.0, 2.0]) == 1.5


def test_ratio_guards_missing_and_zero() -> None:
    assert report.ratio(3.0, 2.0) == 1.5
    assert report.ratio(None, 2.0) is None
    assert report.ratio(3.0, 0.0) is None


def test_aggregate_takes_medians_and_sums_counts() -> None:
    runs = [
        {"rps": 10.0, "p50_ms": 5.0, "requests": 10, "errors": 1},
        {"rps": 30.0, "p50_ms": 1.0, "requests": 30, "errors": 0},
        {"rps": 20.0, "p50_ms": 2.0, "requests": 20, "errors": 2},
    ]
    agg = report.aggregate(runs)
    assert agg["rps"] == 20.0 and agg["p50_ms"] == 2.0
    assert agg["requests"] == 60 and agg["errors"] == 3
    assert agg["cpu_us_per_req"] is None
    assert len(agg["runs"]) == 3


def test_ratios_against_floor_and_missing_litellm() -> None:
    r = report.compute_ratios(rows())
    assert r["json_rps_vs_floor"] == pytest.approx(0.65)
    assert r["sse_streams_vs_floor"] == pytest.approx(0.65)
    assert r["json_rps_vs_litellm"] is None
    assert r["json_cpu_efficiency_vs_floor"] == pytest.approx(0.65)
    assert r["sse_cpu_efficiency_vs_floor"] == pytest.approx(0.65)


def test_ratio_against_litellm_when_it_ran() -> None:
    r = report.compute_ratios(rows(litellm=ok_row(18.0, 52.0, 16.0)))
    assert r["json_rps_vs_litellm"] == pytest.approx(50.0)


def test_added_p50_is_difference_to_direct() -> None:
    assert report.added_p50(rows(), "bordergate") == pytest.approx(0.60)
    assert report.added_p50(rows(), "litellm") is None


def test_rss_growth() -> None:
    assert report.rss_growth_pct(100_000, 104_000) == pytest.approx(4.0)
    assert report.rss_growth_pct(100_000, 95_000) == pytest.approx(-5.0)
    assert report.rss_growth_pct(None, 1) is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("json_rps_vs_floor", 0.6, "pass"),
        ("json_rps_vs_floor", 0.59, "miss"),
        ("added_p50_ms_c1", 0.7, "pass"),
        ("added_p50_ms_c1", 0.71, "miss"),
        ("json_rps_vs_litellm", None, "n/a"),
    ],
)
def test_goal_checks(key: str, value: float | None, expected: str) -> None:
    goal = next(g for g in report.GOALS if g.key == key)
    assert report.check_goal(goal, value) == expected


def bordergate_soak(growth: float) -> dict[str, Any]:
    return {"status": "ok", "target": "bordergate", "rss_growth_pct": growth}


def test_report_shape_and_json_round_trip(tmp_path: Path) -> None:
    rep = report.build_report({"mode": "quick"}, rows(), bordergate_soak(1.5), [])
    for key in ("json_rps_vs_floor", "sse_streams_vs_floor", "json_rps_vs_litellm"):
        assert key in rep["ratios"]
    assert rep["ratios"]["json_rps_vs_litellm"] is None
    assert rep["added_p50_ms_c1"] == pytest.approx(0.60)
    assert rep["rss_growth_pct"] == 1.5
    status = {t["key"]: t["status"] for t in rep["targets"]}
    assert status == {
        "json_rps_vs_floor": "pass",
        "sse_streams_vs_floor": "miss",
        "added_p50_ms_c1": "pass",
        "json_rps_vs_litellm": "n/a",
        "rss_growth_pct": "pass",
    }
    assert [r["target"] for r in rep["rows"]] == list(report.TARGETS)
    json_path, md_path = report.write(rep, tmp_path)
    assert json.loads(json_path.read_text())["ratios"] == rep["ratios"]
    assert md_path.read_text().startswith("# Bordergate benchmark")


def test_soak_of_another_target_is_not_bordergates_rss_result() -> None:
    soak = {"status": "ok", "target": "floor", "rss_growth_pct": 0.0}
    rep = report.build_report({}, rows(), soak, [])
    assert rep["rss_growth_pct"] is None


def test_markdown_shows_failed_targets_with_their_error() -> None:
    r = rows()
    r["bordergate"] = {"status": "error", "error": "exited with status 2 | usage", "scenarios": {}}
    text = report.render_markdown(report.build_report({}, r, {"status": "error"}, []))
    assert "| bordergate | not run: exited with status 2 / usage" in text
    assert "| litellm | not run: install failed" in text
    assert "N/A" in text
    assert "CPU-based estimates" in text and "JSON —" in text  # Bordergate did not run


def test_markdown_lists_unavailable_micro_benchmarks() -> None:
    micro = [
        {"key": "a", "label": "Policy", "status": "unavailable", "error": "module x missing"},
        {"key": "b", "label": "DLP", "status": "ok", "metrics": {"mb_per_s": 120.5}},
    ]
    text = report.render_markdown(report.build_report({}, rows(), {}, micro))
    assert "| Policy | not available: module x missing |" in text
    assert "| DLP | mb_per_s = 120.50 |" in text
