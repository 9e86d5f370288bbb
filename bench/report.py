"""Turning run results into the report: medians, ratios, goal checks, Markdown and JSON.

Pure functions over plain data (no I/O besides ``write``), so the arithmetic that decides
"pass" or "miss" is unit-tested without running anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGETS = ("direct", "floor", "bordergate", "litellm")
SCENARIOS = ("json_c1", "json_c32", "sse_c32")
SCENARIO_LABELS = {
    "json_c1": "JSON chat, concurrency 1",
    "json_c32": "JSON chat, concurrency 32",
    "sse_c32": "SSE, 50 chunks, concurrency 32",
}
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "upstream_cpu_us_per_req", "rss_kb")


@dataclass(frozen=True)
class Goal:
    """One target from the design: ``metric`` compared with ``threshold`` by ``op``."""

    key: str
    label: str
    op: str  # ">=" or "<="
    threshold: float


GOALS = (
    Goal("json_rps_vs_floor", "Bordergate JSON req/s vs floor", ">=", 0.6),
    Goal("sse_streams_vs_floor", "Bordergate SSE streams/s vs floor", ">=", 0.7),
    Goal("added_p50_ms_c1", "Bordergate added p50 at concurrency 1 (ms)", "<=", 0.7),
    Goal("json_rps_vs_litellm", "Bordergate JSON req/s vs LiteLLM", ">=", 30.0),
    Goal("rss_growth_pct", "Bordergate RSS growth over the soak (%)", "<=", 5.0),
)


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that exist; None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median of each metric over a scenario's runs, plus the runs themselves and errors."""
    out: dict[str, Any] = {m: median([r.get(m) for r in runs]) for m in METRICS}
    out["errors"] = sum(int(r.get("errors", 0)) for r in runs)
    out["requests"] = sum(int(r.get("requests", 0)) for r in runs)
    out["runs"] = list(runs)
    return out


def scenario_metric(
    rows: dict[str, dict[str, Any]], target: str, scenario: str, metric: str
) -> float | None:
    """A metric of one target's scenario, None when the target or scenario did not run."""
    row = rows.get(target) or {}
    if row.get("status") != "ok":
        return None
    value = (row.get("scenarios") or {}).get(scenario, {}).get(metric)
    return float(value) if value is not None else None


def added_p50(rows: dict[str, dict[str, Any]], target: str) -> float | None:
    """Target's p50 at concurrency 1 minus direct's: the latency the proxy itself adds."""
    t = scenario_metric(rows, target, "json_c1", "p50_ms")
    d = scenario_metric(rows, "direct", "json_c1", "p50_ms")
    return None if t is None or d is None else t - d


def rss_growth_pct(after_warmup_kb: float | None, end_kb: float | None) -> float | None:
    """Percentage growth of RSS from the end of warm-up to the end of the soak."""
    if after_warmup_kb is None or end_kb is None or after_warmup_kb <= 0:
        return None
    return (end_kb - after_warmup_kb) / after_warmup_kb * 100.0


