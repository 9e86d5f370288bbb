"""Pure name parsing: whatever a client or a config calls a model -> the parts that identify it.

Resolution must not be evadable by spelling: Claude on Bedrock, Vertex or OpenRouter is still
Claude. So a name is first normalised (Unicode NFKC, invisible characters dropped, case folded,
spaces collapsed), then host wrappers are peeled off (LiteLLM-style `bedrock/`, ARNs, Bedrock
inference-profile prefixes `us.`/`eu.`/`apac.`/`global.`, Vertex `@date`, fine-tune `ft:`), and
finally a list of lookup keys is produced from the most to the least specific (date, version and
`-latest` suffixes stripped). The catalog looks the keys up; when none matches, the vendor is
still recognised from the model's brand tokens ("claude", "qwen", ...) or the organisation
prefix, so an unreleased model of a banned vendor is not "unknown".

Nothing here does I/O; `Catalog` owns the data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bordergate.catalog.hosts import HOST_PREFIXES
from bordergate.catalog.vendors import MODEL_KEYWORDS, VENDOR_PREFIXES

# Bedrock cross-region inference profiles put a geography in front of the model id.
_BEDROCK_PROFILE = re.compile(r"^(us|us-gov|eu|apac|ap|jp|au|ca|global)\.(?=[a-z0-9-]+\.)")
_BEDROCK_VENDOR = re.compile(r"^([a-z0-9-]+)\.(.+)$")
_BEDROCK_VERSION = re.compile(r"(-v?\d+)?(:\d+)+$")
# OpenRouter variants (":free", ":nitro", ...) and Ollama-style tags (":32b", ":8b-q4_k_m").
_VARIANT_SUFFIX = re.compile(r":(free|nitro|floor|online|thinking|extended|beta|exacto)$")
_TAG_SUFFIX = re.compile(r":[a-z0-9._-]+$")
_VERSION_SUFFIX = re.compile(r"-v\d+$")
_DATE_SUFFIX = re.compile(r"-(20\d{6}|20\d{2}-\d{2}-\d{2})$")
_TAIL_WORDS = ("-latest", "-default", "-instruct")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_WS = re.compile(r"\s+")
_NOISE_SEGMENTS = frozenset(
    {"converse", "invoke", "accounts", "models", "model", "publishers", "projects", "locations"}
)
_FOLD = re.compile(r"[._\s]+")
_ALNUM_EDGE = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_TOKEN = re.compile(r"[a-z]+\d*|\d+")


@dataclass(frozen=True, slots=True)
class ParsedName:
    """A model name taken apart. `keys` are folded lookup keys, most specific first."""

    raw: str
    clean: str
    core: str
    keys: tuple[str, ...]
    host: str | None
    vendor_hint: str | None
    region: str
    fine_tuned: bool


def normalise(name: str) -> str:
    """Case-, width- and whitespace-insensitive form of a name (quotes and invisibles dropped)."""
    text = unicodedata.normalize("NFKC", name).translate(_INVISIBLE)
    text = text.strip().strip("\"'`").strip().lstrip("~").lower()
    return _WS.sub("-", text)


def fold(text: str) -> str:
    """Lookup key: `claude-sonnet-4.5`, `claude_sonnet_4_5` and `claude-sonnet-4-5` are equal,
    and so are `llama3-1` and `llama-3.1` (letters and digits are split apart)."""
    text = _FOLD.sub("-", text.lower())
    return _ALNUM_EDGE.sub("-", text).strip("-")


def _parse_arn(text: str) -> tuple[str, str]:
    """`arn:aws:bedrock:REGION:ACCOUNT:TYPE/ID` -> (ID, REGION)."""
    parts = text.split(":", 5)
    if len(parts) < 6:
        return text, ""
    resource = parts[5]
    model_id = resource.split("/", 1)[1] if "/" in resource else resource
    return model_id, parts[3]


def parse(name: str) -> ParsedName:
    """Take a model name apart into host, vendor hint, region and lookup keys."""
    clean = normalise(name)
    text = clean
    host: str | None = None
    vendor_hint: str | None = None
    region = ""
    fine_tuned = False

    segments = [s for s in text.split("/") if s]
    # A leading segment naming only a host (not also a vendor) is a routing prefix.
    if len(segments) > 1 and segments[0] in HOST_PREFIXES and segments[0] not in VENDOR_PREFIXES:
        host = HOST_PREFIXES[segments[0]]
        segments = segments[1:]
    # Vertex resource paths: projects/P/locations/L/publishers/V/models/M
    for i, seg in enumerate(segments[:-1]):
        if seg == "locations":
            region = segments[i + 1]
            host = host or "google-vertex"
        if seg == "publishers" and segments[i + 1] in VENDOR_PREFIXES:
            vendor_hint = VENDOR_PREFIXES[segments[i + 1]]
    for seg in segments[:-1]:
        if seg in VENDOR_PREFIXES and vendor_hint is None:
            vendor_hint = VENDOR_PREFIXES[seg]
        elif seg in HOST_PREFIXES and host is None and seg not in _NOISE_SEGMENTS:
            host = HOST_PREFIXES[seg]
    core = segments[-1] if segments else text
    if core.startswith("arn:") or text.startswith("arn:"):
        arn = core if core.startswith("arn:") else text
        core, arn_region = _parse_arn(arn)
        core = core.rsplit("/", 1)[-1]
        region = region or arn_region
        host = host or "aws-bedrock"

    if core.startswith("ft:"):
        # OpenAI/Mistral fine-tunes: ft:BASE:ORG:SUFFIX:ID
        core = core[3:].split(":", 1)[0]
        fine_tuned = True

    if "@" in core:
        core = core.split("@", 1)[0]
        host = host or "google-vertex"

    extra: list[str] = []
    profile = _BEDROCK_PROFILE.match(core)
    if profile:
        region = region or profile.group(1)
        core = core[profile.end() :]
        host = host or "aws-bedrock"
    dotted = _BEDROCK_VENDOR.match(core)
    if dotted and dotted.group(1) in VENDOR_PREFIXES:
        vendor_hint = vendor_hint or VENDOR_PREFIXES[dotted.group(1)]
        core = dotted.group(2)
        extra.append(f"{dotted.group(1)}-{core}")
        if host is None and (profile or _BEDROCK_VERSION.search(core) or "." not in core):
            host = "aws-bedrock"
    if _BEDROCK_VERSION.search(core):
        core = _BEDROCK_VERSION.sub("", core)
    core = _VARIANT_SUFFIX.sub("", core)
    if ":" in core:
        extra.append(_TAG_SUFFIX.sub("", core))

    return ParsedName(
        raw=name,
        clean=clean,
        core=core,
        keys=_keys(core, extra, clean),
        host=host,
        vendor_hint=vendor_hint,
        region=region,
        fine_tuned=fine_tuned,
    )


def _keys(core: str, extra: list[str], clean: str) -> tuple[str, ...]:
    """Lookup keys from the most to the least specific, without duplicates."""
    out: list[str] = [fold(clean), fold(core)]
    for base in [core, *extra]:
        out.extend(
            (fold(base), fold(strip_suffixes(base)), fold(strip_suffixes(base, _TAIL_WORDS)))
        )
    seen: dict[str, None] = {}
    for key in out:
        if key:
            seen.setdefault(key, None)
    return tuple(seen)


def keyword_vendor(core: str) -> str | None:
    """Vendor named by the leftmost brand token of a model name, if any."""
    for token in _TOKEN.findall(core.lower()):
        for prefix, vendor in MODEL_KEYWORDS:
            if prefix.endswith("$"):
                if token == prefix[:-1]:
                    return vendor
            elif token.startswith(prefix):
                return vendor
    return None


def strip_suffixes(
    core: str, words: tuple[str, ...] = ("-latest", "-default"), versions: bool = True
) -> str:
    """`core` without date, `-vN` and the given trailing words (repeated until stable)."""
    variant = core
    for _ in range(3):
        for word in words:
            variant = variant.removesuffix(word)
        variant = _DATE_SUFFIX.sub("", variant)
        if versions:
            variant = _VERSION_SUFFIX.sub("", variant)
    return variant


def canonical_name(core: str) -> str:
    """Model part of a canonical id: dated snapshots fold into the undated model."""
    return strip_suffixes(core, versions=False)
