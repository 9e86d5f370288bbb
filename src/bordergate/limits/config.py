"""The `limits:` section of the gateway YAML."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bordergate.identity.config import ConfigError, read_config_section


class LimitRule(BaseModel):
    """Rates and a spend budget; None means "no limit of this kind"."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    budget_usd: float | None = Field(default=None, ge=0)
    budget_period: Literal["day", "month"] = "month"


class LimitsConfig(BaseModel):
    """Backend choice plus per-team rules and per-key/per-team defaults.

    A key's own limits (set at `keys create`) win; `defaults` fill what a key leaves unset
    (JWT callers have no key, so `defaults` are their per-user limits). `teams` give each
    team a shared allowance; teams not listed get `team_defaults` (if any).
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None
    prefix: str = "bordergate:limits:"
    defaults: LimitRule = Field(default_factory=LimitRule)
    team_defaults: LimitRule | None = None
    teams: dict[str, LimitRule] = Field(default_factory=dict)

    @field_validator("redis_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return v

    @model_validator(mode="after")
    def _backend_needs_url(self) -> LimitsConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("limits.backend redis needs limits.redis_url")
        return self


def load_limits_config(path: str | os.PathLike[str]) -> LimitsConfig:
    """Validate the `limits:` section of the gateway YAML at `path`."""
    data = read_config_section(path, "limits")
    try:
        return LimitsConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: limits: {exc}") from exc
