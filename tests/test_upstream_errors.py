"""Provider error statuses, mapped to what the client sees: the provider's own reason survives."""

from __future__ import annotations

import orjson

from bordergate.server.chat import failure_error
from bordergate.upstream.errors import from_status


def openai_error(code: str | None, param: str | None = None, type: str = "x") -> bytes:
    return orjson.dumps({"error": {"message": "m", "type": type, "param": param, "code": code}})


def test_a_rejected_request_keeps_the_providers_code_and_param() -> None:
    body = openai_error("context_length_exceeded", "messages", "invalid_request_error")
    failure = from_status("openai", 400, body, None)
    assert not failure.retryable and failure.status == 400
    err = orjson.loads(failure_error(failure).openai_body())["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert err["type"] == "upstream_rejected"  # the gateway's kind: the audit counts it so
    assert err["message"] == "provider openai rejected the request (HTTP 400): m"


def test_without_a_code_the_kind_is_the_code() -> None:
    err = orjson.loads(failure_error(from_status("p", 422, b"not json", None)).openai_body())
    assert err["error"]["code"] == "upstream_rejected" and err["error"]["param"] is None
    assert err["error"]["message"].endswith("(HTTP 422): not json")


def test_out_of_credit_is_a_429_without_a_made_up_retry_after() -> None:
    quota = failure_error(from_status("openai", 429, openai_error("insufficient_quota"), None))
    assert quota.status == 429 and "retry-after" not in quota.headers
    assert quota.code == "insufficient_quota"
    billing = b'{"type":"error","error":{"type":"billing_error","message":"no credit"}}'
    assert "retry-after" not in failure_error(from_status("a", 429, billing, None)).headers
    # A real rate limit waits: the provider's Retry-After, else one second.
    limited = failure_error(from_status("openai", 429, openai_error("rate_limit_exceeded"), None))
    assert limited.headers == {"retry-after": "1"} and limited.code == "rate_limit_exceeded"
    told = failure_error(from_status("openai", 429, openai_error("insufficient_quota"), "30"))
    assert told.headers == {"retry-after": "30"}


def test_only_short_codes_are_taken_as_codes() -> None:
    body = openai_error("x" * 500, param="p" * 101)
    failure = from_status("p", 400, body, None)
    assert failure.code is None and failure.param is None


def test_a_long_provider_message_is_cut_at_a_space_not_inside_a_word() -> None:
    """A key the provider echoed, cut in two by the length limit, would leave a fragment
    that scrubbing (which knows whole keys) cannot find: the cut drops the whole word."""
    key = "sk-" + "k" * 60
    message = "x " * 230 + f"bad key {key} given"
    body = orjson.dumps({"error": {"message": message}})
    text = from_status("p", 400, body, None).message
    assert "sk-k" not in text and text.endswith("bad key [...]")
