"""The catalog: vendors, hosts, models and deployments, and name -> provenance resolution.

Loaded once per process (the shipped JSON is parsed once and shared) and then extended by the
operator's `catalog:` config. `resolve()` is on the request path, so its results are memoised
per spelling (bounded); everything else is start-up work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from bordergate.catalog.config import CatalogConfig
from bordergate.catalog.hosts import FIRST_PARTY_HOST, HOST_PREFIXES, HOSTS, SELF_HOSTED, Host
from bordergate.catalog.resolve import ParsedName, fold, keyword_vendor, normalise, parse
from bordergate.catalog.types import UNKNOWN_VENDOR, DeploymentFacts
from bordergate.catalog.vendors import VENDOR_PREFIXES, VENDORS, Vendor

Price = tuple[float, float]
_RESOLVE_CACHE_MAX = 4096
# No real model id comes close; longer input is refused as unknown without parsing it.
MAX_NAME_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Model:
    """One model as trained by its vendor; `id` is canonical `vendor/model`."""

    id: str
    vendor: str
    name: str = ""
    family: str = ""
    open_weights: bool = False
    context_window: int = 0
    price: Price | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model offered by one host under its upstream id."""

    host: str
    region: str
    upstream: str
    model: str
    price: Price | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a model name stands for. `vendor` is "unknown" when nothing matched."""

    name: str
    vendor: str
    vendor_country: str | None
    vendor_parent_country: str | None = None
    model: str | None = None
    host: str | None = None
    region: str = ""
    open_weights: bool = False
    family: str | None = None
    prices: Price | None = None
    context_window: int | None = None
    fine_tuned: bool = False

    def summary(self) -> dict[str, str | None]:
        """The `models resolve --json` object."""
        return {
            "name": self.name,
            "vendor": self.vendor,
            "vendor_country": self.vendor_country,
            "model": self.model,
            "host": self.host,
        }


@cache
def _shipped() -> dict[str, Any]:
    """The shipped catalog document, parsed once per process."""
    text = resources.files("bordergate.catalog").joinpath("data/catalog.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _price(value: Any) -> Price | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return None


@dataclass
class Catalog:
    """Vendors, hosts, models and deployments, with name resolution that follows the data."""

    vendors: dict[str, Vendor]
    hosts: dict[str, Host]
    models: dict[str, Model]
    deployments: list[Deployment]
    org_country: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    _index: dict[str, str] = field(default_factory=dict, repr=False)
    _deployment_price: dict[tuple[str, str], Price] = field(default_factory=dict, repr=False)
    _cache: dict[str, Resolution] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- construction
    @classmethod
    def load(cls, config: CatalogConfig | None = None) -> Catalog:
        """The shipped catalog with the operator's extensions and overrides applied."""
        config = config or CatalogConfig()
        data = _shipped()
        vendors = dict(VENDORS)
        hosts = dict(HOSTS)
        models: dict[str, Model] = {}
        for model_id, rec in data["models"].items():
            models[model_id] = Model(
                id=model_id,
                vendor=model_id.split("/", 1)[0],
                name=rec.get("name", ""),
                family=rec.get("family", ""),
                open_weights=bool(rec.get("open_weights", False)),
                context_window=int(rec.get("context_window") or 0),
                price=_price(rec.get("price")),
            )
        deployments = [
            Deployment(host=h, region=r, upstream=u, model=m, price=_price(p))
            for h, r, u, m, p in data["deployments"]
        ]
        for v in config.vendors:
            vendors[v.id.lower()] = Vendor(
                v.id.lower(), v.name or v.id, v.country, v.parent_country
            )
        for h in config.hosts:
            hosts[h.id.lower()] = Host(h.id.lower(), h.name or h.id, h.country)
        for m in config.models:
            price = None
            if m.input_price is not None and m.output_price is not None:
                price = (m.input_price, m.output_price)
            models[m.id] = Model(
                id=m.id,
                vendor=m.id.split("/", 1)[0],
                name=m.name,
                family=m.family,
                open_weights=m.open_weights,
                context_window=m.context_window,
                price=price,
            )
        aliases = {normalise(k): v for k, v in config.aliases.items()}
        for m in config.models:
            for alias in m.aliases:
                aliases[normalise(alias)] = m.id
        catalog = cls(vendors, hosts, models, deployments, config.org_country, aliases)
        catalog._build_index(operator_models=[m.id for m in config.models])
        return catalog

    def _build_index(self, operator_models: list[str]) -> None:
        """Folded spelling -> canonical id. Primary keys first; operator models win."""
        index: dict[str, str] = {}
        secondary: dict[str, str] = {}
        for model_id in self.models:
            part = model_id.split("/", 1)[1]
            index.setdefault(fold(model_id), model_id)
            index.setdefault(fold(part), model_id)
        for dep in self.deployments:
            index.setdefault(fold(dep.upstream), dep.model)
            parsed = parse(dep.upstream)
            for key in parsed.keys:
                secondary.setdefault(key, dep.model)
            if dep.price:
                self._deployment_price.setdefault((dep.host, dep.model), dep.price)
        for model_id in self.models:
            for key in parse(model_id.split("/", 1)[1]).keys:
                secondary.setdefault(key, model_id)
        for key, value in secondary.items():
            index.setdefault(key, value)
        for model_id in operator_models:
            index[fold(model_id)] = model_id
            index[fold(model_id.split("/", 1)[1])] = model_id
        self._index = index

    # ----------------------------------------------------------------- resolution
    def resolve(self, name: str) -> Resolution:
        """What `name` stands for: vendor (never evaded by spelling), model, host."""
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        if len(name) > MAX_NAME_LENGTH:
            return Resolution(name=name, vendor=UNKNOWN_VENDOR, vendor_country=None)
        result = self._resolve(name, depth=0)
        if len(self._cache) >= _RESOLVE_CACHE_MAX:
            self._cache.clear()
        self._cache[name] = result
        return result

    def _resolve(self, name: str, depth: int) -> Resolution:
        parsed = parse(name)
        target = self.aliases.get(parsed.clean) or self.aliases.get(parsed.core)
        if target is not None and depth < 4:
            inner = self._resolve(target, depth + 1)
            return _renamed(inner, name, parsed)
        model = self._lookup(parsed)
        if model is not None:
            vendor = model.vendor
        else:
            vendor = keyword_vendor(parsed.core) or parsed.vendor_hint or UNKNOWN_VENDOR
        if vendor not in self.vendors:
            vendor = UNKNOWN_VENDOR
        v = self.vendors.get(vendor)
        host = parsed.host
        if host is None and parsed.fine_tuned:
            host = FIRST_PARTY_HOST.get(vendor)
        price = None
        if model is not None:
            price = self._deployment_price.get((host or "", model.id)) or model.price
        return Resolution(
            name=name,
            vendor=vendor,
            vendor_country=v.country if v else None,
            vendor_parent_country=v.parent_country if v else None,
            model=model.id if model else None,
            host=host,
            region=parsed.region,
            open_weights=model.open_weights if model else False,
            family=(model.family or None) if model else None,
            prices=price,
            context_window=(model.context_window or None) if model else None,
            fine_tuned=parsed.fine_tuned,
        )

    def _lookup(self, parsed: ParsedName) -> Model | None:
        """The first catalog model any lookup key names, preferring the named vendor."""
        vendor = keyword_vendor(parsed.core) or parsed.vendor_hint
        fallback: Model | None = None
        for key in parsed.keys:
            model_id = self._index.get(key)
            if model_id is None:
                continue
            model = self.models.get(model_id)
            if model is None:
                continue
            if vendor is None or model.vendor == vendor:
                return model
            fallback = fallback or model
        return fallback

    # ----------------------------------------------------------------- deployments
    def host_country(self, host: str) -> str:
        """Headquarters country of a host id or spelling ("" when unknown)."""
        hid = self.host_id(host)
        if hid == SELF_HOSTED:
            return self.org_country
        h = self.hosts.get(hid)
        return h.country if h else ""

    def host_id(self, host: str) -> str:
        """Canonical host id for a spelling like "bedrock" or "Vertex_AI"."""
        key = normalise(host)
        return HOST_PREFIXES.get(key, key) if key not in self.hosts else key

    def deployment_facts(
        self,
        deployment_id: str,
        host: str,
        upstream_model: str,
        region: str = "",
        self_hosted: bool = False,
        base_model: str | None = None,
        host_country: str | None = None,
    ) -> DeploymentFacts:
        """Provenance of one configured deployment, as the policy sees it.

        A declared `base_model` is authoritative (a self-hosted Qwen served as "coder" is
        still Qwen); otherwise the upstream model id is resolved. `host_country` (when non-empty)
        overrides the host table; self-hosted deployments default to the organisation's country.
        """
        # No fall back to the upstream name when the declared model is unknown: an operator's
        # name ("llama-server") would then decide who made it, and fail-closed rules about
        # unattributable models would let it pass.
        res = self.resolve(base_model) if base_model else self.resolve(upstream_model)
        hid = self.host_id(host) if host else (res.host or "")
        is_self = self_hosted or hid == SELF_HOSTED
        if host_country:  # "" (a config default) means "not given", not "no country"
            country = host_country.upper()
        elif is_self:
            country = self.org_country
        else:
            country = self.host_country(hid)
        return DeploymentFacts(
            deployment=deployment_id,
            vendor=res.vendor,
            vendor_country=res.vendor_country or "",
            model=res.model or "",
            open_weights=res.open_weights,
            host=hid,
            host_country=country,
            region=region or res.region,
            self_hosted=is_self,
        )

    def price(self, model: str, host: str | None = None) -> Price | None:
        """(input, output) USD per 1M tokens: the host's price when known, else the list price."""
        res = self.resolve(model)
        if res.model is None:
            return None
        if host:
            dep = self._deployment_price.get((self.host_id(host), res.model))
            if dep:
                return dep
        m = self.models.get(res.model)
        return m.price if m else None

    def list_models(self, vendor: str | None = None) -> list[Model]:
        """Catalog models, optionally of one vendor (any vendor spelling), sorted by id."""
        wanted = VENDOR_PREFIXES.get(vendor.lower(), vendor.lower()) if vendor else None
        return [m for k, m in sorted(self.models.items()) if wanted is None or m.vendor == wanted]

    def deployments_of(self, model_id: str) -> list[Deployment]:
        """Where a canonical model is offered."""
        return [d for d in self.deployments if d.model == model_id]


def _renamed(inner: Resolution, name: str, parsed: ParsedName) -> Resolution:
    """An alias resolution reported under the name the caller used."""
    return Resolution(
        name=name,
        vendor=inner.vendor,
        vendor_country=inner.vendor_country,
        vendor_parent_country=inner.vendor_parent_country,
        model=inner.model,
        host=parsed.host or inner.host,
        region=parsed.region or inner.region,
        open_weights=inner.open_weights,
        family=inner.family,
        prices=inner.prices,
        context_window=inner.context_window,
        fine_tuned=inner.fine_tuned or parsed.fine_tuned,
    )