def compute_ratios(rows: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The ratios the issue asks for (None wherever a side did not run)."""
    bg_json = scenario_metric(rows, "bordergate", "json_c32", "rps")
    bg_sse = scenario_metric(rows, "bordergate", "sse_c32", "rps")
    return {
        "json_rps_vs_floor": ratio(bg_json, scenario_metric(rows, "floor", "json_c32", "rps")),
        "sse_streams_vs_floor": ratio(bg_sse, scenario_metric(rows, "floor", "sse_c32", "rps")),
        "json_rps_vs_litellm": ratio(bg_json, scenario_metric(rows, "litellm", "json_c32", "rps")),
        # CPU-based estimates of the same ratios: the floor's CPU per request over Bordergate's.
        # They stay meaningful when other work on the machine steals the target's core.
        "json_cpu_efficiency_vs_floor": ratio(
            scenario_metric(rows, "floor", "json_c32", "cpu_us_per_req"),
            scenario_metric(rows, "bordergate", "json_c32", "cpu_us_per_req"),
        ),
        "sse_cpu_efficiency_vs_floor": ratio(
            scenario_metric(rows, "floor", "sse_c32", "cpu_us_per_req"),
            scenario_metric(rows, "bordergate", "sse_c32", "cpu_us_per_req"),
        ),
        "floor_json_rps_vs_direct": ratio(
            scenario_metric(rows, "floor", "json_c32", "rps"),
            scenario_metric(rows, "direct", "json_c32", "rps"),
        ),
    }


def check_goal(goal: Goal, value: float | None) -> str:
    """'pass', 'miss', or 'n/a' when the value could not be measured."""
    if value is None:
        return "n/a"
    ok = value >= goal.threshold if goal.op == ">=" else value <= goal.threshold
    return "pass" if ok else "miss"


def build_report(
    meta: dict[str, Any],
    rows: dict[str, dict[str, Any]],
    soak: dict[str, Any],
    micro: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble the JSON report (the schema documented in docs/bench.md)."""
    ratios = compute_ratios(rows)
    values: dict[str, float | None] = dict(ratios)
    values["added_p50_ms_c1"] = added_p50(rows, "bordergate")
    # The RSS goal is Bordergate's: a soak of another target (harness development) is reported
    # in the soak section but never counted as Bordergate's result.
    bg_soak = soak.get("status") == "ok" and soak.get("target") == "bordergate"
    values["rss_growth_pct"] = soak.get("rss_growth_pct") if bg_soak else None
    for name, row in rows.items():
        if row.get("status") == "ok" and name != "direct":
            row["added_p50_ms_c1"] = added_p50(rows, name)
    return {
        "schema": 1,
        **meta,
        "ratios": ratios,
        "added_p50_ms_c1": values["added_p50_ms_c1"],
        "rss_growth_pct": values["rss_growth_pct"],
        "targets": [
            {
                "key": g.key,
                "label": g.label,
                "op": g.op,
                "threshold": g.threshold,
                "value": values[g.key],
                "status": check_goal(g, values[g.key]),
            }
            for g in GOALS
        ],
        "rows": [dict(rows[name], target=name) for name in TARGETS if name in rows],
        "soak": soak,
        "micro": micro,
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: one table per scenario, then ratios, goals, soak, micro."""
    out = [
        f"# Bordergate benchmark ({report.get('mode', '?')} mode)",
        "",
        f"- started: {report.get('started_at', '?')}, took {_fmt(report.get('elapsed_s'), 0)} s",
        f"- upstream: {report.get('upstream', '?')}; load generator: {report.get('loadgen', '?')}",
        f"- placement: {report.get('placement', '?')}",
        f"- runs per target and scenario: {report.get('runs', '?')} "
        f"x {report.get('run_seconds', '?')} s (median reported)",
        "",
    ]
    rows = report.get("rows", [])
    for scenario in SCENARIOS:
        out += [
            f"## {SCENARIO_LABELS[scenario]}",
            "",
            "| target | req/s | p50 ms | p99 ms | added p50 ms | CPU µs/req | RSS MB | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        direct = next((r for r in rows if r["target"] == "direct"), None)
        d_p50 = ((direct or {}).get("scenarios") or {}).get(scenario, {}).get("p50_ms")
        for row in rows:
            if row.get("status") != "ok":
                out.append(f"| {row['target']} | not run: {_one_line(row.get('error'))} ||||||")
                continue
            s = (row.get("scenarios") or {}).get(scenario)
            if not s or "error" in s:
                why = _one_line(s.get("error")) if s else "not run"
                out.append(f"| {row['target']} | failed: {why} ||||||")
                continue
            added = None
            if row["target"] != "direct" and s.get("p50_ms") is not None and d_p50 is not None:
                added = s["p50_ms"] - d_p50
            rss = s.get("rss_kb")
            out.append(
                f"| {row['target']} | {_fmt(s.get('rps'), 1)} | {_fmt(s.get('p50_ms'))} | "
                f"{_fmt(s.get('p99_ms'))} | {_fmt(added)} | {_fmt(s.get('cpu_us_per_req'), 0)} | "
                f"{_fmt(rss / 1024 if rss else None, 1)} | {s.get('errors', 0)} |"
            )
        out.append("")
    out += [
        "## Ratios and targets",
        "",
        "| target | value | goal | result |",
        "|---|---:|---:|---|",
    ]
    for g in report.get("targets", []):
        out.append(
            f"| {g['label']} | {_fmt(g['value'])} | {g['op']} {g['threshold']:g} | "
            f"{g['status'].upper()} |"
        )
    ratios = report.get("ratios") or {}
    out += [
        "",
        "CPU-based estimates (the floor's CPU µs/req ÷ Bordergate's; what the req/s ratios would "
        "be if each target had its core to itself): "
        f"JSON {_fmt(ratios.get('json_cpu_efficiency_vs_floor'))}, "
        f"SSE {_fmt(ratios.get('sse_cpu_efficiency_vs_floor'))}.",
    ]
    soak = report.get("soak", {})
    out += ["", "## Soak", ""]
    if soak.get("status") == "ok":
        out.append(
            f"{soak.get('target')} at {soak.get('rate')} req/s "
            f"for {_fmt(soak.get('seconds'), 0)} s "
            f"({soak.get('requests')} requests, {soak.get('errors')} errors): RSS "
            f"{_fmt(soak.get('rss_after_warmup_kb'), 0)} kB after warm-up -> "
            f"{_fmt(soak.get('rss_end_kb'), 0)} kB at end "
            f"({_fmt(soak.get('rss_growth_pct'))} %)."
        )
    else:
        out.append(f"Not run: {_one_line(soak.get('error'))}")
    out += ["", "## Micro-benchmarks", "", "| benchmark | result |", "|---|---|"]
    for m in report.get("micro", []):
        if m.get("status") == "ok":
            detail = ", ".join(f"{k} = {_fmt(v)}" for k, v in (m.get("metrics") or {}).items())
        else:
            detail = f"not available: {_one_line(m.get('error'))}"
        out.append(f"| {m['label']} | {detail} |")
    notes = report.get("notes") or []
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def _one_line(text: Any) -> str:
    return " ".join(str(text or "unknown error").split()).replace("|", "/")[:300]


def write(report: dict[str, Any], results_dir: Path) -> tuple[Path, Path]:
    """Write latest.json and latest.md atomically (temp file + rename)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = (results_dir / "latest.json", results_dir / "latest.md")
    texts = (json.dumps(report, indent=2, sort_keys=False) + "\n", render_markdown(report))
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths
