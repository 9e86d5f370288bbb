"""Micro-benchmarks of the data-egress scanner (default configuration).

``dlp_4kb``: scanning the bench's 4 KB chat request (every text field), per request.
``dlp_throughput``: MB/s over a 64 KB text of the same prose, the cost per byte.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from bench import payloads
from bench.micro import Unavailable, register, timed


@functools.cache
def _scanner() -> Any:
    try:
        from bordergate.dlp.config import DlpConfig
        from bordergate.dlp.scanner import Scanner
    except ImportError as exc:
        raise Unavailable(f"DLP scanner not importable: {exc}") from exc
    return Scanner.from_config(DlpConfig())


@register("dlp_4kb")
def dlp_4kb(budget_s: float) -> dict[str, float]:
    """p50/p99 of scanning one 4 KB-prompt request body, as the gateway does per request."""
    try:
        from bordergate.dlp.request import scan_request
    except ImportError as exc:
        raise Unavailable(f"bordergate.dlp.request not importable: {exc}") from exc
    scanner = _scanner()
    body = orjson.loads(payloads.chat_body(payloads.GATEWAY_JSON_MODEL, False))
    return timed(lambda: scan_request(body, scanner), budget_s)


@register("dlp_throughput")
def dlp_throughput(budget_s: float) -> dict[str, float]:
    """Scan rate in MB/s over 64 KB of prose and code (median call)."""
    scanner = _scanner()
    text = payloads.prompt(64 * 1024)
    t = timed(lambda: scanner.scan(text), budget_s, min_calls=5)
    return {"mb_per_s": len(text) / (t["p50_us"] / 1e6) / 1e6, "p50_us_per_64kb": t["p50_us"]}
