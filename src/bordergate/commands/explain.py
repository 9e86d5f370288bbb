"""`bordergate explain`: why the gateway would allow or deny one caller one model.

Operators ask "why was Dana refused claude-sonnet-4-5?" (or "would she be allowed X?") without
sending a request. The answer is computed from the same gateway config the server loads: the
catalog with the operator's extensions, the configured deployments (a provider disabled for a
missing secret is left out, as the server does), the policy files, and `dlp.redactable_classes`.

The outcome mirrors the gateway's `decide` step (server/chat.py) exactly: candidates are tried
in order; a candidate denied with the request's data classes but permitted once the redactable
classes are removed serves the request redacted; with no permitted candidate the refusal is
`data_policy_denied` when the same caller could use the model without those data classes,
else `policy_denied` with the names the caller may use instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.types import DeploymentFacts
from bordergate.commands._catalog_config import fail
from bordergate.config import Config, ConfigError, load_config
from bordergate.identity.principal import Principal
from bordergate.policy.engine import Decision, PolicyEngine, PolicyError
from bordergate.policy.explain import allowed_names, explain
from bordergate.upstream.deployments import build_deployments


def register(subparsers: Any) -> None:
    """Add `explain`."""
    p = subparsers.add_parser(
        "explain",
        help="show why a caller may or may not use a model (resolution, candidates, decisions)",
    )
    p.add_argument("--config", required=True, help="gateway YAML file (as for `serve`)")
    p.add_argument("--user", required=True, help="caller id (principal.id)")
    p.add_argument("--team", default="", help="principal.team")
    p.add_argument("--country", default="", help="principal.country (ISO 3166-1 alpha-2)")
    p.add_argument(
        "--org-country", default="", help="headquarters country of the caller's controlling owner"
    )
    p.add_argument("--org", default="", help="principal.org")
    p.add_argument("--groups", default="", help="comma-separated principal.groups")
    p.add_argument("--model", required=True, help="model name exactly as a client would send it")
    p.add_argument(
        "--data-class",
        action="append",
        default=[],
        metavar="CLASS",
        help="data class the scanner found in the prompt (repeatable), e.g. secret, confidential",
    )
    p.add_argument("--endpoint", default="chat", choices=["chat", "messages"])
    p.add_argument("--estimated-tokens", type=int, default=0, help="prompt size estimate")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


# --------------------------------------------------------------------------- the outcome
@dataclass
class Outcome:
    """What the gateway would do: serve `chosen` (redacting `redact`), or refuse."""

    chosen: int | None = None  # index into the candidates
    redact: frozenset[str] = frozenset()
    policies: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    error_type: str | None = None  # "policy_denied" | "data_policy_denied" | None
    strip: frozenset[str] = frozenset()  # the request's classes the gateway may redact
    # Per candidate: the decision with the request's classes, and (if taken) with the
    # redactable classes removed.
    as_is: list[Decision] = field(default_factory=list)
    redacted: list[Decision | None] = field(default_factory=list)


def gateway_outcome(
    engine: PolicyEngine,
    principal: Principal,
    candidates: Sequence[DeploymentFacts],
    data_classes: frozenset[str],
    redactable: frozenset[str],
    estimated_tokens: int = 0,
    endpoint: str = "chat",
) -> Outcome:
    """The decision of server/chat.py `decide` for these candidates, with every step kept.

    Kept in step with `decide` by tests that run both on the same inputs.
    """
    strip = data_classes & redactable
    out = Outcome(strip=strip)
    permitted: list[tuple[int, frozenset[str], Decision]] = []
    denied_ids: list[str] = []
    denied_reasons: list[str] = []
    for i, facts in enumerate(candidates):
        d = engine.decide(principal, facts, data_classes, estimated_tokens, endpoint)
        out.as_is.append(d)
        out.redacted.append(None)
        if d.allowed:
            permitted.append((i, frozenset(), d))
            continue
        if strip:
            d2 = engine.decide(principal, facts, data_classes - strip, estimated_tokens, endpoint)
            out.redacted[i] = d2
            if d2.allowed:
                permitted.append((i, strip, d2))
                continue
        denied_ids.extend(p for p in d.policy_ids if p not in denied_ids)
        denied_reasons.extend(r for r in d.reasons if r not in denied_reasons)
    if permitted:
        out.chosen, out.redact, _ = permitted[0]
        # Like the gateway, report the first non-empty set of permitting policy ids.
        named = [d for _, _, d in permitted if d.policy_ids]
        if named:
            out.policies, out.reasons = named[0].policy_ids, named[0].reasons
        return out
    out.policies, out.reasons = tuple(denied_ids), tuple(denied_reasons)
    data_only = bool(data_classes) and any(
        engine.decide(principal, facts, frozenset(), estimated_tokens, endpoint).allowed
        for facts in candidates
    )
    out.error_type = "data_policy_denied" if data_only else "policy_denied"
    return out


# --------------------------------------------------------------------------- the report
@dataclass
class Gatekeeper:
    """The parts of a gateway config that decide: built once, asked many times."""

    config: Config
    engine: PolicyEngine | None
    catalog: Catalog
    # Client-facing name -> candidate facts, as the gateway serves them (empty lists dropped).
    by_name: dict[str, list[DeploymentFacts]]

    @classmethod
    def from_config(cls, config: Config, engine: PolicyEngine | None) -> Gatekeeper:
        catalog = Catalog.load(config.catalog)
        table = build_deployments(config, catalog)
        by_name = {
            name: [d.facts for d in deps if d.facts is not None]
            for name, deps in table.items()
            if deps
        }
        return cls(config, engine, catalog, by_name)


def build_report(
    config: Config | Gatekeeper,
    engine: PolicyEngine | None,
    principal: Principal,
    model: str,
    data_classes: frozenset[str] = frozenset(),
    estimated_tokens: int = 0,
    endpoint: str = "chat",
) -> dict[str, Any]:
    """The whole explanation as a JSON-ready dict (what `--json` prints)."""
    keeper = config if isinstance(config, Gatekeeper) else Gatekeeper.from_config(config, engine)
    config, catalog, by_name = keeper.config, keeper.catalog, keeper.by_name
    notes: list[str] = []
    configured = model in by_name
    if configured:
        candidates = by_name[model]
    else:
        if model in config.models:
            disabled = sorted({e.provider for e in config.models[model]})
            notes.append(
                f"{model!r} is configured, but none of its providers ({', '.join(disabled)}) is "
                "available: the gateway answers 503 model_unavailable"
            )
        else:
            notes.append(
                f"{model!r} is not a client-facing model of this gateway (a request for it gets "
                "404); explained as a single candidate resolved through the catalog"
            )
        res = catalog.resolve(model)
        candidates = [catalog.deployment_facts(model, host=res.host or "", upstream_model=model)]
    if data_classes and not config.dlp.enabled:
        notes.append("dlp.enabled is false: the gateway itself finds no data classes")
    redactable = frozenset(config.dlp.redactable_classes)

    if engine is None:
        notes.append("no policy.files configured: every caller may use every configured model")
        report = _no_policy_report(catalog, principal, model, candidates, data_classes)
    else:
        report = explain(
            engine,
            catalog,
            principal,
            model,
            candidates,
            data_classes,
            (),
            estimated_tokens,
            endpoint,
        )
        outcome = gateway_outcome(
            engine, principal, candidates, data_classes, redactable, estimated_tokens, endpoint
        )
        _apply(report, outcome, candidates)
        if outcome.error_type == "policy_denied":
            report["alternatives"] = allowed_names(engine, principal, by_name)
        if outcome.error_type == "data_policy_denied":
            notes.append(
                "this caller may use the model without these data classes: the gateway "
                "refuses with data_policy_denied"
            )
        if not configured:
            report["deployment"] = None
    report["configured"] = configured
    report["redactable_classes"] = sorted(redactable)
    report["notes"] = notes
    return report


def _apply(report: dict[str, Any], outcome: Outcome, candidates: Sequence[DeploymentFacts]) -> None:
    """Overwrite explain()'s as-is verdict with the gateway's (which includes redaction)."""
    for i, row in enumerate(report["candidates"]):
        alt = outcome.redacted[i]
        row["redact"] = []
        if alt is None:
            continue
        if alt.allowed:  # served with the redactable classes replaced by placeholders
            row["as_is"] = {k: row[k] for k in ("decision", "policies", "reasons")}
            row.update(
                decision="allow",
                policies=list(alt.policy_ids),
                reasons=list(alt.reasons),
                redact=sorted(outcome.strip),
            )
        else:
            row["if_redacted"] = {
                "decision": alt.decision,
                "policies": list(alt.policy_ids),
                "reasons": list(alt.reasons),
            }
    chosen = outcome.chosen
    report["decision"] = "allow" if chosen is not None else "deny"
    report["deployment"] = candidates[chosen].deployment if chosen is not None else None
    if chosen is not None:
        report["vendor"] = candidates[chosen].vendor
    report["policies"] = list(outcome.policies)
    report["reasons"] = list(outcome.reasons)
    report["redact"] = sorted(outcome.redact)
    report["error_type"] = outcome.error_type
    report["alternatives"] = []


def _no_policy_report(
    catalog: Catalog,
    principal: Principal,
    model: str,
    candidates: Sequence[DeploymentFacts],
    data_classes: frozenset[str],
) -> dict[str, Any]:
    res = catalog.resolve(model)
    first = candidates[0] if candidates else None
    return {
        "decision": "allow",
        "requested": model,
        "resolution": {
            **res.summary(),
            "open_weights": res.open_weights,
            "vendor_parent_country": res.vendor_parent_country,
        },
        "deployment": first.deployment if first else None,
        "vendor": first.vendor if first else res.vendor,
        "policies": [],
        "reasons": ["no policy configured"],
        "data_classes": sorted(data_classes),
        "principal": _principal_json(principal),
        "candidates": [
            {**asdict(f), "decision": "allow", "policies": [], "reasons": [], "redact": []}
            for f in candidates
        ],
        "alternatives": [],
        "redact": [],
        "error_type": None,
    }


def _principal_json(p: Principal) -> dict[str, Any]:
    return {
        "id": p.id,
        "team": p.team,
        "groups": list(p.groups),
        "country": p.country,
        "org": p.org,
        "org_country": p.org_country,
    }


# --------------------------------------------------------------------------- human output
def render(report: dict[str, Any]) -> str:
    """The report for a human: resolution, each candidate and its decision, the outcome."""
    p = report["principal"]
    who = ", ".join(
        f"{k.replace('_', ' ')} {v if not isinstance(v, list) else ','.join(v) or '-'}"
        for k, v in p.items()
        if k != "id" and v
    )
    lines = [f"caller:  {p['id']}" + (f" ({who})" if who else "")]
    r = report["resolution"]
    country = f" ({r['vendor_country']})" if r.get("vendor_country") else ""
    lines.append(
        f"model:   {report['requested']!r} resolves to vendor {r['vendor']}{country}, "
        f"model {r['model'] or '-'}, host {r['host'] or '-'}"
    )
    lines += [f"note:    {n}" for n in report["notes"]]
    if report["data_classes"]:
        redactable = ", ".join(report["redactable_classes"]) or "none"
        lines.append(
            f"data:    {', '.join(report['data_classes'])} (redactable here: {redactable})"
        )
    lines.append("candidates, in order (the first permitted one serves the request):")
    for i, c in enumerate(report["candidates"], 1):
        where = f"{c['host'] or '?'} ({c['host_country'] or '?'})"
        if c["self_hosted"]:
            where += ", self-hosted"
        lines.append(
            f"  {i}. {c['deployment']}: vendor {c['vendor']} ({c['vendor_country'] or '?'}), "
            f"model {c['model'] or '-'}, host {where}"
            + (f", region {c['region']}" if c["region"] else "")
        )
        if "as_is" in c:
            lines.append(f"     as is: {_verdict(c['as_is'])}")
            lines.append(f"     redacting {', '.join(c['redact'])}: {_verdict(c)}")
        else:
            lines.append(f"     {_verdict(c)}")
            if "if_redacted" in c:
                lines.append(f"     even redacted: {_verdict(c['if_redacted'])}")
    lines.append("")
    if report["decision"] == "allow":
        via = f" redacting {', '.join(report['redact'])}" if report["redact"] else ""
        lines.append(f"ALLOW: served by {report['deployment'] or report['requested']}{via}")
        if report["policies"]:
            lines.append(f"  permitted by {', '.join(report['policies'])}")
    else:
        lines.append(
            f"DENY ({report.get('error_type') or 'policy_denied'}) by "
            f"{', '.join(report['policies']) or 'no policy'}"
        )
        lines += [f"  reason: {reason}" for reason in report["reasons"]]
        if report.get("error_type") != "data_policy_denied":
            alts = ", ".join(report["alternatives"]) or "no model"
            lines.append(f"  may use instead: {alts}")
    return "\n".join(lines)


def _verdict(v: dict[str, Any]) -> str:
    text = f"{v['decision']} by {', '.join(v['policies']) or 'no policy'}"
    reasons = [r for r in v["reasons"] if r]
    return text + (f": {'; '.join(reasons)}" if reasons else "")


# --------------------------------------------------------------------------- the command
def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, env_sections={"catalog", "policy", "dlp", "models"})
    except ConfigError as exc:
        return fail(f"invalid configuration:\n{exc}")
    engine = None
    if config.policy.files:
        try:
            engine = PolicyEngine.from_files(config.policy.files)
        except PolicyError as exc:
            return fail(f"policy: {exc}")
    principal = Principal(
        id=args.user,
        team=args.team,
        groups=tuple(g.strip() for g in args.groups.split(",") if g.strip()),
        country=args.country.upper(),
        org=args.org,
        org_country=args.org_country.upper(),
    )
    classes = frozenset(c.strip() for c in args.data_class if c.strip())
    report = build_report(
        config, engine, principal, args.model, classes, args.estimated_tokens, args.endpoint
    )
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
