"""`bordergate dlp scan`: run the data-egress detectors over a file or stdin.

Prints classes, rule ids and offsets only — never the matched values — so its output can be
shared and stored like an audit record.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from bordergate.dlp.config import DlpConfig
from bordergate.dlp.scanner import Scanner
from bordergate.dlp.types import Finding


def register(subparsers: Any) -> None:
    """Add `dlp scan` to the `bordergate` command."""
    dlp = subparsers.add_parser("dlp", help="data-egress guard tools")
    sub = dlp.add_subparsers(dest="dlp_command", metavar="COMMAND")
    sub.required = True
    scan = sub.add_parser("scan", help="print the findings of a text (values never printed)")
    scan.add_argument("file", nargs="?", default="-", help="file to scan, or - for stdin")
    scan.add_argument("--config", help="gateway YAML; only its `dlp:` key is read")
    mode = scan.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="one JSON array (default)")
    mode.add_argument(
        "--jsonl", action="store_true", help='input lines {"id","text"} -> {"id","findings"}'
    )
    scan.set_defaults(func=run_scan)


def load_config(path: str | None) -> DlpConfig:
    """Read the `dlp:` key of a gateway YAML file; other keys are ignored."""
    if not path:
        return DlpConfig()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    section = data.get("dlp") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return DlpConfig()
    # Tolerant: keys this version does not know are reported and skipped, not fatal.
    unknown = sorted(set(section) - set(DlpConfig.model_fields))
    if unknown:
        print(f"bordergate dlp scan: ignoring unknown dlp keys: {unknown}", file=sys.stderr)
    return DlpConfig.model_validate({k: v for k, v in section.items() if k not in unknown})


def findings_json(findings: list[Finding]) -> list[dict[str, object]]:
    """The public shape of findings: class, rule and offsets."""
    return [{"class": f.cls, "rule": f.rule, "start": f.start, "end": f.end} for f in findings]


def run_scan(args: argparse.Namespace) -> int:
    """Scan one text (--json) or many JSON lines (--jsonl); exit 0 whether or not found."""
    try:
        scanner = Scanner.from_config(load_config(args.config))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"bordergate dlp scan: bad config: {exc}", file=sys.stderr)
        return 2
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    out = sys.stdout.buffer
    try:
        if args.jsonl:
            for line in stream:
                if not line.strip():
                    continue
                rec = orjson.loads(line)
                result = {"id": rec.get("id"), "findings": findings_json(scanner.scan(rec["text"]))}
                out.write(orjson.dumps(result) + b"\n")
        else:
            out.write(orjson.dumps(findings_json(scanner.scan(stream.read()))) + b"\n")
        out.flush()
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0
