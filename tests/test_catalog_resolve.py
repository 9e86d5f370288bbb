"""Name resolution: every spelling a client, a host or a config uses lands on the right vendor."""

from __future__ import annotations

import pytest

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.resolve import fold, keyword_vendor, normalise, parse


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# (name, vendor, canonical model or None for "not asserted", host or None)
SPELLINGS = [
    # Anthropic on every host
    ("claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("claude-sonnet-4-5-20250929", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("anthropic/claude-sonnet-4.5", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("claude_sonnet_4_5", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("  CLAUDE-Sonnet-4-5  ", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("Claude Sonnet 4.5", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("\uff43laude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5", None),  # fullwidth c
    ("claude\u200b-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5", None),  # zero width
    (
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "aws-bedrock",
    ),
    (
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "aws-bedrock",
    ),
    (
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "aws-bedrock",
    ),
    (
        "apac.anthropic.claude-sonnet-4-20250514-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4",
        "aws-bedrock",
    ),
    (
        "global.anthropic.claude-opus-4-5-20251101-v1:0",
        "anthropic",
        "anthropic/claude-opus-4-5",
        "aws-bedrock",
    ),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic",
        "anthropic/claude-3-haiku",
        "aws-bedrock",
    ),
    (
        "bedrock/converse/us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "anthropic",
        "anthropic/claude-haiku-4-5",
        "aws-bedrock",
    ),
    (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "aws-bedrock",
    ),
    (
        "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "aws-bedrock",
    ),
    (
        "bedrock/arn:aws:bedrock:us-west-2:123456789012:inference-profile/"
        "global.anthropic.claude-opus-4-5-20251101-v1:0",
        "anthropic",
        "anthropic/claude-opus-4-5",
        "aws-bedrock",
    ),
    ("vertex_ai/claude-sonnet-4-5@20250929", "anthropic", "anthropic/claude-sonnet-4-5", None),
    ("claude-opus-4-1@20250805", "anthropic", "anthropic/claude-opus-4-1", "google-vertex"),
    (
        "projects/acme/locations/europe-west1/publishers/anthropic/models/claude-sonnet-4-5@20250929",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "google-vertex",
    ),
    (
        "openrouter/anthropic/claude-sonnet-4.5",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "openrouter",
    ),
    ("azure/claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5", "azure"),
    ("claude-3-5-haiku-latest", "anthropic", "anthropic/claude-3-5-haiku", None),
    # A release newer than the catalog is still attributed by its brand.
    ("claude-opus-9-20300101", "anthropic", None, None),
    ("bedrock/us.anthropic.claude-next-v1:0", "anthropic", None, "aws-bedrock"),
    ("my-team/sonnet-latest", "anthropic", None, None),
    # OpenAI
    ("gpt-4o", "openai", "openai/gpt-4o", None),
    ("gpt-4o-2024-08-06", "openai", "openai/gpt-4o", None),
    ("azure/gpt-4o", "openai", "openai/gpt-4o", "azure"),
    ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "openai", "openai/gpt-4o-mini", "openai"),
    ("ft:gpt-4o-2024-08-06:acme:support-bot:9xYz1", "openai", "openai/gpt-4o", "openai"),
    ("gpt-4.1", "openai", "openai/gpt-4.1", None),
    ("o3-mini", "openai", "openai/o3-mini", None),
    ("groq/openai/gpt-oss-120b", "openai", "openai/gpt-oss-120b", "groq"),
    ("openai.gpt-oss-120b-1:0", "openai", "openai/gpt-oss-120b", "aws-bedrock"),
    # A protocol prefix does not relabel the model: qwen behind an OpenAI-compatible prefix.
    ("openai/qwen-max", "alibaba", "alibaba/qwen-max", None),
    # Google
    ("gemini-2.5-pro", "google", "google/gemini-2.5-pro", None),
    ("vertex_ai/gemini-2.5-pro", "google", "google/gemini-2.5-pro", "google-vertex"),
    ("google/gemma-3-27b-it", "google", None, None),
    # Alibaba / Qwen
    ("qwen-max", "alibaba", "alibaba/qwen-max", None),
    ("dashscope/qwen-max", "alibaba", "alibaba/qwen-max", "dashscope"),
    ("Qwen/Qwen2.5-Coder-32B-Instruct", "alibaba", None, None),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "alibaba", None, None),
    ("qwen.qwen3-coder-30b-a3b-v1:0", "alibaba", None, "aws-bedrock"),
    ("openrouter/qwen/qwen3-coder", "alibaba", None, "openrouter"),
    ("together_ai/Qwen/Qwen2.5-7B-Instruct-Turbo", "alibaba", None, "together"),
    ("hosted_vllm/qwq-32b", "alibaba", None, "self-hosted"),
    # DeepSeek
    ("deepseek-chat", "deepseek", "deepseek/deepseek-chat", None),
    ("deepseek/deepseek-reasoner", "deepseek", "deepseek/deepseek-reasoner", None),
    ("deepseek-ai/DeepSeek-R1", "deepseek", "deepseek/deepseek-r1", None),
    ("us.deepseek.r1-v1:0", "deepseek", "deepseek/deepseek-r1", "aws-bedrock"),
    ("deepseek-r1-distill-llama-70b", "deepseek", None, None),
    ("azure_ai/DeepSeek-R1", "deepseek", "deepseek/deepseek-r1", "azure"),
    # Moonshot, Zhipu, MiniMax
    ("moonshotai/Kimi-K2-Instruct", "moonshot", None, None),
    ("kimi-k2-thinking", "moonshot", "moonshot/kimi-k2-thinking", None),
    ("zai-org/GLM-4.6", "zhipu", "zhipu/glm-4.6", None),
    ("THUDM/glm-4-9b-chat", "zhipu", None, None),
    ("glm-4.5-air", "zhipu", "zhipu/glm-4.5-air", None),
    ("MiniMax-M2", "minimax", "minimax/minimax-m2", None),
    ("MiniMaxAI/MiniMax-M1-80k", "minimax", None, None),
    # Meta, Mistral, xAI, Cohere, AI21, Microsoft, Amazon, NVIDIA, TII
    ("meta-llama/Llama-3.3-70B-Instruct", "meta", None, None),
    ("meta.llama3-1-70b-instruct-v1:0", "meta", None, "aws-bedrock"),
    ("groq/llama-3.3-70b-versatile", "meta", None, "groq"),
    ("mistral-large-latest", "mistral", None, None),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistral", None, None),
    ("ft:open-mistral-7b:587a6b29:20240514:7e773925", "mistral", None, "mistral"),
    ("grok-4", "xai", None, None),
    ("x-ai/grok-code-fast-1", "xai", None, None),
    ("command-r-plus-08-2024", "cohere", None, None),
    ("CohereForAI/aya-expanse-32b", "cohere", None, None),
    ("ai21/jamba-large-1.7", "ai21", None, None),
    ("microsoft/Phi-4-mini-instruct", "microsoft", None, None),
    ("amazon.nova-pro-v1:0", "amazon", None, "aws-bedrock"),
    ("nvidia/Llama-3.1-Nemotron-70B-Instruct", "nvidia", None, None),
    ("tiiuae/falcon-40b-instruct", "tii", None, None),
    # Other Chinese vendors
    ("ByteDance-Seed/Seed-OSS-36B-Instruct", "bytedance", None, None),
    ("doubao-seed-1.6", "bytedance", None, None),
    ("tencent/Hunyuan-A13B-Instruct", "tencent", None, None),
    ("ernie-4.5-300b-a47b", "baidu", None, None),
    ("stepfun-ai/step3", "stepfun", None, None),
    ("XiaomiMiMo/MiMo-7B-RL", "xiaomi", None, None),
    ("01-ai/Yi-34B-Chat", "01ai", None, None),
    # Router variants, local runtimes, API path prefixes
    ("deepseek/deepseek-r1:free", "deepseek", "deepseek/deepseek-r1", None),
    ("openrouter/deepseek/deepseek-r1:nitro", "deepseek", "deepseek/deepseek-r1", "openrouter"),
    ("ollama/qwen2.5-coder:32b", "alibaba", None, "self-hosted"),
    ("llama3.1:8b-instruct-q4_K_M", "meta", None, None),
    ("~anthropic/claude-sonnet-latest", "anthropic", None, None),
    ("models/gemini-2.5-pro", "google", "google/gemini-2.5-pro", None),
    ("azure/gpt-35-turbo", "openai", None, "azure"),
    # Nothing to go on: routers that pick a model themselves are unknown, never guessed
    ("openrouter/auto", "unknown", None, "openrouter"),
    ("totally-new-model", "unknown", None, None),
    ("", "unknown", None, None),
    ("azure/my-deployment-7", "unknown", None, "azure"),
]


