"""Anthropic Messages wire format, both directions, in one import.

- Towards an Anthropic upstream (the gateway speaks OpenAI inside):
  :func:`openai_request_to_anthropic`, :func:`anthropic_response_to_openai`,
  :class:`AnthropicStreamToOpenAI`, :func:`anthropic_error_to_openai`.
- From an Anthropic-format client: :func:`anthropic_request_to_openai`,
  :func:`openai_response_to_anthropic`, :class:`OpenAIStreamToAnthropic`,
  :func:`openai_error_to_anthropic`.

The two directions live in separate modules because they share nothing but the format.
"""

from __future__ import annotations

from bordergate.wire.anthropic_client import (
    OpenAIStreamToAnthropic,
    anthropic_request_to_openai,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
    openai_usage_to_anthropic,
)
from bordergate.wire.anthropic_upstream import (
    DEFAULT_MAX_TOKENS,
    AnthropicStreamToOpenAI,
    StreamError,
    anthropic_error_to_openai,
    anthropic_response_to_openai,
    anthropic_usage_to_openai,
    fold_stream_usage,
    openai_request_to_anthropic,
)
from bordergate.wire.errors import WireError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicStreamToOpenAI",
    "OpenAIStreamToAnthropic",
    "StreamError",
    "WireError",
    "anthropic_error_to_openai",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "anthropic_usage_to_openai",
    "fold_stream_usage",
    "openai_error_to_anthropic",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "openai_usage_to_anthropic",
]
