"""Runtime view of providers and deployments, built once from config.

Everything derivable per request (URL, auth header, static headers) is computed here at start-up
so the hot path only looks things up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.types import UNKNOWN_VENDOR, DeploymentFacts
from bordergate.config import Config, ProviderConfig
from bordergate.upstream.aws_credentials import AwsCredentialChain, CredentialError
from bordergate.upstream.breaker import BreakerSettings
from bordergate.upstream.google_auth import (
    METADATA_HOST,
    GoogleTokenSource,
    MetadataTokenSource,
    adc_file,
    token_source_from_file,
)
from bordergate.upstream.sigv4 import AwsCredentials, SigV4Signer

log = logging.getLogger("bordergate.upstream")

#: Provider kinds whose wire format is Anthropic's Messages API (request and answer bodies).
ANTHROPIC_KINDS = frozenset({"anthropic", "bedrock", "vertex"})
#: Provider kinds that count tokens for `/v1/messages/count_tokens` (Anthropic and Vertex at
#: `Provider.count_url`, Bedrock at each model's CountTokens endpoint).
COUNTING_KINDS = frozenset({"anthropic", "vertex", "bedrock"})


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
    #: When this provider's deployments are skipped after repeated failures.
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    #: Anthropic-format providers: where `/v1/messages/count_tokens` is asked.
    count_url: str = ""
    #: Bedrock with IAM credentials: signs each request (SigV4); None means a static header.
    signer: SigV4Signer | None = field(default=None, repr=False)
    #: Vertex with a service-account key: access tokens, cached and refreshed.
    token_source: GoogleTokenSource | None = field(default=None, repr=False)
    #: Bedrock with `aws_credentials: default`: the platform's credentials, refreshed.
    aws_chain: AwsCredentialChain | None = field(default=None, repr=False)


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
    #: Bedrock and Vertex: the model's own endpoints (the model id is part of the path).
    url: str = ""
    stream_url: str = ""


def bedrock_urls(provider: Provider, model: str) -> tuple[str, str]:
    """InvokeModel and InvokeModelWithResponseStream URLs for a Bedrock model id.

    The id is percent-encoded as one path segment (`:` in `...-v1:0`, `/` in an ARN), which is
    how AWS's own SDKs send it; these exact bytes go on the wire and are what SigV4 signs.
    """
    base = f"{provider.url}/model/{quote(model, safe='')}"
    return f"{base}/invoke", f"{base}/invoke-with-response-stream"


#: Bedrock cross-region inference profiles: id prefix -> region prefixes of its geography.
_PROFILE_GEOGRAPHIES = {
    "us.": ("us-",),
    "us-gov.": ("us-gov-",),
    "eu.": ("eu-",),
    "apac.": ("ap-",),
    "jp.": ("ap-northeast-",),
    "au.": ("ap-southeast-",),
    "ca.": ("ca-",),
}


def cross_region_note(kind: str, model: str, region: str) -> str | None:
    """Why a Bedrock or Vertex deployment may be served outside `region`, or None.

    A Bedrock cross-region inference profile is called in one region but served in any region
    of its geography (`global.`: any commercial region); Vertex's `global` endpoint likewise.
    The deployment's facts say `region`, so an operator writing residency policies should know
    when that is only where the call enters.
    """
    if kind == "vertex":
        if region == "global":
            return "Vertex AI's global endpoint may serve it in any region Google chooses"
        return None
    if kind != "bedrock":
        return None
    profile = model.rsplit("/", 1)[-1]  # an inference-profile ARN ends with the profile id
    if profile.startswith("global."):
        return (
            f"{model!r} is a global inference profile: Bedrock may serve it in any commercial "
            f"AWS region, not only {region}"
        )
    for prefix, regions in _PROFILE_GEOGRAPHIES.items():
        if profile.startswith(prefix) and not region.startswith(regions):
            return (
                f"{model!r} is a {prefix[:-1]} cross-region profile but the provider's region is "
                f"{region}: Bedrock serves it in {prefix[:-1]} regions (or refuses the call)"
            )
    return None


def vertex_urls(provider: Provider, model: str) -> tuple[str, str]:
    """rawPredict and streamRawPredict URLs of a Vertex model (`claude-sonnet-4-5@20250929`)."""
    base = f"{provider.url}/{quote(model, safe='@')}"
    return f"{base}:rawPredict", f"{base}:streamRawPredict"


def model_urls(provider: Provider, model: str) -> tuple[str, str]:
    """A model's own (answer, stream) endpoints where the model is in the path; else blank."""
    if provider.kind == "bedrock":
        return bedrock_urls(provider, model)
    if provider.kind == "vertex":
        return vertex_urls(provider, model)
    return "", ""


