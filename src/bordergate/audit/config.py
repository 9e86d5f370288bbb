"""The `audit:` section of the gateway YAML, and a loader that reads only that section.

The audit commands run against the same file as `bordergate serve` but must not depend on the
rest of the gateway's configuration being importable, so they read just this key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(value: Any, env: dict[str, str] | None = None) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; a missing VAR is an error."""
    source = os.environ if env is None else env
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in source:
                return source[name]
            if default is not None:
                return default
            raise ValueError(f"environment variable {name} is not set")

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, env) for v in value]
    return value


_KEY_SHAPE = (
    "body_encryption_key must be an AES-256 key: 64 hex digits or the base64 of 32 bytes "
    "(make one with `openssl rand -hex 32`)"
)


def decode_key(text: str) -> bytes:
    """A 32-byte AES key given as 64 hex digits or base64 (standard or URL-safe)."""
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    normalised = text.replace("+", "-").replace("/", "_")
    try:
        raw = base64.urlsafe_b64decode(normalised + "=" * (-len(normalised) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(_KEY_SHAPE) from exc
    if len(raw) != 32:
        raise ValueError(_KEY_SHAPE)
    return raw


class AuditConfig(BaseModel):
    """Where the log lives, how durable writes are, and how it is signed."""

    model_config = ConfigDict(extra="forbid")

    database: str = "sqlite:///var/bordergate.db"
    durability: Literal["strict", "batched"] = "strict"
    batch_max_events: int = Field(256, ge=1, le=100_000)
    batch_max_delay_ms: float = Field(0.0, ge=0, le=10_000)
    checkpoint_every_events: int = Field(1000, ge=1)
    checkpoint_every_seconds: float = Field(300.0, gt=0)
    signing_key: Path | None = None
    public_key: Path | None = None
    checkpoint_dir: Path | None = None
    store_bodies: bool = Field(
        False,
        description="Keep each request's prompt and answer in its event, masked by the DLP "
        "scanner and encrypted (needs `body_encryption_key` and `dlp.enabled`).",
    )
    body_encryption_key: SecretStr | None = Field(
        None, description="AES-256 key for stored bodies: 64 hex digits or base64 of 32 bytes."
    )
    body_max_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Largest stored body per side, after masking; a larger one is cut and "
        "marked as cut.",
    )

    @field_validator("body_encryption_key")
    @classmethod
    def _key_decodes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _bodies_need_key(self) -> AuditConfig:
        if self.store_bodies and self.body_encryption_key is None:
            raise ValueError("store_bodies requires body_encryption_key (bodies are encrypted)")
        return self

    def encryption_key(self) -> bytes | None:
        """The raw AES-256 key, when bodies are stored."""
        if not self.store_bodies or self.body_encryption_key is None:
            return None
        return decode_key(self.body_encryption_key.get_secret_value())


def load_audit_config(path: Path) -> AuditConfig:
    """The `audit:` section of a gateway config file, validated with the whole file."""
    from bordergate.config import load_config

    return load_config(path, env_sections={"audit"}).audit
