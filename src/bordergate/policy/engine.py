"""Cedar policy evaluation with validation at load and a decision cache for the hot path.

Policies are parsed and validated once (per file, so errors name the file); every policy must
carry an `@id` so that every decision can name what decided it, and may carry a `@reason`
that is shown to the caller. Forbid overrides permit (Cedar semantics); no matching permit
is a default deny, reported as policy id `default-deny`.

A policy that fails to evaluate is skipped by Cedar; for a `forbid` that would silently allow,
so the engine fails closed: an erroring forbid denies.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
import orjson

from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal

DEFAULT_DENY = "default-deny"
DEFAULT_DENY_REASON = "no policy permits this request"
CACHE_SIZE = 65536
_POLICY_REF = re.compile(r"policy `([^`]+)`|\[([^\]]+)\]")


class PolicyError(Exception):
    """A policy set that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one principal, deployment and request context."""

    allowed: bool
    policy_ids: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def decision(self) -> str:
        return "allow" if self.allowed else "deny"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """Annotations of one loaded policy."""

    id: str
    effect: str
    reason: str
    source: str


@functools.cache
def schema_text() -> str:
    """The shipped Cedar schema."""
    return resources.files("bordergate.policy").joinpath("bordergate.cedarschema").read_text()


def validate_policies(text: str, source: str = "<policy>") -> list[PolicyInfo]:
    """Parse and validate one policy document; raise PolicyError naming `source` on failure."""
    try:
        as_json = json.loads(cedarpy.policies_to_json_str(text))
    except (ValueError, RuntimeError) as exc:
        raise PolicyError(f"{source}: syntax error: {exc}") from exc
    infos: dict[str, PolicyInfo] = {}
    for internal, body in as_json.get("staticPolicies", {}).items():
        notes = body.get("annotations") or {}
        if not notes.get("id"):
            raise PolicyError(
                f"{source}: {_ordinal(internal)} {body.get('effect')} policy has no @id(...)"
                " annotation; every policy needs one so decisions can name it"
            )
        infos[internal] = PolicyInfo(
            id=notes["id"],
            effect=body.get("effect", ""),
            reason=notes.get("reason", ""),
            source=source,
        )
    if as_json.get("templates"):
        raise PolicyError(f"{source}: policy templates are not supported")
    result = cedarpy.validate_policies(text, schema_text())
    if not result.validation_passed:
        problems = []
        for err in result.errors:
            msg = str(err)
            internal = getattr(err, "policy_id", None)
            info = infos.get(internal) if isinstance(internal, str) else None
            where = f'policy @id("{info.id}")' if info else "policy set"
            problems.append(f"{where}: {msg.split('] ', 1)[-1]}")
        raise PolicyError(f"{source}: invalid against the schema: " + "; ".join(problems))
    return [infos[k] for k in sorted(infos, key=_policy_number)]


def _policy_number(internal: str) -> int:
    digits = internal.removeprefix("policy")
    return int(digits) if digits.isdigit() else 0


def _ordinal(internal: str) -> str:
    return f"policy #{_policy_number(internal) + 1}"


class PolicyEngine:
    """A validated, immutable policy set; `decide()` is safe to call from any thread."""

    def __init__(self, documents: Sequence[tuple[str, str]], cache_size: int = CACHE_SIZE):
        """`documents` are (source, text) pairs; use `from_files` or `from_text`."""
        infos: list[PolicyInfo] = []
        for source, text in documents:
            infos.extend(validate_policies(text, source))
        seen: dict[str, str] = {}
        for info in infos:
            if info.id in seen:
                raise PolicyError(
                    f"{info.source}: duplicate @id({info.id!r}) (also in {seen[info.id]})"
                )
            seen[info.id] = info.source
        self.sources = tuple(source for source, _ in documents)
        self.text = "\n".join(text for _, text in documents)
        # Internal ids of the combined set follow document order.
        self.policies: dict[str, PolicyInfo] = {f"policy{i}": p for i, p in enumerate(infos)}
        self._policy_set = cedarpy.PolicySet.from_str(self.text)
        self.uses_tokens = "estimated_tokens" in self.text
        self._cached = functools.lru_cache(maxsize=cache_size)(self._evaluate)

    @classmethod
    def from_text(cls, text: str, source: str = "<policy>") -> PolicyEngine:
        """An engine from one policy document."""
        return cls([(source, text)])

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> PolicyEngine:
        """An engine from policy files, validated one by one so errors name the file."""
        docs: list[tuple[str, str]] = []
        for path in paths:
            try:
                docs.append((str(path), Path(path).read_text(encoding="utf-8")))
            except OSError as exc:
                raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if not docs:
            raise PolicyError("no policy files given")
        return cls(docs)

    # ------------------------------------------------------------------ deciding
    def decide(
        self,
        principal: Principal,
        facts: DeploymentFacts,
        data_classes: frozenset[str] = frozenset(),
        estimated_tokens: int = 0,
        endpoint: str = "chat",
    ) -> Decision:
        """Allow or deny, naming the deciding policies; cached on the attributes that matter."""
        tokens = estimated_tokens if self.uses_tokens else 0
        return self._cached(_key(principal, facts, data_classes, endpoint, tokens))

    def decide_uncached(
        self,
        principal: Principal,
        facts: DeploymentFacts,
        data_classes: frozenset[str] = frozenset(),
        estimated_tokens: int = 0,
        endpoint: str = "chat",
    ) -> Decision:
        """The same as `decide` without the cache (benchmarks and cache tests)."""
        return self._evaluate(_key(principal, facts, data_classes, endpoint, estimated_tokens))

    def cache_info(self) -> functools._CacheInfo:
        """Hit/miss counters of the decision cache."""
        return self._cached.cache_info()

    def _evaluate(self, key: tuple[Any, ...]) -> Decision:
        (pid, team, groups, country, org, org_country, facts, classes, endpoint, tokens) = key
        request = {
            "principal": {"type": "User", "id": pid},
            "action": {"type": "Action", "id": "invoke"},
            "resource": {"type": "Deployment", "id": facts.deployment or facts.model or "?"},
            # Pre-serialised with orjson: cedarpy would json.dumps dicts itself, more slowly.
            "context": orjson.dumps(
                {
                    "data_classes": sorted(classes),
                    "estimated_tokens": int(tokens),
                    "endpoint": endpoint,
                }
            ).decode(),
        }
        entities = [
            {
                "uid": {"type": "User", "id": pid},
                "attrs": {
                    "id": pid,
                    "team": team,
                    "groups": list(groups),
                    "country": country,
                    "org": org,
                    "org_country": org_country,
                },
                "parents": [],
            },
            {
                "uid": request["resource"],
                "attrs": {
                    "vendor": facts.vendor,
                    "vendor_country": facts.vendor_country,
                    "model": facts.model,
                    "open_weights": facts.open_weights,
                    "host": facts.host,
                    "host_country": facts.host_country,
                    "region": facts.region,
                    "self_hosted": facts.self_hosted,
                },
                "parents": [],
            },
        ]
        result = cedarpy.is_authorized(request, self._policy_set, orjson.dumps(entities).decode())
        failed = self._failed_forbids(result.diagnostics.errors)
        if failed:
            return Decision(
                False,
                tuple(p.id for p in failed),
                tuple(
                    f"{p.reason or 'forbid policy'} (policy could not be evaluated: failing closed)"
                    for p in failed
                ),
            )
        # Cedar reports a set; document order makes reasons stable (and cacheable) across calls.
        internal = sorted(
            (r for r in result.diagnostics.reasons if r in self.policies), key=_policy_number
        )
        matched = [self.policies[r] for r in internal]
        if result.allowed:
            return Decision(True, tuple(p.id for p in matched), tuple(p.reason for p in matched))
        if not matched:
            return Decision(False, (DEFAULT_DENY,), (DEFAULT_DENY_REASON,))
        return Decision(
            False, tuple(p.id for p in matched), tuple(p.reason or p.id for p in matched)
        )

    def _failed_forbids(self, errors: Iterable[object]) -> list[PolicyInfo]:
        failed: list[PolicyInfo] = []
        for err in errors:
            for m in _POLICY_REF.finditer(str(err)):
                info = self.policies.get(m.group(1) or m.group(2) or "")
                if info is not None and info.effect == "forbid" and info not in failed:
                    failed.append(info)
                    break
        return failed


def _key(
    principal: Principal,
    facts: DeploymentFacts,
    data_classes: frozenset[str],
    endpoint: str,
    estimated_tokens: int,
) -> tuple[object, ...]:
    """The attributes a decision depends on (not the key id: two keys of one person agree)."""
    return (
        principal.id,
        principal.team,
        principal.groups,
        principal.country,
        principal.org,
        principal.org_country,
        facts,
        data_classes,
        endpoint,
        estimated_tokens,
    )
