"""Runtime view of providers and deployments, built once from config.

Everything derivable per request (URL, auth header, static headers) is computed here at start-up
so the hot path only looks things up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.types import DeploymentFacts
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
    #: Anthropic-format providers: where `/v1/messages/count_tokens` is asked.
    count_url: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    """A client-facing model served by one provider under its upstream model id."""

    id: str
    provider: Provider
    upstream_model: str
    base_model: str | None = None
    region: str = ""
    facts: DeploymentFacts | None = None
    #: (input, output) USD per 1M tokens from the catalog, when known.
    price: tuple[float, float] | None = None


def build_provider(name: str, cfg: ProviderConfig) -> Provider:
    """Precompute URL and headers for a provider."""
    url = cfg.base_url + cfg.chat_path
    count_url = url + "/count_tokens" if cfg.kind == "anthropic" else ""
    if cfg.query:
        url += "?" + urlencode(cfg.query)
        count_url += "?" + urlencode(cfg.query) if count_url else ""
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
        count_url=count_url,
    )


def build_deployments(
    config: Config, catalog: Catalog | None = None
) -> dict[str, list[Deployment]]:
    """Client-facing name -> ordered candidate deployments (disabled providers left out).

    With a catalog, each deployment carries its provenance facts (who made the model, where it
    runs), resolved once here so the policy never re-resolves names per request.
    """
    providers = {name: build_provider(name, p) for name, p in config.providers.items()}
    table: dict[str, list[Deployment]] = {}
    for name, entries in config.models.items():
        deps = []
        for e in entries:
            if e.provider not in providers:
                continue
            pcfg = config.providers[e.provider]
            region = e.region if e.region is not None else pcfg.region
            dep_id = f"{e.provider}/{e.model}"
            facts = None
            price = None
            if catalog is not None:
                facts = catalog.deployment_facts(
                    dep_id,
                    host=providers[e.provider].host,
                    upstream_model=e.model,
                    region=region,
                    self_hosted=pcfg.self_hosted,
                    base_model=e.base_model,
                    host_country=pcfg.host_country or None,
                )
                if facts.model:
                    price = catalog.price(facts.model, facts.host)
            deps.append(
                Deployment(
                    id=dep_id,
                    provider=providers[e.provider],
                    upstream_model=e.model,
                    base_model=e.base_model,
                    region=region,
                    facts=facts,
                    price=price,
                )
            )
        table[name] = deps
    return table
