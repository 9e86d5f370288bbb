"""Ready declarations of well-known providers, so config only needs `preset:` and a key.

Facts (base URLs, auth headers, who operates the host and where it is headquartered) come from
each provider's public API reference. Any field given in config overrides the preset.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "openai": {
        "kind": "openai",
        "base_url": "https://api.openai.com/v1",
        "host": "openai",
        "host_country": "US",
    },
    # Azure OpenAI v1 API: https://<resource>.openai.azure.com/openai/v1, key in `api-key`.
    "azure": {"kind": "openai", "auth_header": "api-key", "host": "azure", "host_country": "US"},
    "anthropic": {
        "kind": "anthropic",
        "base_url": "https://api.anthropic.com/v1",
        "host": "anthropic",
        "host_country": "US",
    },
    # Anthropic models on Amazon Bedrock (InvokeModel, Messages body). Needs `region:` (which
    # names the endpoint, bedrock-runtime.<region>.amazonaws.com, and the SigV4 scope) and
    # either aws_access_key_id + aws_secret_access_key or a Bedrock API key as `api_key`.
    "bedrock": {"kind": "bedrock", "host": "aws-bedrock", "host_country": "US"},
    # Anthropic models on Google Vertex AI (rawPredict). Needs `project:`, `region:` (e.g.
    # europe-west1, or global / eu / us) and a service-account key file or an access token.
    "vertex": {"kind": "vertex", "host": "google-vertex", "host_country": "US"},
    # Google's Gemini API, OpenAI-compatible endpoint (key from Google AI Studio).
    "gemini": {
        "kind": "openai",
        "base_url": "https://generativelanguage.googleapis.com/v1beta/openai",
        "host": "google",
        "host_country": "US",
    },
    # Alibaba Cloud Model Studio (DashScope), OpenAI-compatible mode.
    "dashscope-intl": {
        "kind": "openai",
        "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "host": "dashscope",
        "host_country": "CN",
        "region": "ap-southeast-1",
    },
    "dashscope": {
        "kind": "openai",
        "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "host": "dashscope",
        "host_country": "CN",
        "region": "cn-beijing",
    },
    "deepseek": {
        "kind": "openai",
        "base_url": "https://api.deepseek.com/v1",
        "host": "deepseek",
        "host_country": "CN",
    },
    "moonshot": {
        "kind": "openai",
        "base_url": "https://api.moonshot.ai/v1",
        "host": "moonshot",
        "host_country": "CN",
    },
    "moonshot-cn": {
        "kind": "openai",
        "base_url": "https://api.moonshot.cn/v1",
        "host": "moonshot",
        "host_country": "CN",
    },
    "zhipu": {
        "kind": "openai",
        "base_url": "https://open.bigmodel.cn/api/paas/v4",
        "host": "zhipu",
        "host_country": "CN",
    },
    "zhipu-intl": {
        "kind": "openai",
        "base_url": "https://api.z.ai/api/paas/v4",
        "host": "zhipu",
        "host_country": "CN",
    },
    "minimax": {
        "kind": "openai",
        "base_url": "https://api.minimax.io/v1",
        "host": "minimax",
        "host_country": "CN",
    },
    "minimax-cn": {
        "kind": "openai",
        "base_url": "https://api.minimaxi.com/v1",
        "host": "minimax",
        "host_country": "CN",
    },
    "mistral": {
        "kind": "openai",
        "base_url": "https://api.mistral.ai/v1",
        "host": "mistral",
        "host_country": "FR",
    },
    "groq": {
        "kind": "openai",
        "base_url": "https://api.groq.com/openai/v1",
        "host": "groq",
        "host_country": "US",
    },
    "openrouter": {
        "kind": "openai",
        "base_url": "https://openrouter.ai/api/v1",
        "host": "openrouter",
        "host_country": "US",
    },
    # Self-hosted OpenAI-compatible servers: override base_url with where yours listens.
    "vllm": {
        "kind": "openai",
        "base_url": "http://127.0.0.1:8000/v1",
        "host": "self-hosted",
        "self_hosted": True,
    },
    "ollama": {
        "kind": "openai",
        "base_url": "http://127.0.0.1:11434/v1",
        "host": "self-hosted",
        "self_hosted": True,
    },
    "llamacpp": {
        "kind": "openai",
        "base_url": "http://127.0.0.1:8080/v1",
        "host": "self-hosted",
        "self_hosted": True,
    },
}


def apply_preset(entry: dict[str, Any]) -> dict[str, Any]:
    """Merge a provider entry over its preset; unknown presets raise ValueError."""
    name = entry.get("preset")
    if name is None:
        return entry
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    merged = {**PRESETS[name], **entry}
    merged.pop("preset")
    return merged
