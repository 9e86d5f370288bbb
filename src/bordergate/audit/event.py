"""The audit event: one per request, whatever its outcome, and its canonical JSON form.

The canonical form is what gets hashed, so it must be reproducible byte for byte by anyone,
in any language, from the stored JSON alone:

- a JSON object, keys sorted by Unicode code point, no insignificant whitespace
  (separators `,` and `:`), encoded as UTF-8 with non-ASCII characters written literally;
- integers as JSON integers (within signed 64-bit); no floating-point numbers anywhere
  (they do not round-trip the same in every language). Fractional quantities are decimal
  strings with a fixed number of fractional digits: `cost_usd` has 9 (nano-dollars,
  e.g. "0.000150000"), `latency_ms` has 3;
- absent values are JSON `null` and every field is always present;
- strings escape only `"`, `\\` and the control characters U+0000-U+001F (as `\\n`, `\\r`,
  `\\t`, `\\b`, `\\f`, else `\\u00xx` in lower-case hex) — what Python's
  `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` produces;
- `time` is RFC 3339 in UTC with exactly six fractional digits and a `Z`
  (`2026-11-24T04:20:25.123456Z`), so times also sort as strings.

Findings carry the data class, the detector rule and a count — never the matched value.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson

EVENT_VERSION = 1
COST_QUANTUM = Decimal("0.000000001")
LATENCY_QUANTUM = Decimal("0.001")

# Outcomes named by `error_kind`; the server may add more, these are the documented ones.
ERROR_KINDS = (
    "served",
    "policy_denied",
    "data_policy_denied",
    "rate_limited",
    "budget_exceeded",
    "upstream_error",
    "upstream_timeout",
    "upstream_unavailable",
    "client_gone",
    "bad_request",
    "auth_failed",
    "internal_error",
)
DECISIONS = ("allow", "redact", "deny", "error")


_CANONICAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and `Z`: one spelling, so strings compare as times."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 time; naive input is taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_second_cache: tuple[int, str] = (-1, "")  # (whole second, its formatted prefix)


def now_time() -> str:
    """The current time in the canonical spelling (cheap: called once per request).

    `strftime` costs several microseconds, so the "YYYY-MM-DDTHH:MM:SS" prefix is formatted
    once per second and reused; the pair is replaced as one tuple, so threads never mix a
    second with another second's prefix.
    """
    global _second_cache
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    cached_second, prefix = _second_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, prefix)
    return f"{prefix}.{nanos // 1000:06d}Z"


def _decimal_text(value: Decimal | float | int | str, quantum: Decimal) -> str:
    """Fixed-point text with exactly the quantum's number of fractional digits."""
    if type(value) is str and _FIXED_POINT[quantum].fullmatch(value):
        return value  # already canonical (events read back, the defaults): nothing to do
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return format(number.quantize(quantum, rounding=ROUND_HALF_EVEN), "f")  # never "0E-9"


_FIXED_POINT = {
    COST_QUANTUM: re.compile(r"-?\d+\.\d{9}"),
    LATENCY_QUANTUM: re.compile(r"-?\d+\.\d{3}"),
}


def to_nanousd(cost_usd: float) -> int:
    """A cost in whole nano-dollars, rounded half to even as `cost_usd` is spelled.

    A price that is not a finite positive number (a catalog or config mistake) records 0
    rather than failing the request at its last step.
    """
    if not (cost_usd > 0 and math.isfinite(cost_usd)):
        return 0
    return int(Decimal(repr(cost_usd)).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN) * 10**9)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector rule that fired, how often, and the data class it signals."""

    data_class: str
    rule: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"class": self.data_class, "rule": self.rule, "count": int(self.count)}


@dataclass(slots=True)
class AuditEvent:
    """Everything the log records about one request.

    Strings are None when the stage that knows them was not reached (e.g. no deployment was
    chosen because the request was denied). `cost_usd` and `latency_ms` accept numbers and are
    normalised to fixed-point decimal strings so the hash does not depend on float printing.
    `prompt_enc` / `response_enc` hold encrypted bodies (see `bodies.BodyCipher`) only when the
    operator configured body storage; they are covered by the hash like every other field.
    """

    request_id: str
    endpoint: str
    decision: str
    status: int
    error_kind: str = "served"
    time: str = field(default_factory=now_time)
    principal_id: str | None = None
    team: str | None = None
    model_requested: str | None = None
    deployment: str | None = None
    vendor: str | None = None
    vendor_country: str | None = None
    host: str | None = None
    host_country: str | None = None
    region: str | None = None
    policy_ids: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Accept numbers for convenience; always a fixed-point string after construction.
    cost_usd: Decimal | float | int | str = "0.000000000"
    latency_ms: Decimal | float | int | str = "0.000"
    prompt_enc: str | None = None
    response_enc: str | None = None
    v: int = EVENT_VERSION

    def __post_init__(self) -> None:
        # Normalise once here so every producer hashes the same spelling.
        if not _CANONICAL_TIME.fullmatch(self.time):
            self.time = format_time(parse_time(self.time))
        self.status = int(self.status)
        self.prompt_tokens = int(self.prompt_tokens)
        self.completion_tokens = int(self.completion_tokens)
        self.cost_usd = _decimal_text(self.cost_usd, COST_QUANTUM)
        self.latency_ms = _decimal_text(self.latency_ms, LATENCY_QUANTUM)
        self.policy_ids = [str(p) for p in self.policy_ids]
        self.findings = [
            f if isinstance(f, Finding) else Finding(f["class"], f["rule"], int(f["count"]))
            for f in self.findings
        ]

    @property
    def cost_nanousd(self) -> int:
        """Cost as an integer number of nano-dollars (what reports sum)."""
        whole, _, frac = str(self.cost_usd).partition(".")  # normalised: exactly 9 digits
        return int(whole + frac)

    def to_json(self) -> dict[str, Any]:
        """The event as a plain JSON object (the shape that is canonicalised and exported)."""
        out = {name: getattr(self, name) for name in _FIELD_NAMES}
        out["findings"] = [finding.to_json() for finding in self.findings]
        out["policy_ids"] = list(self.policy_ids)
        return out

    def canonical(self) -> bytes:
        """The canonical JSON bytes that the leaf hash covers."""
        data = self.to_json()
        # Nested values were normalised in __post_init__; only top-level ones can be floats.
        if any(isinstance(value, float) for value in data.values()):
            raise ValueError("canonical audit JSON has no floats; use a decimal string")
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEvent:
        """Rebuild an event from its JSON object (as stored or exported)."""
        unknown = set(data) - set(_FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown audit event fields: {sorted(unknown)}")
        return cls(**data)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(AuditEvent))


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("canonical audit JSON has no floats; use a decimal string")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, literal UTF-8, no floats: see the module docstring."""
    _reject_floats(obj)
    # orjson with sorted keys emits exactly the documented form (byte-identical to the
    # `json.dumps` call in the module docstring) and is ~20x faster on the request path.
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