@pytest.mark.parametrize(("name", "vendor", "model", "host"), SPELLINGS)
def test_spelling_resolves_to_vendor(
    catalog: Catalog, name: str, vendor: str, model: str | None, host: str | None
) -> None:
    r = catalog.resolve(name)
    assert r.vendor == vendor, r
    if model is not None:
        assert r.model == model, r
    if host is not None:
        assert r.host == host, r
    if vendor != "unknown":
        assert r.vendor_country == catalog.vendors[vendor].country


def test_unknown_has_nulls(catalog: Catalog) -> None:
    r = catalog.resolve("totally-new-model")
    assert r.summary() == {
        "name": "totally-new-model",
        "vendor": "unknown",
        "vendor_country": None,
        "model": None,
        "host": None,
    }
    assert r.prices is None


def test_known_model_carries_facts(catalog: Catalog) -> None:
    r = catalog.resolve("claude-sonnet-4-5")
    assert r.open_weights is False
    assert r.family == "claude-sonnet"
    assert r.context_window and r.context_window >= 200_000
    assert r.prices is not None and r.prices[1] > r.prices[0] > 0
    qwen = catalog.resolve("qwen3-coder-30b-a3b-instruct")
    assert qwen.vendor == "alibaba" and qwen.open_weights is True


def test_bedrock_arn_region_and_profile(catalog: Catalog) -> None:
    arn = catalog.resolve(
        "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/"
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    )
    assert arn.region == "eu-west-3"
    assert catalog.resolve("apac.anthropic.claude-sonnet-4-20250514-v1:0").region == "apac"


