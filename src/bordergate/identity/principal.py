"""The caller of a request, as the policy sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: produced by identity (key or JWT), consumed by limits, policy and audit.

    Attributes are plain strings ("" when unknown) because Cedar has no null: a policy can test
    `principal.country == ""` but could not test a missing attribute without `has` guards.
    """

    id: str
    team: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)
    country: str = ""
    org: str = ""
    org_country: str = ""
    key_id: str = ""