def build_provider(
    name: str, cfg: ProviderConfig, env: Mapping[str, str] | None = None
) -> Provider:
    """Precompute URL and headers for a provider (Bedrock, Vertex: the root of model paths).

    ValueError (naming the provider) when a Vertex service-account key file or an AWS profile
    is unusable.
    `env` (default: the process environment) is where `aws_credentials: default` looks.
    """
    token_source = None
    aws_chain = None
    if cfg.aws_credentials == "default":
        try:
            aws_chain = AwsCredentialChain(cfg.region, os.environ if env is None else env)
        except CredentialError as exc:
            raise ValueError(f"providers.{name}.aws_credentials: {exc}") from None
    if cfg.kind == "bedrock":
        url, count_url = cfg.base_url, ""  # each model has its own path under the root
    elif cfg.kind == "vertex":
        url = (
            f"{cfg.base_url}/projects/{quote(cfg.project, safe='')}/locations/"
            f"{quote(cfg.region, safe='')}/publishers/anthropic/models"
        )
        count_url = f"{url}/count-tokens:rawPredict"
        token_source = _google_tokens(name, cfg, os.environ if env is None else env)
    else:
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
        breaker=BreakerSettings(
            cfg.circuit_breaker.failures,
            cfg.circuit_breaker.cooldown_s,
            cfg.circuit_breaker.max_cooldown_s,
        ),
        count_url=count_url,
        signer=_signer(cfg),
        token_source=token_source,
        aws_chain=aws_chain,
    )


def _google_tokens(
    name: str, cfg: ProviderConfig, env: Mapping[str, str]
) -> GoogleTokenSource | None:
    """Vertex: tokens from the configured credentials file, or Application Default Credentials
    (the file `GOOGLE_APPLICATION_CREDENTIALS` names, else gcloud's user login, else the
    metadata server), in the order Google's client libraries look."""
    key_file = cfg.credentials_file
    if cfg.google_credentials == "default":
        key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS", "")
        if not key_file and adc_file(env).is_file():
            key_file = str(adc_file(env))
        if not key_file:
            host = env.get("GCE_METADATA_HOST") or METADATA_HOST
            return MetadataTokenSource(host, fell_through=True)
    if not key_file:
        return None  # a static access token (api_key)
    try:
        return token_source_from_file(key_file)
    except ValueError as exc:
        field = "credentials_file" if cfg.credentials_file else "google_credentials"
        raise ValueError(f"providers.{name}.{field}: {exc}") from None


def _signer(cfg: ProviderConfig) -> SigV4Signer | None:
    """Bedrock with IAM credentials signs every request; anything else sends static headers."""
    if cfg.aws_access_key_id is None or cfg.aws_secret_access_key is None:
        return None
    token = cfg.aws_session_token
    credentials = AwsCredentials(
        cfg.aws_access_key_id.get_secret_value(),
        cfg.aws_secret_access_key.get_secret_value(),
        token.get_secret_value() if token is not None else None,
    )
    return SigV4Signer(credentials, cfg.region, "bedrock")


def build_deployments(
    config: Config, catalog: Catalog | None = None, env: Mapping[str, str] | None = None
) -> dict[str, list[Deployment]]:
    """Client-facing name -> ordered candidate deployments (disabled providers left out).

    With a catalog, each deployment carries its provenance facts (who made the model, where it
    runs), resolved once here so the policy never re-resolves names per request.
    """
    providers = {name: build_provider(name, p, env) for name, p in config.providers.items()}
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
                if e.base_model and facts.vendor == UNKNOWN_VENDOR:
                    # Who made it stays unknown; what it costs is best read from the served
                    # name (a fine-tune of gpt-4o is billed like it), or budgets charge 0.
                    served = catalog.resolve(e.model).model
                    price = catalog.price(served, facts.host) if served else None
                    log.warning(
                        "models.%s: base_model %r is not in the catalog, so its vendor is "
                        "unknown (policies that refuse unattributable models will): declare "
                        "it under catalog.models or catalog.vendors",
                        name,
                        e.base_model,
                    )
            provider = providers[e.provider]
            url, stream_url = model_urls(provider, e.model)
            deps.append(
                Deployment(
                    id=dep_id,
                    provider=provider,
                    upstream_model=e.model,
                    base_model=e.base_model,
                    region=region,
                    facts=facts,
                    price=price,
                    url=url,
                    stream_url=stream_url,
                )
            )
        table[name] = deps
    return table
