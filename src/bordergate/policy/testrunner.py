"""Policy tests as data: a `tests.yaml` names its policy file and lists cases with the expected
decision and deciding policy id. Security teams change a policy and run
`bordergate policy test tests.yaml` before reloading the gateway.

File format::

    policy: policy.cedar            # or `policies: [a.cedar, b.cedar]`, relative to this file
    org_country: US                 # optional: host country of self-hosted deployments
    cases:
      - name: Claude on Bedrock is still Claude
        principal: {id: alice, team: eng, groups: [dev], country: US, org_country: US}
        model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
        host: aws-bedrock           # optional: else the host in the name or the vendor's API
        region: us-east-1           # optional; also self_hosted, base_model, host_country
        data_classes: [secret]      # optional
        expect: deny                # allow | deny
        policy: no-anthropic        # optional: an @id that must be among the deciding ones
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.config import CatalogConfig
from bordergate.catalog.hosts import FIRST_PARTY_HOST
from bordergate.identity.principal import Principal
from bordergate.policy.engine import Decision, PolicyEngine, PolicyError

_CASE_KEYS = frozenset(
    {
        "name",
        "principal",
        "model",
        "host",
        "region",
        "self_hosted",
        "base_model",
        "host_country",
        "data_classes",
        "estimated_tokens",
        "endpoint",
        "expect",
        "policy",
    }
)
_PRINCIPAL_KEYS = frozenset({"id", "team", "groups", "country", "org", "org_country"})


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case: what was expected, what the engine decided."""

    name: str
    passed: bool
    expected: str
    expected_policy: str | None
    decision: Decision

    def diff(self) -> str:
        """A readable expected/actual block for a failing case."""
        got_ids = ", ".join(self.decision.policy_ids) or "-"
        want = self.expected + (f" by {self.expected_policy}" if self.expected_policy else "")
        lines = [
            f"  - expected: {want}",
            f"  + actual:   {self.decision.decision} by {got_ids}",
        ]
        lines.extend(f"    reason: {r}" for r in self.decision.reasons if r)
        return "\n".join(lines)


@dataclass
class SuiteResult:
    """All cases of one tests file."""

    path: str
    policy_files: list[str]
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


class CaseFileError(Exception):
    """A tests file that cannot be read; the message names the file and the case."""


def load_suite(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Parse a tests file; returns the document and the absolute policy paths it names."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CaseFileError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise CaseFileError(f"{path}: expected a mapping with a `cases:` list")
    names = doc.get("policies") or ([doc["policy"]] if doc.get("policy") else [])
    if not names:
        raise CaseFileError(f"{path}: name the policy file with `policy:` or `policies:`")
    return doc, [str((p.parent / str(n)).resolve()) for n in names]


def run_suite(path: str | Path, catalog: Catalog | None = None) -> SuiteResult:
    """Run every case of one tests file against the policy it names."""
    doc, policy_files = load_suite(path)
    try:
        engine = PolicyEngine.from_files(policy_files)
    except PolicyError as exc:
        raise CaseFileError(f"{path}: {exc}") from exc
    if catalog is None or doc.get("org_country"):
        catalog = Catalog.load(CatalogConfig(org_country=str(doc.get("org_country") or "")))
    suite = SuiteResult(str(path), policy_files)
    for i, case in enumerate(doc["cases"], 1):
        suite.cases.append(_run_case(engine, catalog, case, f"{path}: case {i}"))
    return suite


def _run_case(engine: PolicyEngine, catalog: Catalog, case: Any, where: str) -> CaseResult:
    if not isinstance(case, dict):
        raise CaseFileError(f"{where}: a case must be a mapping")
    unknown = set(case) - _CASE_KEYS
    if unknown:
        raise CaseFileError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(case.get("name") or where)
    expect = str(case.get("expect", "")).lower()
    if expect not in ("allow", "deny") or "model" not in case:
        raise CaseFileError(f"{where} ({name}): needs `model` and `expect: allow|deny`")
    attrs = case.get("principal") or {}
    if not isinstance(attrs, dict) or set(attrs) - _PRINCIPAL_KEYS:
        raise CaseFileError(f"{where} ({name}): principal keys are {sorted(_PRINCIPAL_KEYS)}")
    principal = Principal(
        id=str(attrs.get("id", "tester")),
        team=str(attrs.get("team", "")),
        groups=tuple(str(g) for g in attrs.get("groups") or ()),
        country=str(attrs.get("country", "")),
        org=str(attrs.get("org", "")),
        org_country=str(attrs.get("org_country", "")),
    )
    model = str(case["model"])
    resolution = catalog.resolve(case.get("base_model") or model)
    self_hosted = bool(case.get("self_hosted", False))
    host = case.get("host") or (
        "self-hosted"
        if self_hosted
        else resolution.host or FIRST_PARTY_HOST.get(resolution.vendor, "")
    )
    facts = catalog.deployment_facts(
        deployment_id=name,
        host=str(host),
        upstream_model=model,
        region=str(case.get("region", "")),
        self_hosted=self_hosted,
        base_model=case.get("base_model"),
        host_country=case.get("host_country"),
    )
    decision = engine.decide(
        principal,
        facts,
        frozenset(str(c) for c in case.get("data_classes") or ()),
        int(case.get("estimated_tokens", 0)),
        str(case.get("endpoint", "chat")),
    )
    expected_policy = case.get("policy")
    passed = decision.decision == expect and (
        expected_policy is None or str(expected_policy) in decision.policy_ids
    )
    return CaseResult(name, passed, expect, expected_policy, decision)


def format_suite(suite: SuiteResult, verbose: bool = False) -> str:
    """Human-readable report of one suite."""
    lines = [f"{suite.path} ({', '.join(suite.policy_files)})"]
    for case in suite.cases:
        if case.passed:
            if verbose:
                lines.append(f"  PASS {case.name}")
        else:
            lines.append(f"  FAIL {case.name}")
            lines.append(case.diff())
    total, bad = len(suite.cases), len(suite.failed)
    lines.append(f"  {total - bad}/{total} passed")
    return "\n".join(lines)
