"""Where models run: the host table (host id -> headquarters country) and host spellings.

The host's *headquarters* country is what ownership rules look at; `region` (where the
servers are) is a separate deployment fact. DashScope's international endpoint
(dashscope-intl, Singapore) is still operated by Alibaba Cloud, so its host country is CN
with region "ap-southeast-1": a rule about who controls the host sees CN, a rule about data
residency can look at the region. Z.ai (Zhipu's international brand) and MiniMax's
minimax.io follow the same reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass

SELF_HOSTED = "self-hosted"


@dataclass(frozen=True, slots=True)
class Host:
    """One organisation that serves models behind an API."""

    id: str
    name: str
    country: str


def _table(*hosts: Host) -> dict[str, Host]:
    return {h.id: h for h in hosts}


HOSTS: dict[str, Host] = _table(
    Host("anthropic", "Anthropic", "US"),
    Host("openai", "OpenAI", "US"),
    Host("azure", "Microsoft Azure", "US"),
    Host("aws-bedrock", "Amazon Bedrock", "US"),
    Host("google-vertex", "Google Cloud Vertex AI", "US"),
    Host("google", "Google Gemini API", "US"),
    Host("xai", "xAI", "US"),
    Host("groq", "Groq", "US"),
    Host("openrouter", "OpenRouter", "US"),
    Host("together", "Together AI", "US"),
    Host("fireworks", "Fireworks AI", "US"),
    Host("deepinfra", "DeepInfra", "US"),
    Host("cerebras", "Cerebras", "US"),
    Host("huggingface", "Hugging Face", "US"),
    Host("nvidia", "NVIDIA NIM", "US"),
    Host("perplexity", "Perplexity", "US"),
    Host("mistral", "Mistral AI", "FR"),
    Host("scaleway", "Scaleway", "FR"),
    Host("ovhcloud", "OVHcloud", "FR"),
    Host("nebius", "Nebius", "NL"),
    Host("cohere", "Cohere", "CA"),
    Host("dashscope", "Alibaba Cloud Model Studio (DashScope)", "CN"),
    Host("deepseek", "DeepSeek", "CN"),
    Host("moonshot", "Moonshot AI", "CN"),
    Host("zhipu", "Zhipu AI / Z.ai", "CN"),
    Host("minimax", "MiniMax", "CN"),
    Host("siliconflow", "SiliconFlow", "CN"),
    Host("stepfun", "StepFun", "CN"),
    Host("xiaomi", "Xiaomi MiMo", "CN"),
)

# models.dev provider key -> (host id, region). Hosts not listed are not imported: we only
# ship deployments whose operator we can name and place.
MODELS_DEV_HOSTS: dict[str, tuple[str, str]] = {
    "anthropic": ("anthropic", ""),
    "openai": ("openai", ""),
    "azure": ("azure", ""),
    "amazon-bedrock": ("aws-bedrock", ""),
    "google-vertex": ("google-vertex", ""),
    "google-vertex-anthropic": ("google-vertex", ""),
    "google": ("google", ""),
    "xai": ("xai", ""),
    "groq": ("groq", ""),
    "openrouter": ("openrouter", ""),
    "togetherai": ("together", ""),
    "fireworks-ai": ("fireworks", ""),
    "deepinfra": ("deepinfra", ""),
    "cerebras": ("cerebras", ""),
    "huggingface": ("huggingface", ""),
    "nvidia": ("nvidia", ""),
    "perplexity": ("perplexity", ""),
    "mistral": ("mistral", ""),
    "scaleway": ("scaleway", "fr-par"),
    "ovhcloud": ("ovhcloud", ""),
    "nebius": ("nebius", ""),
    "cohere": ("cohere", ""),
    "alibaba": ("dashscope", "ap-southeast-1"),
    "alibaba-cn": ("dashscope", "cn-beijing"),
    "deepseek": ("deepseek", ""),
    "moonshotai": ("moonshot", ""),
    "moonshotai-cn": ("moonshot", "cn"),
    "zhipuai": ("zhipu", "cn"),
    "zai": ("zhipu", ""),
    "minimax": ("minimax", ""),
    "minimax-cn": ("minimax", "cn"),
    "siliconflow": ("siliconflow", ""),
    "siliconflow-cn": ("siliconflow", "cn"),
    "stepfun": ("stepfun", ""),
    "xiaomi": ("xiaomi", ""),
}

# First path segment of a model name that names the host (LiteLLM-style "bedrock/...",
# "vertex_ai/...", "openrouter/..."). Keys are lower case.
HOST_PREFIXES: dict[str, str] = {
    **{h: h for h in HOSTS},
    "bedrock": "aws-bedrock",
    "bedrock_converse": "aws-bedrock",
    "amazon-bedrock": "aws-bedrock",
    "vertex_ai": "google-vertex",
    "vertex_ai_beta": "google-vertex",
    "vertex": "google-vertex",
    "google-vertex": "google-vertex",
    "gemini": "google",
    "azure_ai": "azure",
    "azure-openai": "azure",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
    "fireworks-ai": "fireworks",
    "dashscope": "dashscope",
    "alibaba": "dashscope",
    "moonshotai": "moonshot",
    "zhipuai": "zhipu",
    "zai": "zhipu",
    "nvidia_nim": "nvidia",
    "xai": "xai",
    "x-ai": "xai",
    "self-hosted": SELF_HOSTED,
    "hosted_vllm": SELF_HOSTED,
    "ollama": SELF_HOSTED,
    "ollama_chat": SELF_HOSTED,
    "vllm": SELF_HOSTED,
}

# The vendor's own API, used as the host of a name that carries no host at all.
FIRST_PARTY_HOST: dict[str, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "google": "google",
    "xai": "xai",
    "mistral": "mistral",
    "cohere": "cohere",
    "alibaba": "dashscope",
    "deepseek": "deepseek",
    "moonshot": "moonshot",
    "zhipu": "zhipu",
    "minimax": "minimax",
    "perplexity": "perplexity",
    "stepfun": "stepfun",
    "xiaomi": "xiaomi",
}
