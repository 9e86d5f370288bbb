"""The `bordergate` command: one sub-command module per concern under `bordergate.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers) -> None`; its parsers set `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = (
    "bordergate.commands.serve",
    "bordergate.commands.config",
    "bordergate.commands.emulate",
    "bordergate.commands.models",
    "bordergate.commands.policy",
    "bordergate.commands.audit",
    "bordergate.commands.report",
    "bordergate.commands.keys",
    "bordergate.commands.db",
    "bordergate.commands.dlp",
    "bordergate.commands.fingerprint",
    "bordergate.commands.explain",
)


def build_parser() -> argparse.ArgumentParser:
    """Assemble the parser from every registered command module."""
    parser = argparse.ArgumentParser(prog="bordergate", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
