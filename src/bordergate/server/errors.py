"""Gateway errors, rendered in the client's own wire format.

Every refusal the gateway makes is a GatewayError; the endpoint that caught it knows the
client's format (OpenAI or Anthropic) and renders it so the official SDKs raise their own
exception classes with a readable message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from bordergate.wire.anthropic_client import anthropic_error_type

REDACTED = "[redacted]"
_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a provider key so it is cut out of client errors and log messages.

    Providers sometimes echo the presented key in their error messages, and the gateway passes
    upstream messages on for readability; this is the last line that keeps keys private. The
    first registration installs a log-record factory that scrubs every formatted log message.
    """
    if len(value) < 8:  # too short to be a real key, and replacing it would mangle text
        return
    if not _SECRETS:
        logging.setLogRecordFactory(_ScrubbingRecord)
    _SECRETS.add(value)


def rotate_secret(retired: str | None, new: str | None) -> None:
    """A rotating credential's turn: `new` joins the secrets, `retired` (no longer in use by
    anyone) leaves them, so the set stays as small as the credentials currently alive."""
    if retired:
        _SECRETS.discard(retired)
    if new:
        register_secret(new)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `[redacted]`."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_bytes(data: bytes) -> bytes:
    """`scrub` for UTF-8 bytes (a stream's error event)."""
    if not _SECRETS:
        return data
    for secret in _SECRETS:
        raw = secret.encode()
        if raw in data:
            data = data.replace(raw, REDACTED.encode())
    return data


class _ScrubbingRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return scrub(super().getMessage())


@dataclass
class GatewayError(Exception):
    """A refusal or failure with a status, a machine-readable type and a readable message."""

    status: int
    type: str
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def openai_body(self) -> bytes:
        """`{"error": {"message", "type", "param", "code", ...extra}}`."""
        err: dict[str, Any] = {
            "message": scrub(self.message),
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        err.update(self.extra)
        return orjson.dumps({"error": err})

    def anthropic_body(self) -> bytes:
        """`{"type": "error", "error": {"type", "message", "code", ...extra}}`.

        Anthropic clients know a fixed set of error types, chosen by status (as Anthropic
        does), and the gateway's own, more precise kind goes in `code`. The gateway's own
        refusals keep their type (`policy_denied`, `data_policy_denied`, `rate_limit_exceeded`,
        `budget_exceeded`) in both formats: a contract clients can rely on to tell "refused by
        your organisation's rules" apart from a provider's error.
        """
        own = self.type in GATEWAY_REFUSALS
        err: dict[str, Any] = {
            "type": self.type if own else anthropic_error_type(self.status),
            "message": scrub(self.message),
            "code": self.code or self.type,
        }
        err.update(self.extra)
        return orjson.dumps({"type": "error", "error": err})


# The gateway's own refusals: their type is a contract in both wire formats.
GATEWAY_REFUSALS = frozenset(
    {"policy_denied", "data_policy_denied", "rate_limit_exceeded", "budget_exceeded"}
)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, code=code, param=param)


def not_found(message: str, code: str = "model_not_found") -> GatewayError:
    return GatewayError(404, "not_found_error", message, code=code)
