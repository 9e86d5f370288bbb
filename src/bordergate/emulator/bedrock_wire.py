"""Amazon Bedrock's InvokeModel surface for Anthropic models: auth, validation, answers, errors.

Bedrock carries the Anthropic Messages format with three differences that a gateway adapter
must get right, and that this module therefore emulates strictly:

* the request: no ``model`` (it is in the path, ``/model/{modelId}/invoke``) and no ``stream``
  (the endpoint decides: ``/invoke-with-response-stream``), but an ``anthropic_version`` body
  field; Bedrock rejects unknown keys, so a forwarded ``model`` or ``stream`` is a 400;
* the credential: a Bedrock API key as a Bearer token, or an AWS SigV4 signature. Signatures
  are not verified cryptographically (the emulator knows no secret keys), but their shape is:
  no ``X-Amz-Date``, or a credential scoped to another service than ``bedrock``, is a 403
  (and temporary ``ASIAEMU`` keys must be ones ``aws_credentials`` issued, see there);
* the answer: errors are ``{"message": ...}`` with the exception name in ``x-amzn-ErrorType``,
  and a stream is AWS's binary event stream (``bordergate.wire.eventstream``) whose ``chunk``
  events each wrap one Anthropic stream event, the last one carrying Bedrock's invocation
  metrics.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from bordergate.emulator import anthropic_wire
from bordergate.emulator.content import Prompt, Reply
from bordergate.emulator.knobs import Knobs
from bordergate.wire.eventstream import bedrock_chunk, bedrock_exception

Header = tuple[bytes, bytes]

#: The ``anthropic_version`` Bedrock documents for the Messages API.
BEDROCK_VERSION = "bedrock-2023-05-31"

STREAM_HEADERS: tuple[Header, ...] = (
    (b"content-type", b"application/vnd.amazon.eventstream"),
    (b"x-amzn-bedrock-content-type", b"application/json"),
)

# HTTP status -> the Bedrock exception a service error of that status is (from the
# bedrock-runtime service model); other statuses fall back by class.
_EXCEPTIONS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
# Authentication is refused by AWS's front door, not by Bedrock: another error namespace.
_AUTH_EXCEPTIONS = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "ExpiredTokenException",
    }
)
_SIGV4 = "AWS4-HMAC-SHA256"
_REQUIRED = ("anthropic_version", "max_tokens", "messages")
_EXTRANEOUS = ("model", "stream")


def exception_type(status: int) -> str:
    """The Bedrock exception name for an HTTP error status."""
    found = _EXCEPTIONS.get(status)
    if found is not None:
        return found
    return "InternalServerException" if status >= 500 else "ValidationException"


def error_type_header(exception: str) -> Header:
    """``x-amzn-ErrorType``, which AWS SDKs read to pick the exception class."""
    namespace = (
        "com.amazon.coral.service" if exception in _AUTH_EXCEPTIONS else "com.amazon.bedrock"
    )
    return (
        b"x-amzn-errortype",
        f"{exception}:http://internal.amazon.com/coral/{namespace}/".encode(),
    )


def error_body(message: str) -> bytes:
    """Bedrock's error body: only a message; the type travels in ``x-amzn-ErrorType``."""
    return orjson.dumps({"message": message})


def request_id(seq: int) -> str:
    """A UUID-shaped ``x-amzn-requestid``, distinct per request."""
    return f"00000000-0000-4000-8000-{seq:012x}"


def auth_problem(authorization: bytes | None, amz_date: bytes | None) -> tuple[str, str] | None:
    """Why AWS would refuse this credential, as (exception name, message); None when usable."""
    text = authorization.decode("latin-1").strip() if authorization else ""
    if not text:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        if rest.strip():
            return None
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    if scheme != _SIGV4:
        return "IncompleteSignatureException", f"Unsupported authorization scheme {scheme!r}."
    params = _sigv4_params(rest)
    missing = [
        f"Authorization header requires '{key}' parameter."
        for key in ("Credential", "Signature", "SignedHeaders")
        if not params.get(key)
    ]
    date = amz_date.decode("latin-1").strip() if amz_date else ""
    if not date:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing:
        return "IncompleteSignatureException", " ".join(missing)
    scope = params["Credential"].split("/")
    if len(scope) != 5 or not all(scope) or scope[4] != "aws4_request":
        return (
            "IncompleteSignatureException",
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request.",
        )
    if scope[3] != "bedrock":
        return (
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: 'bedrock'. (not {scope[3]!r})",
        )
    if not date.startswith(scope[1]):
        return (
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope[1]}' != '{date[:8]}'",
        )
    return None


