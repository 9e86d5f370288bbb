"""`bordergate audit keygen|verify|checkpoint|export|bodies`: keys, proof, hand-over of the
log, and the stored bodies of one request."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

from bordergate.audit.bodies import BodyCipher
from bordergate.audit.checkpoints import (
    Checkpointer,
    checkpoint_from_file,
    generate_keypair,
    load_private_key,
    load_public_key,
)
from bordergate.audit.config import AuditConfig, decode_key, load_audit_config
from bordergate.audit.export import export_jsonl
from bordergate.audit.report import parse_bound
from bordergate.audit.store import AuditStore, StoredCheckpoint
from bordergate.audit.verify import verify_log

EXIT_INTACT, EXIT_TAMPERED, EXIT_USAGE = 0, 1, 2


def _public_key(config: AuditConfig) -> Any:
    if config.public_key is not None:
        return load_public_key(config.public_key)
    if config.signing_key is not None and config.signing_key.exists():
        return load_private_key(config.signing_key).public_key()
    return None


def _checkpoint_files(paths: list[Path]) -> tuple[list[tuple[str, StoredCheckpoint]], list[str]]:
    """Checkpoints from files or directories (every checkpoint-*.json inside), and the files
    that are not checkpoints at all: in a checkpoint directory, that is evidence too."""
    found: list[tuple[str, StoredCheckpoint]] = []
    bad: list[str] = []
    for path in paths:
        files = sorted(path.glob("checkpoint-*.json")) if path.is_dir() else [path]
        for f in files:
            try:
                found.append((str(f), checkpoint_from_file(f)))
            except IsADirectoryError:
                bad.append(f"{f}: not a valid checkpoint file (a directory)")
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                bad.append(f"{f}: not a valid checkpoint file")
    return found, bad


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        private, public = generate_keypair(Path(args.out_dir))
    except FileExistsError as exc:
        print(f"bordergate audit keygen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"private key (keep secret, mode 0600): {private}")
    print(f"public key (give to auditors):        {public}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        config = load_audit_config(Path(args.config))
        extra = [Path(p) for p in args.checkpoint or []]
        if config.checkpoint_dir is not None and config.checkpoint_dir.is_dir():
            extra.append(config.checkpoint_dir)
        external, bad_files = _checkpoint_files(extra)
        public = _public_key(config)
        store = AuditStore(config.database, create=False)
    except (OSError, ValueError, KeyError) as exc:
        print(f"bordergate audit verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = verify_log(store, public, external)
    finally:
        store.close()
    for problem in bad_files:
        report.fail(problem)
    if report.ok:
        print(
            f"OK: {report.size} events, head {report.head}, "
            f"{report.checkpoints_checked} checkpoint(s) checked"
        )
        return EXIT_INTACT
    if report.first_bad_seq is None:
        print("TAMPERED: the checkpoints")  # every event checks out; a checkpoint does not
    else:
        print(f"TAMPERED: first bad seq {report.first_bad_seq}")
    for problem in report.problems:
        print(f"  {problem}")
    return EXIT_TAMPERED


def cmd_export(args: argparse.Namespace) -> int:
    try:
        config = load_audit_config(Path(args.config))
        since = parse_bound(args.since) if args.since else None
        until = parse_bound(args.until) if args.until else None
        store = AuditStore(config.database, create=False)
    except (OSError, ValueError) as exc:
        print(f"bordergate audit export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        export_jsonl(store, sys.stdout, since=since, until=until, after_seq=args.after_seq)
    finally:
        store.close()
    return 0


def cmd_bodies(args: argparse.Namespace) -> int:
    """Print one request's stored prompt and answer, decrypted with the configured key."""
    try:
        config = load_audit_config(Path(args.config))
        # The key alone: bodies stored before `store_bodies` was turned off stay readable.
        if config.body_encryption_key is None:
            raise ValueError(
                "audit.body_encryption_key is not configured (the key the bodies were sealed with)"
            )
        key = decode_key(config.body_encryption_key.get_secret_value())
        store = AuditStore(config.database, create=False)
    except (OSError, ValueError) as exc:
        print(f"bordergate audit bodies: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rows = store.find_request(args.request_id)
    finally:
        store.close()
    if not rows:
        print(f"bordergate audit bodies: no event for request {args.request_id}", file=sys.stderr)
        return 1
    cipher = BodyCipher(key)
    for row in rows:
        event = json.loads(row.event)
        shown: dict[str, Any] = {"seq": row.seq, "time": row.time, "request_id": args.request_id}
        for kind, field in (("prompt", "prompt_enc"), ("response", "response_enc")):
            token = event.get(field)
            if token is None:
                shown[kind] = None
                continue
            try:
                shown[kind] = json.loads(cipher.open(args.request_id, kind, token))
            except (InvalidTag, ValueError):
                print(
                    f"bordergate audit bodies: the stored {kind} of event {row.seq} does not "
                    "decrypt: a different key, or it was altered or moved from another event "
                    "(`bordergate audit verify` checks the chain)",
                    file=sys.stderr,
                )
                return EXIT_TAMPERED
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Sign the current head now (e.g. from cron, just before copying checkpoints off-box)."""
    try:
        config = load_audit_config(Path(args.config))
        if config.signing_key is None:
            raise ValueError("audit.signing_key is not configured")
        checkpointer = Checkpointer(
            load_private_key(config.signing_key), directory=config.checkpoint_dir
        )
        store = AuditStore(config.database, create=False)
    except (OSError, ValueError) as exc:
        print(f"bordergate audit checkpoint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        made = checkpointer.checkpoint_now(store)
    finally:
        store.close()
    if made is None:
        print("no new events since the last checkpoint")
    else:
        print(f"checkpoint at size {made.size}, head {made.head}")
    return 0


def register(subparsers: Any) -> None:
    """Add `audit` with its keygen, verify and export sub-commands."""
    audit = subparsers.add_parser("audit", help="keys, verification and export of the audit log")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    sub.required = True

    keygen = sub.add_parser("keygen", help="make the Ed25519 key pair that signs checkpoints")
    keygen.add_argument("--out-dir", required=True, help="directory for the two key files")
    keygen.set_defaults(func=cmd_keygen)

    verify = sub.add_parser("verify", help="check the hash chain and signed checkpoints")
    verify.add_argument("--config", required=True, help="gateway YAML (its audit: section)")
    verify.add_argument(
        "--checkpoint",
        action="append",
        help="an off-box checkpoint file or directory to check against (repeatable)",
    )
    verify.set_defaults(func=cmd_verify)

    checkpoint = sub.add_parser("checkpoint", help="sign a checkpoint of the current head now")
    checkpoint.add_argument("--config", required=True, help="gateway YAML (its audit: section)")
    checkpoint.set_defaults(func=cmd_checkpoint)

    export = sub.add_parser("export", help="write events as JSON lines for a SIEM")
    export.add_argument("--config", required=True, help="gateway YAML (its audit: section)")
    export.add_argument("--since", help="RFC 3339 time, date, or relative (7d, 24h)")
    export.add_argument("--until", help="RFC 3339 time, date, or relative (exclusive)")
    export.add_argument("--after-seq", type=int, default=0, help="only events after this seq")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.set_defaults(func=cmd_export)

    bodies = sub.add_parser(
        "bodies", help="show one request's stored prompt and answer (audit.store_bodies)"
    )
    bodies.add_argument("--config", required=True, help="gateway YAML (its audit: section)")
    bodies.add_argument("request_id", help="the request id (x-request-id, or an event's)")
    bodies.set_defaults(func=cmd_bodies)
