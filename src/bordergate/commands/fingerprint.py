"""`bordergate fingerprint build PATH... --out FILE`: index the organisation's own code."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bordergate.dlp.fingerprint import DEFAULT_K, DEFAULT_W, FingerprintIndex, build_index


def register(subparsers: Any) -> None:
    """Add the `fingerprint` command group."""
    parser = subparsers.add_parser(
        "fingerprint", help="internal-code fingerprint index (winnowing; stores hashes only)"
    )
    sub = parser.add_subparsers(dest="fingerprint_command", metavar="ACTION")
    sub.required = True
    build = sub.add_parser("build", help="index source repositories into FILE")
    build.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="repository or file")
    build.add_argument("--out", required=True, type=Path, metavar="FILE", help="index file")
    build.add_argument("--k", type=int, default=DEFAULT_K, help="tokens per k-gram")
    build.add_argument("--w", type=int, default=DEFAULT_W, help="winnowing window")
    build.set_defaults(func=_build)
    info = sub.add_parser("info", help="show the parameters and size of an index FILE")
    info.add_argument("file", type=Path, metavar="FILE")
    info.set_defaults(func=_info)


def _build(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"bordergate fingerprint build: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    index = build_index(list(args.paths), k=args.k, w=args.w)
    index.save(args.out)
    s = index.stats
    print(
        f"indexed {s.files} files ({s.skipped} skipped): {s.fingerprints} fingerprints "
        f"({s.dropped_common} common dropped), k={index.k} w={index.w}, "
        f"{time.perf_counter() - started:.1f}s -> {args.out}"
    )
    return 0 if s.files else 1


def _info(args: argparse.Namespace) -> int:
    try:
        index = FingerprintIndex.load(args.file)
    except (OSError, ValueError) as exc:
        print(f"bordergate fingerprint info: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: {index.files} files, {len(index)} fingerprints, k={index.k} w={index.w}")
    return 0
