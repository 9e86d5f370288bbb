"""`bordergate config check FILE` and `bordergate config schema`."""

from __future__ import annotations

import argparse
import json
import logging
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
    """Validate the file, then build the gateway's pure parts (policy, DLP index, catalog).

    What building says (a disabled optional provider, no policy, where cloud credentials
    will come from) is printed as notes on stderr; problems end with exit status 2 and the
    same message `serve` would print.
    """
    from bordergate.server.app import build_gateway
    from bordergate.server.gateway import credential_notes

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("bordergate")
    logger.addHandler(handler)
    try:
        config = load_config(args.file)
        gateway = build_gateway(config, args.file)
    except ConfigError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(handler)
    for note in credential_notes(gateway.deployments):
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.file}: OK ({len(config.providers)} providers, {len(config.models)} models)")
    return 0


def schema_cmd(args: argparse.Namespace) -> int:
    print(json.dumps(config_schema(), indent=2))
    return 0
