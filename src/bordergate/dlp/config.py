"""The `dlp:` section of the gateway configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bordergate.dlp.markings import DEFAULT_MARKINGS
from bordergate.dlp.types import CLASSES


class DlpConfig(BaseModel):
    """What the data-egress guard scans for and how much work it may spend per request."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Marking phrases that make a text `confidential` (case-insensitive for Latin script).
    markings: list[str] = Field(default_factory=lambda: list(DEFAULT_MARKINGS))
    #: Named term lists (project codenames, customer names): rule id `dictionary-<name>`.
    dictionaries: dict[str, list[str]] = Field(default_factory=dict)
    #: Rule ids to switch off (e.g. `ipv4`, `generic-secret-assignment`).
    disabled_rules: list[str] = Field(default_factory=list)
    #: Texts longer than this are refused (fail closed) rather than scanned partially.
    max_scan_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    #: Budget for scanning one request; exceeding it fails closed.
    scan_timeout_ms: int = Field(default=200, gt=0)
    #: Classes the policy may redact instead of refusing.
    redactable_classes: list[str] = Field(default_factory=lambda: ["personal_data"])
    #: Decode base64 blobs and scan the decoded text once.
    decode_base64: bool = True
    #: Detect code-shaped text as `source_code`.
    detect_source_code: bool = True
    #: Fingerprint index built by `bordergate fingerprint build` (internal_code detection).
    fingerprint_index: str | None = None
    #: Minimum fingerprint matches for a text to count as `internal_code`.
    internal_code_min_matches: int = Field(default=8, ge=1)

    @field_validator("redactable_classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        """A misspelt class (`personal_dta`) would make redaction silently never happen."""
        unknown = [name for name in value if name not in CLASSES]
        if unknown:
            raise ValueError(
                f"unknown data class {', '.join(unknown)}; the classes are {', '.join(CLASSES)}"
            )
        return value
