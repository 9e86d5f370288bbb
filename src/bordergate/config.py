"""The gateway's one YAML configuration file, validated at start-up.

Invalid configuration refuses to start with file, line and reason. Provider secrets come from
`${ENV}`; a missing variable is an error naming it, unless its provider is `optional: true`, in
which case that provider is disabled (and said so) instead of the whole gateway refusing to start.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bordergate.audit.config import AuditConfig
from bordergate.catalog.config import CatalogConfig
from bordergate.dlp.config import DlpConfig
from bordergate.identity.config import IdentityConfig
from bordergate.limits.config import LimitsConfig
from bordergate.upstream.presets import apply_preset
from bordergate.yamlconf import LoadedYaml, YamlError, load_yaml

log = logging.getLogger("bordergate.config")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    """Listener and request limits."""

    host: str = Field("127.0.0.1", description="Listen address (`serve --host` overrides).")
    port: int = Field(4000, ge=0, le=65535, description="Listen port (`serve --port`).")
    workers: int = Field(1, ge=1, le=64, description="Worker processes (`serve --workers`).")
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Larger request bodies get 413, checked as read."
    )
    max_messages: int = Field(2048, ge=1, description="More messages in one request get 400.")
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A request body that has not fully arrived this long after the request's "
        "headers gets 408 (a client withholding its body cannot hold the request open).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class AuthConfig(_Strict):
    """Whether callers must authenticate. On unless explicitly `mode: none` (warned at start).

    Credentials themselves (static keys, the virtual-key store, JWT) live under `identity:`.
    """

    mode: Literal["keys", "none"] = Field(
        "keys", description="`none` turns authentication off (a warning is logged)."
    )


class PolicyConfig(_Strict):
    """Cedar policy files (paths relative to the working directory), reloaded atomically."""

    files: list[str] = Field(
        default_factory=list, description="Cedar files; none means every model is permitted."
    )
    watch: bool = Field(True, description="Reload when a policy file changes (also on SIGHUP).")
    watch_interval_s: float = Field(1.0, gt=0)


#: A cloud region as it goes into an endpoint's host name and a signing scope.
_REGION = re.compile(r"[a-z][a-z0-9-]{1,40}")
#: Vertex AI's multi-region and global endpoints; any other region is <region>-aiplatform.
_VERTEX_ROOTS = {
    "global": "https://aiplatform.googleapis.com/v1",
    "eu": "https://aiplatform.eu.rep.googleapis.com/v1",
    "us": "https://aiplatform.us.rep.googleapis.com/v1",
}


class CircuitBreakerConfig(_Strict):
    """When to stop calling a deployment that keeps failing (see `upstream/breaker.py`)."""

    failures: int = Field(
        5,
        ge=0,
        description=(
            "Retryable failures in a row (refused, timed out, 5xx, 429) after which a "
            "deployment is skipped for `cooldown_s`; 0 turns the breaker off."
        ),
    )
    cooldown_s: float = Field(
        10.0, gt=0, description="First pause; then one trial request decides."
    )
    max_cooldown_s: float = Field(
        120.0, gt=0, description="The pause doubles after each failed trial, up to this."
    )

    @model_validator(mode="after")
    def _order(self) -> CircuitBreakerConfig:
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError("max_cooldown_s must be at least cooldown_s")
        return self


class ProviderConfig(_Strict):
    """One upstream API endpoint. `kind` is its wire format; `host` is who operates it.

    `preset: NAME` fills the well-known fields (see `bordergate.upstream.presets`).
    """

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return apply_preset(data) if isinstance(data, dict) else data

    preset: str | None = Field(None, description="Well-known provider whose fields to start from.")
    kind: Literal["openai", "anthropic", "bedrock", "vertex"] = Field(
        "openai",
        description=(
            "Wire format: OpenAI chat completions, Anthropic messages, or Anthropic messages on "
            "Amazon Bedrock (InvokeModel; SigV4 or a Bedrock API key) or on Google Vertex AI "
            "(rawPredict; a service-account key or an access token)."
        ),
    )
    base_url: str = Field(
        "",
        description=(
            "API root, e.g. https://api.openai.com/v1. Bedrock: defaults to "
            "https://bedrock-runtime.<region>.amazonaws.com; Vertex: to "
            "https://<region>-aiplatform.googleapis.com/v1."
        ),
    )
    api_key: SecretStr | None = Field(
        None, description="Provider key (Bedrock: a Bedrock API key, sent as Bearer); use ${ENV}."
    )
    aws_access_key_id: SecretStr | None = Field(
        None, description="Bedrock: IAM access key id for SigV4 signing; use ${ENV}."
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, description="Bedrock: IAM secret access key for SigV4 signing; use ${ENV}."
    )
    aws_session_token: SecretStr | None = Field(
        None, description="Bedrock: session token of temporary credentials; use ${ENV}."
    )
    aws_credentials: Literal["", "default"] = Field(
        "",
        description=(
            "Bedrock: `default` takes credentials where the AWS SDKs find them: environment, "
            "web identity (EKS), a profile's static keys in ~/.aws, container (ECS, EKS Pod "
            "Identity), instance profile (EC2)."
        ),
    )
    project: str = Field("", description="Vertex: the Google Cloud project id (required).")
    credentials_file: str = Field(
        "",
        description=(
            "Vertex: a service-account key file (JSON), e.g. ${GOOGLE_APPLICATION_CREDENTIALS}, "
            "or gcloud's user credentials; the gateway gets and refreshes access tokens with it."
        ),
    )
    google_credentials: Literal["", "default"] = Field(
        "",
        description=(
            "Vertex: `default` takes Application Default Credentials: the file named by "
            "GOOGLE_APPLICATION_CREDENTIALS, else gcloud's user login (`gcloud auth "
            "application-default login`), else the metadata server (GCE, GKE, Cloud Run)."
        ),
    )
    auth_header: str = Field(
        "", description="Header carrying the key; default Authorization (openai) or x-api-key."
    )
    auth_scheme: str = Field("", description="Prefix before the key; default 'Bearer' for openai.")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict, description="e.g. Azure api-version.")
    chat_path: str = ""
    host: str = Field("", description="Host provider id for provenance; defaults to the name.")
    host_country: str = Field("", description="Overrides the catalog's HQ country of the host.")
    region: str = Field(
        "",
        description=(
            "Where the deployment runs (policy: resource.region). Bedrock and Vertex: required "
            "(Vertex also takes global, eu, us)."
        ),
    )
    self_hosted: bool = Field(False, description="Runs in the organisation's own infrastructure.")
    optional: bool = Field(False, description="Disable (with a warning) when its ${ENV} is unset.")
    timeout_s: float = Field(120.0, gt=0, description="Deadline for an answer (first byte).")
    connect_timeout_s: float = Field(10.0, gt=0)
    stream_idle_timeout_s: float = Field(
        60.0, gt=0, description="A stream silent this long is ended with an error."
    )
    max_connections: int = Field(256, ge=1, description="Pooled connections (per worker).")
    circuit_breaker: CircuitBreakerConfig = Field(
        default_factory=CircuitBreakerConfig,
        description="Skip this provider's deployments for a while after repeated failures.",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _defaults(self) -> ProviderConfig:
        if (
            self.kind in ("bedrock", "vertex")
            and self.region
            and not _REGION.fullmatch(self.region)
        ):
            raise ValueError(
                f"region {self.region!r} is not a cloud region name (lower-case letters, digits "
                "and dashes, e.g. eu-central-1)"
            )
        if self.kind == "bedrock":
            self._bedrock_defaults()
        elif self.kind == "vertex":
            self._vertex_defaults()
        elif not self.base_url:
            raise ValueError("base_url is required")
        if self.kind != "bedrock" and (
            self.aws_access_key_id
            or self.aws_secret_access_key
            or self.aws_session_token
            or self.aws_credentials
        ):
            raise ValueError("aws_* credentials are for kind: bedrock only")
        if self.kind != "vertex" and (
            self.project or self.credentials_file or self.google_credentials
        ):
            raise ValueError(
                "project, credentials_file and google_credentials are for kind: vertex only"
            )
        if not self.auth_header:
            self.auth_header = "x-api-key" if self.kind == "anthropic" else "Authorization"
        if not self.auth_scheme and self.auth_header.lower() == "authorization":
            self.auth_scheme = "Bearer"
        if not self.chat_path:
            self.chat_path = "/chat/completions" if self.kind == "openai" else "/messages"
        return self

    def _vertex_defaults(self) -> None:
        """Vertex: a project and region to address, and exactly one way to authenticate."""
        if not self.project:
            raise ValueError("project is required for kind: vertex (the Google Cloud project id)")
        if not self.region:
            raise ValueError(
                "region is required for kind: vertex (e.g. europe-west1, or global, eu, us)"
            )
        if not self.base_url:
            self.base_url = _VERTEX_ROOTS.get(
                self.region, f"https://{self.region}-aiplatform.googleapis.com/v1"
            )
        ways = [
            bool(self.credentials_file),
            self.api_key is not None,
            bool(self.google_credentials),
        ]
        if sum(ways) != 1:
            raise ValueError(
                "kind: vertex takes one of credentials_file (a service-account key, refreshed "
                "automatically), google_credentials: default (the key file named by "
                "GOOGLE_APPLICATION_CREDENTIALS, else the metadata server) or api_key (an "
                "access token, which expires within the hour)"
            )

    def _bedrock_defaults(self) -> None:
        """Bedrock: a region to call and sign for, and exactly one way to authenticate."""
        if not self.region:
            raise ValueError(
                "region is required for kind: bedrock (e.g. eu-central-1): it names the "
                "endpoint and the SigV4 signing scope"
            )
        if not self.base_url:
            self.base_url = f"https://bedrock-runtime.{self.region}.amazonaws.com"
        sigv4 = self.aws_access_key_id is not None or self.aws_secret_access_key is not None
        if self.aws_credentials == "default":
            if sigv4 or self.aws_session_token is not None or self.api_key is not None:
                raise ValueError(
                    "aws_credentials: default finds credentials itself; remove api_key and "
                    "aws_access_key_id/aws_secret_access_key/aws_session_token"
                )
            return
        if sigv4 and (self.aws_access_key_id is None or self.aws_secret_access_key is None):
            raise ValueError("kind: bedrock needs both aws_access_key_id and aws_secret_access_key")
        if self.aws_session_token is not None and not sigv4:
            raise ValueError("aws_session_token needs aws_access_key_id and aws_secret_access_key")
        if sigv4 and self.api_key is not None:
            raise ValueError(
                "kind: bedrock takes either api_key (a Bedrock API key) or "
                "aws_access_key_id/aws_secret_access_key (SigV4), not both"
            )
        if not sigv4 and self.api_key is None:
            raise ValueError(
                "kind: bedrock needs credentials: aws_access_key_id and aws_secret_access_key "
                "(SigV4), api_key (a Bedrock API key), or aws_credentials: default (the "
                "platform's: environment, EKS, ECS or EC2 instance role)"
            )


class DeploymentConfig(_Strict):
    """One place a client-facing model can be served: a provider and its upstream model id."""

    provider: str
    model: str
    base_model: str | None = Field(
        None, description="Canonical catalog id of the weights, e.g. alibaba/qwen3-coder-30b-a3b."
    )
    region: str | None = Field(
        None,
        description=(
            "Where this deployment runs, if not the provider's region (policy: resource.region)."
        ),
    )


class Config(_Strict):
    """The whole gateway configuration."""

    server: ServerConfig = Field(default_factory=lambda: ServerConfig())
    auth: AuthConfig = Field(default_factory=AuthConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    dlp: DlpConfig = Field(default_factory=DlpConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, list[DeploymentConfig]] = Field(default_factory=dict)
    # Providers disabled because an optional provider's ${ENV} was missing: name -> reason.
    disabled_providers: dict[str, str] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Config:
        for name, deployments in self.models.items():
            if not deployments:
                raise ValueError(f"models.{name}: needs at least one deployment")
            for i, dep in enumerate(deployments):
                known = dep.provider in self.providers or dep.provider in self.disabled_providers
                if not known:
                    raise ValueError(
                        f"models.{name}[{i}].provider: unknown provider {dep.provider!r}"
                    )
        return self


class ConfigError(ValueError):
    """Configuration is invalid; the message names file, line (where known) and reason."""


def _format_validation(exc: ValidationError, loaded: LoadedYaml, filename: str) -> str:
    lines = []
    for err in exc.errors():
        loc: tuple[str | int, ...] = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc and msg.startswith("models."):
            # Cross-reference errors carry their own path in the message.
            dotted, _, rest = msg.partition(":")
            parts: list[str | int] = []
            for piece in dotted.replace("]", "").split("."):
                name, _, idx = piece.partition("[")
                parts.append(name)
                if idx:
                    parts.append(int(idx))
            line = loaded.line_of(tuple(parts))
            lines.append(f"{filename}:{line or '?'}: {dotted}: {rest.strip()}")
            continue
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line = loaded.line_of(loc)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `bordergate config schema` lists keys)"
        lines.append(f"{filename}:{line or '?'}: {dotted}: {msg}")
    return "\n".join(lines)


TEMPLATE_PREFIX = "x-"


def parse_config(
    text: str,
    filename: str = "<config>",
    env: dict[str, str] | None = None,
    env_sections: Collection[str] | None = None,
) -> Config:
    """Validate config text; raise ConfigError naming file, line and reason.

    `env_sections` limits which top-level sections must have all their `${ENV}` variables:
    tools such as `bordergate audit verify` need the `audit:` secrets, not provider keys, so
    elsewhere a missing variable disables that provider or key instead of failing.
    """
    try:
        loaded = load_yaml(text, filename, env)
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the top level must be a mapping")
    # Top-level `x-` keys hold shared blocks for YAML anchors and merge keys, as in Compose
    # files (`x-cloud: &cloud {...}`, then `<<: *cloud`): they are not settings themselves.
    templates = {key for key in data if key.startswith(TEMPLATE_PREFIX)}
    if templates:
        data = {key: value for key, value in data.items() if key not in templates}
    disabled: dict[str, str] = {}
    skipped_keys: set[int] = set()
    skipped_sections: set[str] = set()
    problems: list[str] = []
    for path, var in loaded.missing_env:
        if path[:1] and path[0] in templates:
            continue
        tolerated = env_sections is not None and path and path[0] not in env_sections
        provider = _optional_provider(data, path, force=bool(tolerated))
        if provider is not None:
            disabled[provider] = f"environment variable {var} is not set"
            continue
        key_index = _optional_key(data, path, force=bool(tolerated))
        if key_index is not None:
            skipped_keys.add(key_index)
            log.warning(
                "identity.static_keys[%d] skipped: environment variable %s is not set",
                key_index,
                var,
            )
            continue
        if tolerated:
            # A section this command does not use falls back to its defaults, rather than
            # failing validation on the empty value the missing variable left behind.
            skipped_sections.add(str(path[0]))
            continue
        dotted = ".".join(str(p) for p in path)
        problems.append(
            f"{filename}:{loaded.line_of(path) or '?'}: {dotted}: "
            f"environment variable {var} is not set"
        )
    if problems:
        raise ConfigError("\n".join(problems))
    if skipped_sections:
        data = {key: value for key, value in data.items() if key not in skipped_sections}
    providers = data.get("providers")
    if isinstance(providers, dict):
        data = {**data, "providers": {k: v for k, v in providers.items() if k not in disabled}}
    if skipped_keys:
        keys = data["identity"]["static_keys"]
        data["identity"] = {
            **data["identity"],
            "static_keys": [
                {k: v for k, v in key.items() if k != "optional"}
                for i, key in enumerate(keys)
                if i not in skipped_keys
            ],
        }
    elif isinstance(data.get("identity"), dict) and isinstance(
        data["identity"].get("static_keys"), list
    ):
        # `optional` is consumed here; the identity model does not know it.
        data["identity"] = {
            **data["identity"],
            "static_keys": [
                {k: v for k, v in key.items() if k != "optional"} if isinstance(key, dict) else key
                for key in data["identity"]["static_keys"]
            ],
        }
    data["disabled_providers"] = disabled
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, loaded, filename)) from None


def _optional_provider(
    data: dict[str, Any], path: tuple[str | int, ...], force: bool = False
) -> str | None:
    if len(path) >= 2 and path[0] == "providers":
        entry = (data.get("providers") or {}).get(path[1])
        if isinstance(entry, dict) and (force or entry.get("optional") is True):
            return str(path[1])
    return None


def _optional_key(
    data: dict[str, Any], path: tuple[str | int, ...], force: bool = False
) -> int | None:
    if (
        len(path) >= 3
        and path[0] == "identity"
        and path[1] == "static_keys"
        and isinstance(path[2], int)
    ):
        keys = (data.get("identity") or {}).get("static_keys") or []
        entry = keys[path[2]] if path[2] < len(keys) else None
        if isinstance(entry, dict) and (force or entry.get("optional") is True):
            return path[2]
    return None


def load_config(
    path: str | os.PathLike[str], env_sections: Collection[str] | None = None
) -> Config:
    """Read and validate a config file; ConfigError on any problem (including unreadable)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(p), env_sections=env_sections)


def config_line(path: str | os.PathLike[str], key: tuple[str | int, ...]) -> int | None:
    """Line of `key` (or its deepest present prefix) in a config file; None if unreadable."""
    try:
        loaded = load_yaml(Path(path).read_text(encoding="utf-8"), str(path), env={})
    except (OSError, YamlError, UnicodeDecodeError):
        return None
    return loaded.line_of(key)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for editors."""
    schema = Config.model_json_schema()
    schema.get("properties", {}).pop("disabled_providers", None)
    schema["patternProperties"] = {f"^{TEMPLATE_PREFIX}": {}}  # anchors for merge keys
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Bordergate configuration"
    return schema
