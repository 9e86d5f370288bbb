"""Usage, denials and data findings over a time window: what a compliance officer asks.

"Who used which vendor's models this month, from which teams, what was blocked and why."
Reports read the canonical events (the same bytes the chain covers), so what is reported is
what is proven. Multi-valued groupings (`policy`, `data_class`) count an event once in each of
its groups; the totals count every event once.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bordergate.audit.event import COST_QUANTUM, format_time, parse_time
from bordergate.audit.store import AuditStore

BY_CHOICES = (
    "vendor",
    "vendor_country",
    "host",
    "host_country",
    "team",
    "user",
    "policy",
    "data_class",
)
FORMATS = ("table", "json", "csv")
NONE_KEY = "(none)"
# Outcomes that mean "the gateway refused this request", as opposed to failing it.
BLOCKED_KINDS = frozenset(
    {"policy_denied", "data_policy_denied", "rate_limited", "budget_exceeded", "auth_failed"}
)
_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_bound(text: str, now: datetime | None = None) -> str:
    """A time bound: RFC 3339, a date (`2026-11-01`, midnight UTC) or relative (`7d`, `24h`)."""
    match = _RELATIVE.match(text.strip())
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(
            **{_UNITS[match.group(2)]: int(match.group(1))}
        )
        return format_time(moment)
    return format_time(parse_time(text))


@dataclass
class UsageRow:
    """Totals for one group."""

    key: str
    requests: int = 0
    served: int = 0
    blocked: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nanousd: int = 0
    findings: int = 0

    def add(self, event: dict[str, Any]) -> None:
        self.requests += 1
        kind = event.get("error_kind") or "served"
        if kind == "served":
            self.served += 1
        elif kind in BLOCKED_KINDS or event.get("decision") == "deny":
            self.blocked += 1
        else:
            self.errors += 1
        self.prompt_tokens += int(event.get("prompt_tokens") or 0)
        self.completion_tokens += int(event.get("completion_tokens") or 0)
        self.cost_nanousd += int(Decimal(event.get("cost_usd") or "0") / COST_QUANTUM)
        self.findings += sum(int(f.get("count", 0)) for f in event.get("findings") or [])

    @property
    def cost_usd(self) -> str:
        # Fixed-point text ("0.000000000", never "0E-9"): the same spelling as in the events.
        return format((Decimal(self.cost_nanousd) * COST_QUANTUM).quantize(COST_QUANTUM), "f")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["cost_nanousd"]
        out["cost_usd"] = self.cost_usd
        return out


@dataclass
class Report:
    """The whole report; `usage` is grouped by `by`."""

    by: str
    since: str | None
    until: str | None
    totals: UsageRow = field(default_factory=lambda: UsageRow("(total)"))
    usage: list[UsageRow] = field(default_factory=list)
    denials: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "totals": self.totals.to_json(),
            "usage": [row.to_json() for row in self.usage],
            "denials": self.denials,
            "findings": self.findings,
        }


def group_keys(event: dict[str, Any], by: str) -> list[str]:
    """The group(s) one event belongs to under `by`."""
    if by == "policy":
        keys = [str(p) for p in event.get("policy_ids") or []]
    elif by == "data_class":
        keys = sorted({str(f["class"]) for f in event.get("findings") or []})
    else:
        value = event.get("principal_id" if by == "user" else by)
        keys = [str(value)] if value not in (None, "") else []
    return keys or [NONE_KEY]


def build_report(
    store: AuditStore, by: str = "vendor", since: str | None = None, until: str | None = None
) -> Report:
    """Aggregate the events with since <= time < until."""
    if by not in BY_CHOICES:
        raise ValueError(f"--by must be one of {', '.join(BY_CHOICES)}")
    report = Report(by=by, since=since, until=until)
    groups: dict[str, UsageRow] = {}
    denials: Counter[tuple[str, str]] = Counter()
    finding_events: Counter[str] = Counter()
    finding_counts: Counter[str] = Counter()
    finding_rules: defaultdict[str, set[str]] = defaultdict(set)
    for row in store.iter_events(since=since, until=until):
        event = json.loads(row.event)
        report.totals.add(event)
        for key in group_keys(event, by):
            groups.setdefault(key, UsageRow(key)).add(event)
        kind = event.get("error_kind") or "served"
        if kind in BLOCKED_KINDS or event.get("decision") == "deny":
            for policy in event.get("policy_ids") or [NONE_KEY]:
                denials[(str(policy), kind)] += 1
        for data_class in {str(f["class"]) for f in event.get("findings") or []}:
            finding_events[data_class] += 1
        for finding in event.get("findings") or []:
            finding_counts[str(finding["class"])] += int(finding["count"])
            finding_rules[str(finding["class"])].add(str(finding["rule"]))
    report.usage = sorted(groups.values(), key=lambda r: (-r.requests, r.key))
    report.denials = [
        {"policy": policy, "reason": reason, "requests": count}
        for (policy, reason), count in sorted(denials.items(), key=lambda i: (-i[1], i[0]))
    ]
    report.findings = [
        {
            "class": data_class,
            "requests": finding_events[data_class],
            "count": finding_counts[data_class],
            "rules": sorted(finding_rules[data_class]),
        }
        for data_class in sorted(finding_events, key=lambda c: (-finding_events[c], c))
    ]
    return report


_USAGE_COLUMNS = (
    "requests",
    "served",
    "blocked",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "findings",
)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def render(report: Report, fmt: str) -> str:
    """Render as `table` (three sections), `json` (everything) or `csv` (the usage rows)."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
    usage_rows = [
        [row.key, *(str(row.to_json()[c]) for c in _USAGE_COLUMNS)]
        for row in [*report.usage, report.totals]
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([report.by, *_USAGE_COLUMNS])
        writer.writerows(usage_rows[:-1])
        return buffer.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    window = f"{report.since or 'beginning'} .. {report.until or 'now'}"
    parts = [
        f"Usage by {report.by} ({window})",
        _table([report.by, *_USAGE_COLUMNS], usage_rows),
        "",
        "Blocked requests by policy and reason",
        _table(
            ["policy", "reason", "requests"],
            [[d["policy"], d["reason"], str(d["requests"])] for d in report.denials],
        ),
        "",
        "Data findings by class",
        _table(
            ["class", "requests", "count", "rules"],
            [
                [f["class"], str(f["requests"]), str(f["count"]), ",".join(f["rules"])]
                for f in report.findings
            ],
        ),
    ]
    return "\n".join(parts) + "\n"
