"""`bordergate config check FILE` and `bordergate config schema`."""

from __future__ import annotations

import argparse
import json
import sys

from bordergate.config import ConfigError, config_schema, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="validate the configuration or print its JSON Schema")
    inner = p.add_subparsers(dest="config_command", metavar="ACTION")
    inner.required = True
    check = inner.add_parser("check", help="validate a config file without serving")
    check.add_argument("file")
    check.set_defaults(func=check_cmd)
    schema = inner.add_parser("schema", help="print the JSON Schema of the config file")
    schema.set_defaults(func=schema_cmd)


def check_cmd(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    for name, reason in config.disabled_providers.items():
        print(f"note: optional provider {name} is disabled: {reason}")
    print(f"{args.file}: OK ({len(config.providers)} providers, {len(config.models)} models)")
    return 0


def schema_cmd(args: argparse.Namespace) -> int:
    print(json.dumps(config_schema(), indent=2))
    return 0
