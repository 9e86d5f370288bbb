"""Upstream failures, mapped to what the client should see.

The mapping is a product decision: the client learns which provider failed and how, in its own
wire format, but never the provider's credentials or URL internals. A 401 from a provider means
the *gateway's* key is wrong, so it surfaces as 502 (the client's own key was fine).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass
class UpstreamFailure(Exception):
    """A deployment could not serve the request; `retryable` allows trying the next candidate."""

    kind: str
    status: int
    message: str
    provider: str
    retry_after: str | None = None
    retryable: bool = True
    # The provider's own machine-readable reason (OpenAI's `code`, e.g.
    # `context_length_exceeded`) and the field it blamed, passed on so clients that branch on
    # them keep working behind the gateway.
    code: str | None = None
    param: str | None = None

    def __str__(self) -> str:
        return self.message


def _parsed(body: bytes) -> object:
    """The error body as JSON, or None when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _error_object(data: object) -> dict[str, object]:
    """The `error` object of a parsed OpenAI- or Anthropic-shaped error body (empty if none)."""
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def _short(value: object) -> str | None:
    """A provider's code or param, if it is a plausible one (short text, not a message)."""
    if isinstance(value, str) and 0 < len(value) <= 100:
        return value
    return None


def _cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a space: a credential the provider echoed and the
    cut fell into would otherwise leave a fragment that the scrubbing of known keys, which
    matches whole keys, cannot recognise."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > 0 else "") + " [...]"


def upstream_message(body: bytes, limit: int = 500, data: object = None) -> str:
    """Best-effort human message from an OpenAI- or Anthropic-shaped error body (`data`: the
    body already parsed, when the caller has it)."""
    if data is None:
        data = _parsed(body)
    if data is None:
        return _cut(body.decode("utf-8", "replace").strip(), limit)
    message: object = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        message = message or data.get("message")
    return _cut(str(message or ""), limit)


def from_status(
    provider: str, status: int, body: bytes, retry_after: str | None
) -> UpstreamFailure:
    """Map an upstream HTTP error status to the failure the client sees."""
    data = _parsed(body)
    detail = upstream_message(body, data=data)
    suffix = f": {detail}" if detail else ""
    err = _error_object(data)
    code, param = _short(err.get("code")), _short(err.get("param"))
    if status == 429:
        # Out of credit is no rate limit: waiting a second would not help, so no Retry-After
        # is made up for it (a provider's own is passed on).
        no_credit = code == "insufficient_quota" or err.get("type") == "billing_error"
        return UpstreamFailure(
            "rate_limited",
            429,
            f"provider {provider} is rate limiting (HTTP 429){suffix}",
            provider,
            retry_after=retry_after or (None if no_credit else "1"),
            code=code,
        )
    if status in (401, 403):
        return UpstreamFailure(
            "upstream_auth",
            502,
            f"provider {provider} rejected the gateway's credentials (HTTP {status}); "
            "the operator must check the provider key",
            provider,
        )
    if status == 408:  # e.g. Bedrock's ModelTimeoutException: the provider gave up in time
        return UpstreamFailure(
            "upstream_timeout", 504, f"provider {provider} timed out (HTTP 408){suffix}", provider
        )
    if status == 529:  # Anthropic: overloaded. Its clients' SDKs handle it apart (back off)
        return UpstreamFailure(
            "upstream_overloaded",
            529,
            f"provider {provider} is overloaded (HTTP 529){suffix}",
            provider,
        )
    if status >= 500 or status == 424:  # 424: Bedrock's ModelErrorException
        return UpstreamFailure(
            "upstream_error",
            502,
            f"provider {provider} failed with HTTP {status}{suffix}",
            provider,
        )
    client_status = status if status in (400, 404, 413, 422) else 400
    return UpstreamFailure(
        "upstream_rejected",
        client_status,
        f"provider {provider} rejected the request (HTTP {status}){suffix}",
        provider,
        retryable=False,
        code=code,
        param=param,
    )


def timeout(provider: str, seconds: float) -> UpstreamFailure:
    """The deadline passed before the provider answered."""
    return UpstreamFailure(
        "upstream_timeout",
        504,
        f"provider {provider} did not answer within {seconds:g} s",
        provider,
    )


def unreachable(provider: str, reason: str) -> UpstreamFailure:
    """The connection could not be made (refused, DNS, TLS)."""
    return UpstreamFailure(
        "upstream_unreachable", 502, f"cannot connect to provider {provider}: {reason}", provider
    )
