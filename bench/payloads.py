"""Request bodies shared by every target, so all of them do exactly the same work upstream.

The JSON scenarios send a ~4 KB user prompt (the size at which the design's DLP budget is set):
ordinary engineering prose with code, but no secrets or personal data, so a gateway scans all
of it and then lets it through -- the common case whose cost matters.
"""

from __future__ import annotations

import orjson

# Model names each target is asked for. Direct and floor talk to the upstream, which reads the
# ``@chunks=N`` knob in the model name; the gateways map their own names (see the configs).
UPSTREAM_JSON_MODEL = "gpt-4o-mini"
UPSTREAM_SSE_MODEL = "gpt-4o-mini@chunks=50"
GATEWAY_JSON_MODEL = "gpt-4o-mini"
GATEWAY_SSE_MODEL = "gpt-4o-mini-sse50"
SSE_CHUNKS = 50

_PARAGRAPHS = (
    "We are reviewing the retry logic of the order service. When the payment provider times "
    "out we retry three times with exponential backoff, but the idempotency key is generated "
    "inside the loop, so each retry looks like a new payment to the provider. ",
    "Here is the current function:\n\ndef charge(order, attempts=3):\n    for i in range(attempts):"
    "\n        key = new_key()\n        try:\n            return client.charge(order.total, key)\n"
    "        except Timeout:\n            sleep(2 ** i)\n    raise ChargeFailed(order.id)\n\n",
    "Please suggest a fix that keeps the key stable across retries, explain how the provider "
    "deduplicates requests, and point out anything else in the function that could charge a "
    "customer twice or leave an order in an inconsistent state after a crash. ",
    "Our constraints: the service runs three replicas behind a load balancer, orders are stored "
    "in PostgreSQL, and the provider's API accepts an idempotency key valid for twenty-four "
    "hours. We would like a solution that does not need a distributed lock. ",
)


# Replaced per request by the load generators with an 8-digit counter, so no two requests carry
# the same prompt: a gateway that caches work per text (Bordergate's scan cache does) must not
# be measured on cache hits alone.
SEQ_MARKER = "@@SEQ@@@"


def vary(body: bytes, n: int) -> bytes:
    """The body with its sequence marker replaced by `n` (same length, so same work)."""
    return body.replace(SEQ_MARKER.encode(), b"%08d" % (n % 100_000_000), 1)


def prompt(size: int = 4096) -> str:
    """Prompt text of exactly ``size`` characters (ASCII), starting with the sequence marker."""
    text = f"Ticket {SEQ_MARKER}. "
    i = 0
    while len(text) < size:
        text += _PARAGRAPHS[i % len(_PARAGRAPHS)]
        i += 1
    return text[:size]


def chat_body(model: str, stream: bool, prompt_size: int = 4096) -> bytes:
    """An OpenAI chat-completions request body."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a careful senior engineer."},
            {"role": "user", "content": prompt(prompt_size)},
        ],
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)
