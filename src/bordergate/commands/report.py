"""`bordergate report`: usage, blocked requests and data findings from the audit log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bordergate.audit.config import load_audit_config
from bordergate.audit.report import BY_CHOICES, FORMATS, build_report, parse_bound, render
from bordergate.audit.store import AuditStore


def cmd_report(args: argparse.Namespace) -> int:
    try:
        config = load_audit_config(Path(args.config))
        since = parse_bound(args.since) if args.since else None
        until = parse_bound(args.until) if args.until else None
        store = AuditStore(config.database, create=False)
    except (OSError, ValueError) as exc:
        print(f"bordergate report: {exc}", file=sys.stderr)
        return 2
    try:
        report = build_report(store, by=args.by, since=since, until=until)
    finally:
        store.close()
    sys.stdout.write(render(report, args.format))
    return 0


def register(subparsers: Any) -> None:
    """Add the `report` command."""
    parser = subparsers.add_parser("report", help="usage, denials and findings over a window")
    parser.add_argument("--config", required=True, help="gateway YAML (its audit: section)")
    parser.add_argument("--since", help="RFC 3339 time, date, or relative (7d, 24h)")
    parser.add_argument("--until", help="RFC 3339 time, date, or relative (exclusive)")
    parser.add_argument("--by", choices=BY_CHOICES, default="vendor")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.set_defaults(func=cmd_report)
