"""Configuration of identity (keys, JWT, admin credential), read from the gateway YAML.

Commands such as `bordergate keys` read only the `identity:` and `limits:` sections of the
gateway file, so they keep working while other sections evolve; `${VAR}` (and `${VAR:-default}`)
are expanded from the environment so secrets never sit in the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which value and why."""


def expand_env(value: Any) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string of a parsed YAML tree.

    A variable that is unset and has no default is an error rather than an empty string,
    because an empty server secret or admin key would silently weaken security.
    """
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set")

        return _ENV_RE.sub(repl, value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def read_config_section(path: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """Return one top-level section of the gateway YAML (env-expanded; {} when absent)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    section = doc.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `{name}` must be a mapping")
    try:
        expanded: dict[str, Any] = expand_env(section)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {name}: {exc}") from exc
    return expanded


class StaticKeyConfig(BaseModel):
    """A key declared in the config file, so a fresh gateway works before any key is created.

    Give either `key` (usually `"${ENV}"`) or `key_sha256` (hex SHA-256 of the key), never both.
    """

    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    key_sha256: str | None = None
    user: str
    team: str = ""
    groups: list[str] = Field(default_factory=list)
    country: str = ""
    org: str = ""
    org_country: str = ""
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str = "month"

    @model_validator(mode="after")
    def _one_secret(self) -> StaticKeyConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("static key needs exactly one of `key` or `key_sha256`")
        if self.key is not None and len(self.key) < 16:
            raise ValueError("static key must be at least 16 characters")
        if self.key_sha256 is not None:
            digest = self.key_sha256.lower()
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError("key_sha256 must be 64 hex characters")
            self.key_sha256 = digest
        if self.budget_period not in ("day", "month"):
            raise ValueError("budget_period must be day or month")
        return self


class JwtConfig(BaseModel):
    """How JWT bearer tokens are verified and mapped to principal attributes."""

    model_config = ConfigDict(extra="forbid")

    issuer: str
    audience: str | list[str]
    jwks_file: str | None = None
    jwks_url: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_s: float = 30.0
    jwks_ttl_s: float = 300.0
    jwks_min_refresh_s: float = 10.0
    # Principal attribute -> claim path (dotted for nested claims).
    claims: dict[str, str] = Field(
        default_factory=lambda: {"user": "sub", "team": "team", "groups": "groups"}
    )

    @model_validator(mode="after")
    def _one_source(self) -> JwtConfig:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("jwt needs exactly one of `jwks_file` or `jwks_url`")
        bad = [a for a in self.algorithms if a.upper() == "NONE" or a.startswith("HS")]
        if bad:
            raise ValueError(f"algorithms not allowed for JWKS verification: {bad}")
        known = {"user", "team", "groups", "country", "org", "org_country"}
        unknown = set(self.claims) - known
        if unknown:
            raise ValueError(f"unknown principal attributes in claims: {sorted(unknown)}")
        if "user" not in self.claims:
            raise ValueError("claims must map `user`")
        return self


class IdentityConfig(BaseModel):
    """The `identity:` section of the gateway YAML."""

    model_config = ConfigDict(extra="forbid")

    server_secret: str = ""
    #: Used when `server_secret` is empty: read from this file, created (0600, 32 random bytes)
    #: on first use. Embedded single-node default; replicas must share an explicit secret.
    server_secret_file: str | None = None
    database_url: str = "sqlite:///var/bordergate.db"
    static_keys: list[StaticKeyConfig] = Field(default_factory=list)
    jwt: JwtConfig | None = None
    cache_ttl_s: float = 60.0
    negative_cache_ttl_s: float = 5.0
    cache_max_entries: int = 100_000
    revocation_poll_s: float = 0.5
    redis_url: str | None = None
    revocation_channel: str = "bordergate:keys:events"
    admin_key: str | None = None
    admin_key_sha256: str | None = None

    @field_validator("revocation_poll_s")
    @classmethod
    def _poll_fast_enough(cls, v: float) -> float:
        if not 0 < v <= 0.5:
            raise ValueError("revocation_poll_s must be in (0, 0.5] to revoke within 1 s")
        return v

    @model_validator(mode="after")
    def _admin_secret(self) -> IdentityConfig:
        if self.admin_key is not None and self.admin_key_sha256 is not None:
            raise ValueError("give only one of admin_key or admin_key_sha256")
        if self.admin_key is not None and len(self.admin_key) < 16:
            raise ValueError("admin_key must be at least 16 characters")
        if self.admin_key_sha256 is not None:
            self.admin_key_sha256 = self.admin_key_sha256.lower()
            if not re.fullmatch(r"[0-9a-f]{64}", self.admin_key_sha256):
                # Else no admin key could ever match: the admin API would refuse everyone.
                raise ValueError("admin_key_sha256 must be 64 hex characters")
        if self.server_secret and len(self.server_secret) < 16:
            raise ValueError("server_secret must be at least 16 characters")
        return self


def with_server_secret(config: IdentityConfig) -> IdentityConfig:
    """The config with `server_secret` filled from `server_secret_file` (created if missing)."""
    if config.server_secret or not config.server_secret_file:
        return config
    path = Path(config.server_secret_file)
    if not path.exists():
        _create_secret_file(path)
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < 16:
        raise ConfigError(f"{path}: server secret file holds fewer than 16 characters")
    return config.model_copy(update={"server_secret": secret})


def _create_secret_file(path: Path) -> None:
    """Write a fresh secret so that concurrent starters all end up reading the same one.

    Several processes may start at once (`server.workers`, replicas on one host, a CLI next to
    a starting server): the secret is written to a private temporary file and then hard-linked
    into place, which fails if another process got there first; either way nobody ever reads
    a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):  # another process won: use its secret
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_identity_config(path: str | os.PathLike[str]) -> IdentityConfig:
    """Validate the `identity:` section of the gateway YAML at `path`."""
    from bordergate.config import ConfigError as GatewayConfigError
    from bordergate.config import load_config

    try:
        return with_server_secret(load_config(path, env_sections={"identity"}).identity)
    except GatewayConfigError as exc:
        raise ConfigError(str(exc)) from None
