"""The one error type of the wire layer.

Validation and translation fail for the same reason — the client sent something the gateway
(or the chosen upstream) cannot honour — so both raise :class:`WireError`. It carries what each
wire format needs to render the error in the client's own shape.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["WireError"]

# OpenAI error type -> Anthropic error type, for rendering the same failure to both kinds of
# client.
_ANTHROPIC_TYPE = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "server_error": "api_error",
}


class WireError(Exception):
    """A request the gateway refuses before contacting any upstream.

    ``message`` starts with the offending field's path (``messages[3].content: ...``) and
    ``param`` repeats the path alone, so a client finds its mistake without gateway logs.
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.code = code

    def openai_dict(self) -> dict[str, Any]:
        """The OpenAI error object: ``{"error": {message, type, param, code}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_dict(self) -> dict[str, Any]:
        """The Anthropic error object: ``{"type": "error", "error": {type, message}}``."""
        kind = _ANTHROPIC_TYPE.get(self.type, "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}

    def openai_bytes(self) -> bytes:
        """The OpenAI error body, serialised."""
        return orjson.dumps(self.openai_dict())

    def anthropic_bytes(self) -> bytes:
        """The Anthropic error body, serialised."""
        return orjson.dumps(self.anthropic_dict())

    def __repr__(self) -> str:
        return f"WireError({self.status}, {self.type!r}, {self.message!r}, param={self.param!r})"
