"""Light value types shared by identity and limits (no I/O imports, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass

from bordergate.identity.principal import Principal


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Per-key limits; None means "use the configured default" (see limits config)."""

    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str = "month"


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated caller and the per-key limits that apply to it."""

    principal: Principal
    limits: KeyLimits
    method: str = "key"  # "key" | "static" | "jwt"
