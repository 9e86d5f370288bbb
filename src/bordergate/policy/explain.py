"""Why a request would be allowed or denied: the resolution, every candidate and its decision.

Pure: the server and `bordergate explain` hand in the engine, catalog, principal and candidate
deployments (from the gateway config); nothing here reads config or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal
from bordergate.policy.engine import Decision, PolicyEngine


def first_permitted(
    engine: PolicyEngine,
    principal: Principal,
    candidates: Sequence[DeploymentFacts],
    data_classes: frozenset[str] = frozenset(),
    estimated_tokens: int = 0,
    endpoint: str = "chat",
) -> tuple[DeploymentFacts | None, list[Decision]]:
    """The first candidate the policy permits (or None), and the decisions taken on the way."""
    decisions: list[Decision] = []
    for facts in candidates:
        d = engine.decide(principal, facts, data_classes, estimated_tokens, endpoint)
        decisions.append(d)
        if d.allowed:
            return facts, decisions
    return None, decisions


def allowed_names(
    engine: PolicyEngine,
    principal: Principal,
    models: Mapping[str, Sequence[DeploymentFacts]],
) -> list[str]:
    """Client-facing names with at least one candidate this caller may use (no data classes).

    Used for `GET /v1/models` and for the alternatives in a denial.
    """
    return [
        name
        for name, candidates in models.items()
        if any(engine.decide(principal, facts).allowed for facts in candidates)
    ]


def explain(
    engine: PolicyEngine,
    catalog: Catalog,
    principal: Principal,
    requested_name: str,
    candidates: Sequence[DeploymentFacts],
    data_classes: frozenset[str] = frozenset(),
    alternatives: Sequence[str] = (),
    estimated_tokens: int = 0,
    endpoint: str = "chat",
) -> dict[str, Any]:
    """The full story of one request as a JSON-ready dict.

    `decision`, `deployment`, `vendor`, `policies`, `reasons` describe the outcome (the chosen
    candidate when allowed; all denying policies when denied); `candidates` lists each one with
    its facts and decision; `alternatives` are what the caller may use instead (from
    `allowed_names`, supplied by the caller, shown only on denial).
    """
    resolution = catalog.resolve(requested_name)
    chosen, _ = first_permitted(
        engine, principal, candidates, data_classes, estimated_tokens, endpoint
    )
    rows: list[dict[str, Any]] = []
    deny_ids: list[str] = []
    deny_reasons: list[str] = []
    for facts in candidates:
        d = engine.decide(principal, facts, data_classes, estimated_tokens, endpoint)
        rows.append(
            {
                **asdict(facts),
                "decision": d.decision,
                "policies": list(d.policy_ids),
                "reasons": list(d.reasons),
            }
        )
        if not d.allowed:
            for pid, reason in zip(d.policy_ids, d.reasons, strict=True):
                if pid not in deny_ids:
                    deny_ids.append(pid)
                    deny_reasons.append(reason)
    if chosen is not None:
        decision = engine.decide(principal, chosen, data_classes, estimated_tokens, endpoint)
        policies, reasons = list(decision.policy_ids), list(decision.reasons)
    elif not candidates:
        policies, reasons = ["no-candidate"], [f"no deployment serves {requested_name!r}"]
    else:
        policies, reasons = deny_ids, deny_reasons
    return {
        "decision": "allow" if chosen is not None else "deny",
        "requested": requested_name,
        "resolution": {
            **resolution.summary(),
            "open_weights": resolution.open_weights,
            "vendor_parent_country": resolution.vendor_parent_country,
        },
        "deployment": chosen.deployment if chosen else None,
        "vendor": chosen.vendor if chosen else resolution.vendor,
        "policies": policies,
        "reasons": reasons,
        "data_classes": sorted(data_classes),
        "principal": {
            "id": principal.id,
            "team": principal.team,
            "groups": list(principal.groups),
            "country": principal.country,
            "org": principal.org,
            "org_country": principal.org_country,
        },
        "candidates": rows,
        "alternatives": [] if chosen is not None else list(alternatives),
    }
