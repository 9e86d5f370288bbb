"""Who trains the models: the vendor table, written by hand (models.dev has no ownership data).

`country` is the ISO 3166-1 alpha-2 code of the vendor's headquarters; `parent_country` is set
only when a controlling parent sits in a different country, because several real rules
("adversary AI" bills, vendors' customer terms) look through a subsidiary to its owner.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vendor:
    """One organisation that trains models."""

    id: str
    name: str
    country: str
    parent_country: str | None = None


def _table(*vendors: Vendor) -> dict[str, Vendor]:
    return {v.id: v for v in vendors}


VENDORS: dict[str, Vendor] = _table(
    Vendor("anthropic", "Anthropic PBC", "US"),
    Vendor("openai", "OpenAI Group PBC", "US"),
    Vendor("google", "Google LLC (Alphabet Inc.)", "US"),
    Vendor("meta", "Meta Platforms, Inc.", "US"),
    Vendor("microsoft", "Microsoft Corporation", "US"),
    Vendor("amazon", "Amazon.com, Inc.", "US"),
    Vendor("xai", "X.AI Corp.", "US"),
    Vendor("nvidia", "NVIDIA Corporation", "US"),
    Vendor("ibm", "International Business Machines Corporation", "US"),
    Vendor("perplexity", "Perplexity AI, Inc.", "US"),
    Vendor("allenai", "Allen Institute for AI", "US"),
    Vendor("liquid", "Liquid AI, Inc.", "US"),
    Vendor("writer", "Writer, Inc.", "US"),
    Vendor("mistral", "Mistral AI SAS", "FR"),
    Vendor("cohere", "Cohere Inc.", "CA"),
    Vendor("ai21", "AI21 Labs Ltd.", "IL"),
    Vendor("tii", "Technology Innovation Institute", "AE"),
    Vendor("sakana", "Sakana AI K.K.", "JP"),
    Vendor("sarvam", "Sarvam AI", "IN"),
    Vendor("upstage", "Upstage AI Inc.", "KR"),
    Vendor("alibaba", "Alibaba Group Holding Limited (Alibaba Cloud, Qwen)", "CN"),
    Vendor("deepseek", "Hangzhou DeepSeek Artificial Intelligence Co., Ltd.", "CN"),
    Vendor("moonshot", "Beijing Moonshot AI Technology Co., Ltd.", "CN"),
    Vendor("zhipu", "Beijing Zhipu Huazhang Technology Co., Ltd. (Z.ai)", "CN"),
    Vendor("minimax", "MiniMax (Shanghai Xiyu Jizhi Technology Co., Ltd.)", "CN"),
    Vendor("bytedance", "ByteDance Ltd.", "CN"),
    Vendor("tencent", "Tencent Holdings Limited", "CN"),
    Vendor("baidu", "Baidu, Inc.", "CN"),
    Vendor("stepfun", "Shanghai StepFun Technology Co., Ltd.", "CN"),
    Vendor("xiaomi", "Xiaomi Corporation", "CN"),
    Vendor("01ai", "01.AI (Beijing Lingyi Wanwu Technology Co., Ltd.)", "CN"),
    Vendor("baichuan", "Baichuan Intelligent Technology", "CN"),
)

# Organisation names as they appear in ids: Hugging Face orgs, OpenRouter / LiteLLM prefixes,
# Bedrock's "vendor." prefix, models.dev creator keys. Keys are lower case.
VENDOR_PREFIXES: dict[str, str] = {
    **{v: v for v in VENDORS},
    "meta-llama": "meta",
    "facebook": "meta",
    "mistralai": "mistral",
    "x-ai": "xai",
    "grok": "xai",
    "qwen": "alibaba",
    "alibaba-nlp": "alibaba",
    "deepseek-ai": "deepseek",
    "moonshotai": "moonshot",
    "moonshot-ai": "moonshot",
    "kimi": "moonshot",
    "z-ai": "zhipu",
    "zai": "zhipu",
    "zai-org": "zhipu",
    "zhipuai": "zhipu",
    "thudm": "zhipu",
    "minimaxai": "minimax",
    "bytedance-seed": "bytedance",
    "bytedance-research": "bytedance",
    "tencent-hunyuan": "tencent",
    "baidu-ernie": "baidu",
    "paddlepaddle": "baidu",
    "stepfun-ai": "stepfun",
    "xiaomimimo": "xiaomi",
    "01-ai": "01ai",
    "tiiuae": "tii",
    "cohereforai": "cohere",
    "coherelabs": "cohere",
    "ai21labs": "ai21",
    "ibm-granite": "ibm",
    "nvidia-nim": "nvidia",
    "liquidai": "liquid",
    "sakanaai": "sakana",
    "sarvamai": "sarvam",
    "upstage-ai": "upstage",
    "baichuan-inc": "baichuan",
    "microsoft-phi": "microsoft",
    "gemini": "google",
    "palmyra": "writer",
}

# Model-name tokens that identify the vendor even when the exact model is not in the catalog
# (a brand-new release, a custom deployment name). Matching is on tokens of the name, so
# "claude" in "us-claude-next" counts but not inside an unrelated word.
# (token prefix, vendor); a prefix ending in "$" must match the whole token.
MODEL_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("claude", "anthropic"),
    ("sonnet", "anthropic"),
    ("opus", "anthropic"),
    ("haiku", "anthropic"),
    ("gpt", "openai"),
    ("chatgpt", "openai"),
    ("o1$", "openai"),
    ("o3$", "openai"),
    ("o4$", "openai"),
    ("codex", "openai"),
    ("davinci", "openai"),
    ("babbage", "openai"),
    ("whisper", "openai"),
    ("dall", "openai"),
    ("gemini", "google"),
    ("gemma", "google"),
    ("palmyra", "writer"),
    ("palm", "google"),
    ("llama", "meta"),
    ("phi", "microsoft"),
    ("nova$", "amazon"),
    ("titan", "amazon"),
    ("grok", "xai"),
    ("nemotron", "nvidia"),
    ("granite", "ibm"),
    ("sonar", "perplexity"),
    ("olmo", "allenai"),
    ("lfm", "liquid"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("codestral", "mistral"),
    ("devstral", "mistral"),
    ("magistral", "mistral"),
    ("ministral", "mistral"),
    ("pixtral", "mistral"),
    ("voxtral", "mistral"),
    ("command", "cohere"),
    ("aya", "cohere"),
    ("c4ai", "cohere"),
    ("jamba", "ai21"),
    ("falcon", "tii"),
    ("fugu", "sakana"),
    ("sarvam", "sarvam"),
    ("solar", "upstage"),
    ("qwen", "alibaba"),
    ("qwq", "alibaba"),
    ("qvq", "alibaba"),
    ("deepseek", "deepseek"),
    ("kimi", "moonshot"),
    ("moonshot", "moonshot"),
    ("glm", "zhipu"),
    ("chatglm", "zhipu"),
    ("codegeex", "zhipu"),
    ("minimax", "minimax"),
    ("abab", "minimax"),
    ("doubao", "bytedance"),
    ("seed$", "bytedance"),
    ("hunyuan", "tencent"),
    ("ernie", "baidu"),
    ("step$", "stepfun"),
    ("mimo", "xiaomi"),
    ("yi$", "01ai"),
    ("baichuan", "baichuan"),
)
