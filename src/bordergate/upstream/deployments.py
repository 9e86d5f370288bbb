"""Runtime view of providers and deployments, built once from config.

Everything derivable per request (URL, auth header, static headers) is computed here at start-up
so the hot path only looks things up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from bordergate.config import Config, ProviderConfig


@dataclass(frozen=True, slots=True)
class Provider:
    """One upstream endpoint, ready to call. `headers` holds the secret: never log it."""

    name: str
    kind: str
    host: str
    url: str
    headers: dict[str, str] = field(repr=False)
    timeout_s: float
    connect_timeout_s: float
    stream_idle_timeout_s: float
    max_connections: int


@dataclass(frozen=True, slots=True)
class Deployment:
    """A client-facing model served by one provider under its upstream model id."""

    id: str
    provider: Provider
    upstream_model: str
    base_model: str | None = None
    region: str = ""


def build_provider(name: str, cfg: ProviderConfig) -> Provider:
    """Precompute URL and headers for a provider."""
    url = cfg.base_url + cfg.chat_path
    if cfg.query:
        url += "?" + urlencode(cfg.query)
    headers = {"content-type": "application/json", **{k.lower(): v for k, v in cfg.headers.items()}}
    if cfg.api_key is not None:
        secret = cfg.api_key.get_secret_value()
        headers[cfg.auth_header.lower()] = (
            f"{cfg.auth_scheme} {secret}" if cfg.auth_scheme else secret
        )
    if cfg.kind == "anthropic":
        headers.setdefault("anthropic-version", "2023-06-01")
    return Provider(
        name=name,
        kind=cfg.kind,
        host=cfg.host or name,
        url=url,
        headers=headers,
        timeout_s=cfg.timeout_s,
        connect_timeout_s=cfg.connect_timeout_s,
        stream_idle_timeout_s=cfg.stream_idle_timeout_s,
        max_connections=cfg.max_connections,
    )


def build_deployments(config: Config) -> dict[str, list[Deployment]]:
    """Client-facing name -> ordered candidate deployments (disabled providers left out)."""
    providers = {name: build_provider(name, p) for name, p in config.providers.items()}
    table: dict[str, list[Deployment]] = {}
    for name, entries in config.models.items():
        table[name] = [
            Deployment(
                id=f"{e.provider}/{e.model}",
                provider=providers[e.provider],
                upstream_model=e.model,
                base_model=e.base_model,
                region=e.region if e.region is not None else config.providers[e.provider].region,
            )
            for e in entries
            if e.provider in providers
        ]
    return table
