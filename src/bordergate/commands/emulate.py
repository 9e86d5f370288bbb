"""`bordergate emulate`: run the provider emulator (OpenAI + Anthropic wire formats)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``emulate`` sub-command."""
    parser = subparsers.add_parser(
        "emulate",
        help="run a fast, deterministic OpenAI/Anthropic API emulator (test/benchmark upstream)",
        description=(
            "Serve POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic) with "
            "deterministic replies; knobs in the model name or an '@emulator' line in the last "
            "user message inject latency, tool calls, errors and broken streams. "
            "GET /_emulator/requests lists what arrived."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9000, help="port to bind; 0 picks a free one (default 9000)"
    )
    parser.add_argument(
        "--record",
        type=int,
        default=100,
        metavar="N",
        help="keep the last N requests for GET /_emulator/requests; 0 disables (default 100)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from bordergate.emulator.server import serve

    if args.record < 0:
        raise SystemExit("bordergate emulate: --record must be >= 0")
    serve(host=args.host, port=args.port, record=args.record)
    return 0
