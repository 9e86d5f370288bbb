"""Operator extensions and overrides of the shipped catalog (the `catalog:` key of the config).

Everything is optional; unknown keys are rejected so a typo ("venders:") fails at start-up
instead of silently leaving a model unattributed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _country(value: str | None) -> str | None:
    if value is None or value == "":
        return value
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError(f"country must be an ISO 3166-1 alpha-2 code, got {value!r}")
    return code


class VendorSpec(_Strict):
    """A vendor to add, or to override by id (e.g. a changed owner)."""

    id: str
    name: str = ""
    country: str
    parent_country: str | None = None

    @field_validator("country", "parent_country")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        return _country(value)


class HostSpec(_Strict):
    """A host to add or override by id (e.g. an internal inference cluster)."""

    id: str
    name: str = ""
    country: str

    @field_validator("country")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _country(value) or ""


class ModelSpec(_Strict):
    """A model to add or override; `id` is canonical `vendor/model`."""

    id: str
    name: str = ""
    family: str = ""
    open_weights: bool = False
    context_window: int = 0
    input_price: float | None = Field(default=None, description="USD per 1M input tokens")
    output_price: float | None = Field(default=None, description="USD per 1M output tokens")
    aliases: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _has_vendor(cls, value: str) -> str:
        if value.count("/") != 1 or not all(value.split("/")):
            raise ValueError(f"model id must be 'vendor/model', got {value!r}")
        return value.strip().lower()


class CatalogConfig(_Strict):
    """The `catalog:` section of the gateway config."""

    org_country: str = Field(
        default="", description="Country of the organisation: host country of self-hosted models"
    )
    vendors: list[VendorSpec] = Field(default_factory=list)
    hosts: list[HostSpec] = Field(default_factory=list)
    models: list[ModelSpec] = Field(default_factory=list)
    aliases: dict[str, str] = Field(
        default_factory=dict, description="Any name -> canonical model id or another name"
    )

    @field_validator("org_country")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _country(value) or ""

    @classmethod
    def from_gateway_config(cls, document: Any) -> CatalogConfig:
        """Read only the `catalog:` key of a parsed gateway YAML document (the rest is not ours)."""
        if not isinstance(document, dict):
            return cls()
        section = document.get("catalog") or {}
        return cls.model_validate(section)
