"""Catalog data, operator overrides, deployment facts and prices."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.config import CatalogConfig
from bordergate.catalog.hosts import HOSTS
from bordergate.catalog.vendors import VENDORS

REQUIRED_VENDORS = {
    "anthropic": "US", "openai": "US", "google": "US", "meta": "US", "microsoft": "US",
    "amazon": "US", "xai": "US", "mistral": "FR", "cohere": "CA", "ai21": "IL",
    "alibaba": "CN", "deepseek": "CN", "moonshot": "CN", "zhipu": "CN", "minimax": "CN",
    "bytedance": "CN", "tencent": "CN", "baidu": "CN", "stepfun": "CN", "xiaomi": "CN",
    "01ai": "CN", "nvidia": "US", "tii": "AE",
}  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_vendor_table_covers_the_issue() -> None:
    for vendor, country in REQUIRED_VENDORS.items():
        assert VENDORS[vendor].country == country
        assert VENDORS[vendor].name


def test_host_table_countries() -> None:
    expected = {
        "anthropic": "US", "openai": "US", "azure": "US", "aws-bedrock": "US",
        "google-vertex": "US", "dashscope": "CN", "deepseek": "CN", "moonshot": "CN",
        "zhipu": "CN", "minimax": "CN", "mistral": "FR", "groq": "US", "openrouter": "US",
    }  # fmt: skip
    assert {h: HOSTS[h].country for h in expected} == expected


def test_shipped_data_is_attributed_and_consistent(catalog: Catalog) -> None:
    data_dir = resources.files("bordergate.catalog").joinpath("data")
    assert "MIT License" in data_dir.joinpath("LICENSE.models-dev").read_text()
    doc = json.loads(data_dir.joinpath("catalog.json").read_text())
    assert "models.dev" in doc["source"]
    assert "MIT License" in doc["license_text"]
    assert len(catalog.models) > 300 and len(catalog.deployments) > 500
    for model_id, model in catalog.models.items():
        assert model_id.count("/") == 1
        assert model.vendor in catalog.vendors, model_id
    for dep in catalog.deployments:
        assert dep.model in catalog.models
        assert dep.host in catalog.hosts


def test_every_shipped_upstream_resolves_to_its_own_vendor(catalog: Catalog) -> None:
    # The run-time resolver must agree with the build-time attribution for every deployment.
    wrong = [
        (d.upstream, d.model, catalog.resolve(d.upstream).vendor)
        for d in catalog.deployments
        if catalog.resolve(d.upstream).vendor != catalog.models[d.model].vendor
    ]
    assert wrong == []


def test_deployment_facts_for_a_hosted_model(catalog: Catalog) -> None:
    facts = catalog.deployment_facts(
        "claude-eu", "bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1"
    )
    assert facts.deployment == "claude-eu"
    assert (facts.vendor, facts.vendor_country) == ("anthropic", "US")
    assert facts.model == "anthropic/claude-sonnet-4-5"
    assert (facts.host, facts.host_country, facts.region) == ("aws-bedrock", "US", "eu-central-1")
    assert facts.self_hosted is False and facts.open_weights is False


def test_dashscope_international_is_still_cn_hosted(catalog: Catalog) -> None:
    facts = catalog.deployment_facts("qwen", "dashscope", "qwen-max", "ap-southeast-1")
    assert facts.host_country == "CN" and facts.vendor_country == "CN"


def test_self_hosted_base_model_inherits_vendor_and_org_country() -> None:
    catalog = Catalog.load(CatalogConfig(org_country="de"))
    facts = catalog.deployment_facts(
        "coder",
        "self-hosted",
        "coder",
        self_hosted=True,
        base_model="alibaba/qwen3-coder-30b-a3b",
    )
    assert (facts.vendor, facts.vendor_country) == ("alibaba", "CN")
    assert facts.open_weights is True
    assert facts.self_hosted is True and facts.host_country == "DE"
    assert facts.host == "self-hosted"
    # The served name alone would be unknown: base_model is what carries provenance.
    assert catalog.resolve("coder").vendor == "unknown"


def test_a_declared_base_model_the_catalog_does_not_know_stays_unknown(catalog: Catalog) -> None:
    """The declaration is authoritative: an unknown one is not replaced by a guess from the
    served name ("llama-server" would read as Meta), so rules about unattributable models
    hold."""
    facts = catalog.deployment_facts(
        "v", "self-hosted", "llama-server", self_hosted=True, base_model="openbmb/MiniCPM-V-4"
    )
    assert facts.vendor == "unknown"
    assert catalog.deployment_facts("w", "self-hosted", "llama-server").vendor == "meta"


def test_host_country_override_and_unknown_host(catalog: Catalog) -> None:
    facts = catalog.deployment_facts("x", "ionos", "llama-3.3-70b-instruct", host_country="de")
    assert facts.host_country == "DE" and facts.vendor == "meta"
    unknown = catalog.deployment_facts("y", "some-cloud", "llama-3.3-70b-instruct")
    assert unknown.host_country == ""
    # An empty override (a config default) keeps the host table's country.
    assert (
        catalog.deployment_facts("z", "dashscope", "qwen-max", host_country="").host_country == "CN"
    )


def test_unknown_model_facts_use_empty_strings(catalog: Catalog) -> None:
    facts = catalog.deployment_facts("z", "openai", "mystery-2")
    assert facts.vendor == "unknown" and facts.vendor_country == "" and facts.model == ""


def test_operator_extends_vendors_models_and_aliases() -> None:
    config = CatalogConfig.model_validate(
        {
            "vendors": [{"id": "acme-ai", "name": "Acme AI", "country": "gb"}],
            "hosts": [{"id": "acme-cloud", "country": "GB"}],
            "models": [
                {
                    "id": "acme-ai/acme-coder-2",
                    "open_weights": True,
                    "input_price": 1.0,
                    "output_price": 2.0,
                    "aliases": ["coder-internal"],
                }
            ],
            "aliases": {"house-model": "claude-sonnet-4-5", "Team Special": "qwen-max"},
        }
    )
    catalog = Catalog.load(config)
    r = catalog.resolve("acme-ai/acme-coder-2")
    assert (r.vendor, r.vendor_country, r.model) == ("acme-ai", "GB", "acme-ai/acme-coder-2")
    assert catalog.resolve("Coder-Internal").model == "acme-ai/acme-coder-2"
    assert catalog.resolve("house-model").vendor == "anthropic"
    assert catalog.resolve("team special").vendor == "alibaba"
    assert catalog.price("acme-coder-2") == (1.0, 2.0)
    assert catalog.host_country("acme-cloud") == "GB"
    # The shipped catalog is not mutated by one instance's config.
    assert Catalog.load().resolve("house-model").vendor == "unknown"


def test_operator_overrides_a_vendor_country() -> None:
    config = CatalogConfig(vendors=[{"id": "mistral", "country": "US"}])  # type: ignore[list-item]
    assert Catalog.load(config).resolve("mistral-large-latest").vendor_country == "US"


def test_config_rejects_typos_and_bad_countries() -> None:
    with pytest.raises(ValidationError):
        CatalogConfig.model_validate({"venders": []})
    with pytest.raises(ValidationError):
        CatalogConfig.model_validate({"vendors": [{"id": "x", "country": "USA"}]})
    with pytest.raises(ValidationError):
        CatalogConfig.model_validate({"models": [{"id": "no-vendor-part"}]})


def test_from_gateway_config_reads_only_catalog_key() -> None:
    doc = {"server": {"port": 1}, "catalog": {"org_country": "FR"}}
    assert CatalogConfig.from_gateway_config(doc).org_country == "FR"
    assert CatalogConfig.from_gateway_config({"server": {}}) == CatalogConfig()
    assert CatalogConfig.from_gateway_config(None) == CatalogConfig()


def test_prices(catalog: Catalog) -> None:
    listed = catalog.price("claude-sonnet-4-5")
    assert listed is not None and listed[0] < listed[1]
    assert catalog.price("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0") == listed
    assert catalog.price("totally-unknown") is None
    via_host = catalog.price("gpt-4o", host="azure")
    assert via_host is not None


def test_list_models_by_vendor_alias(catalog: Catalog) -> None:
    qwen = catalog.list_models("qwen")
    assert qwen and {m.vendor for m in qwen} == {"alibaba"}
    assert catalog.list_models("alibaba") == qwen


def test_build_script_reproduces_shipped_data(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    source = root.parent.parent / "shared" / "data" / "models-dev" / "catalog.json"
    if not source.exists():
        source = Path("/work/shared/data/models-dev/catalog.json")
    if not source.exists():
        pytest.skip("models.dev snapshot not available")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_catalog", root / "scripts/build_catalog.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "catalog.json"
    assert module.main(["build", str(source), str(out)]) == 0
    shipped = resources.files("bordergate.catalog").joinpath("data/catalog.json").read_text()
    assert json.loads(out.read_text()) == json.loads(shipped)


def test_an_unknown_base_model_keeps_the_price_of_what_is_served(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """Its vendor stays unknown, but budgets still charge it: a fine-tune served as gpt-4o is
    priced like gpt-4o rather than free."""
    from bordergate.config import parse_config
    from bordergate.upstream.deployments import build_deployments

    config = parse_config(
        "providers:\n  openai: {preset: openai, api_key: sk-x}\n"
        "models:\n  support: [{provider: openai, model: gpt-4o, base_model: contoso/support-ft}]\n"
    )
    (dep,) = build_deployments(config, catalog)["support"]
    assert dep.facts is not None and dep.facts.vendor == "unknown"
    assert dep.price is not None and dep.price == catalog.price("gpt-4o", "openai")
    assert "base_model 'contoso/support-ft' is not in the catalog" in caplog.text