def _sigv4_params(rest: str) -> dict[str, str]:
    """``Credential=..., SignedHeaders=..., Signature=...`` as a dict."""
    params: dict[str, str] = {}
    for item in rest.split(","):
        key, _, value = item.strip().partition("=")
        params[key] = value
    return params


def access_key_id(authorization: bytes | None) -> str:
    """The access key id a SigV4 ``Authorization`` header names ("" for anything else)."""
    text = authorization.decode("latin-1").strip() if authorization else ""
    scheme, _, rest = text.partition(" ")
    if scheme != _SIGV4:
        return ""
    return _sigv4_params(rest).get("Credential", "").partition("/")[0]


def _malformed(problems: list[str]) -> str:
    return (
        f"Malformed input request: {', '.join(problems)}, please reformat your input and try again."
    )


def validate(data: Any) -> str:
    """The first reason Bedrock would refuse this body with a ValidationException, or "".

    ``anthropic_version`` must be present, but its value is not pinned to ``BEDROCK_VERSION``:
    current ``anthropic`` SDKs send their own API version date there.
    """
    if not isinstance(data, dict):
        return "The request body is not valid JSON." if data is None else "Expected a JSON object."
    problems = [f"#: required key [{key}] not found" for key in _REQUIRED if key not in data]
    problems += [
        f"#: extraneous key [{key}] is not permitted" for key in _EXTRANEOUS if key in data
    ]
    version = data.get("anthropic_version")
    if "anthropic_version" in data and (not isinstance(version, str) or not version):
        problems.append("#/anthropic_version: expected a non-empty string")
    messages = data.get("messages")
    if "messages" in data and (not isinstance(messages, list) or not messages):
        problems.append("#/messages: expected a non-empty array")
    betas = data.get("anthropic_beta")
    if "anthropic_beta" in data and (
        not isinstance(betas, list) or not all(isinstance(b, str) for b in betas)
    ):
        problems.append("#/anthropic_beta: expected an array of strings")
    return _malformed(problems) if problems else ""


def count_body(data: Any) -> tuple[Any, str]:
    """CountTokens' request `{"input": {"invokeModel": {"body": <base64>}}}` -> (the InvokeModel
    body it carries, "") or (None, why Bedrock would refuse it)."""
    wrapper = data.get("input") if isinstance(data, dict) else None
    invoke = wrapper.get("invokeModel") if isinstance(wrapper, dict) else None
    encoded = invoke.get("body") if isinstance(invoke, dict) else None
    if not isinstance(encoded, str):
        return None, _malformed(["#/input/invokeModel/body: required key not found"])
    try:
        return orjson.loads(base64.b64decode(encoded, validate=True)), ""
    except (ValueError, orjson.JSONDecodeError):
        return None, _malformed(["#/input/invokeModel/body: not base64-encoded JSON"])


def json_headers(prompt: Prompt, reply: Reply, knobs: Knobs) -> list[Header]:
    """The headers Bedrock adds to an ``/invoke`` answer: token counts and latency."""
    return [
        (b"x-amzn-bedrock-input-token-count", str(prompt.input_tokens).encode()),
        (b"x-amzn-bedrock-output-token-count", str(reply.output_tokens).encode()),
        (b"x-amzn-bedrock-invocation-latency", str(knobs.latency_ms).encode()),
    ]


def stream_events(
    mid: str, model: str, prompt: Prompt, reply: Reply, knobs: Knobs
) -> list[anthropic_wire.Event]:
    """Every event-stream frame of a streamed answer, in order, flagged like the SSE events.

    The events are the first-party stream's (``anthropic_wire.stream_payloads``) without
    ``ping``; ``message_stop`` additionally carries ``amazon-bedrock-invocationMetrics``. Its
    latencies are the emulated ones (``latency_ms`` to the first byte, plus ``chunk_delay_ms``
    between content chunks), so tests can predict them.
    """
    payloads = anthropic_wire.stream_payloads(mid, model, prompt, reply, knobs.chunks)
    content = sum(1 for _, _, is_content in payloads if is_content)
    metrics = {
        "inputTokenCount": prompt.input_tokens,
        "outputTokenCount": reply.output_tokens,
        "invocationLatency": knobs.latency_ms + knobs.chunk_delay_ms * max(content - 1, 0),
        "firstByteLatency": knobs.latency_ms,
    }
    events: list[anthropic_wire.Event] = []
    for name, payload, is_content in payloads:
        if name == "ping":
            continue
        if name == "message_stop":
            payload = {**payload, "amazon-bedrock-invocationMetrics": metrics}
        events.append((bedrock_chunk(orjson.dumps(payload)), is_content))
    return events


def stream_error() -> bytes:
    """The frame Bedrock ends a stream with when the model fails after it began."""
    return bedrock_exception(
        "modelStreamErrorException", "emulated model stream error: the model stopped responding"
    )