def test_opaque_application_profile_is_unknown_not_guessed(catalog: Catalog) -> None:
    # An application inference profile id says nothing about the model: the operator declares
    # base_model for it; we never guess a vendor.
    r = catalog.resolve(
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5"
    )
    assert r.vendor == "unknown"
    assert r.host == "aws-bedrock"


def test_leftmost_brand_wins_for_derived_models() -> None:
    assert keyword_vendor("deepseek-r1-distill-qwen-32b") == "deepseek"
    assert keyword_vendor("palmyra-x5") == "writer"
    assert keyword_vendor("gpt4o") == "openai"
    assert keyword_vendor("o1") == "openai"
    assert keyword_vendor("yoyo-helper") is None


def test_normalise_and_fold() -> None:
    assert normalise("  Claude  Sonnet\t4.5 ") == "claude-sonnet-4.5"
    assert fold("claude-sonnet-4.5") == fold("claude_sonnet_4_5") == fold("claude-sonnet-4-5")
    assert fold("llama3-1") == fold("llama-3.1")
    assert fold("gpt-4o") != fold("gpt-4")


def test_parse_fine_tune_marks_it() -> None:
    p = parse("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert p.fine_tuned and p.core == "gpt-4o-mini-2024-07-18"


def test_resolve_is_memoised_and_stable(catalog: Catalog) -> None:
    first = catalog.resolve("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert catalog.resolve("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0") is first


def test_oversized_names_are_unknown(catalog: Catalog) -> None:
    r = catalog.resolve("claude-" + "x" * 10_000)
    assert r.vendor == "unknown" and r.model is None
