"""A fast, deterministic stand-in for the OpenAI and Anthropic APIs.

Also as the cloud hosts carry them (Azure OpenAI, Claude on Vertex AI with Google's OAuth token
endpoint, Claude on Amazon Bedrock with its event-stream framing and AWS's credential services:
IMDSv2, container credentials, STS web identity), so each gateway adapter has an offline
upstream. It is the upstream of every gateway test and benchmark: replies are derived from the
request (see ``digest_of``), and knobs in the model name or the last user message inject
latency, chunking, tool calls, error statuses and broken streams on demand. See
docs/emulator.md.
"""

from bordergate.emulator.app import EmulatorApp
from bordergate.emulator.content import (
    IMAGE_TOKENS,
    auth_fingerprint,
    digest_of,
    estimate_tokens,
    reply_text,
)
from bordergate.emulator.knobs import KnobError, Knobs

__all__ = [
    "IMAGE_TOKENS",
    "EmulatorApp",
    "KnobError",
    "Knobs",
    "auth_fingerprint",
    "digest_of",
    "estimate_tokens",
    "reply_text",
]
