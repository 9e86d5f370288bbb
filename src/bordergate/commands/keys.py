"""`bordergate keys create|list|revoke|rotate`: manage virtual keys in the configured store."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from bordergate.identity.auth import open_key_store
from bordergate.identity.config import ConfigError, load_identity_config
from bordergate.identity.keys import KeyNotFound, KeyRecord, KeyStore, parse_duration


def register(subparsers: Any) -> None:
    """Add `keys` and its sub-commands."""
    keys = subparsers.add_parser("keys", help="manage virtual API keys")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", required=True, metavar="FILE", help="gateway YAML")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    create = sub.add_parser("create", help="issue a key (printed once)")
    common(create)
    create.add_argument("--user", required=True)
    create.add_argument("--team", default="")
    create.add_argument("--groups", default="", help="comma-separated")
    create.add_argument("--country", default="", metavar="CC")
    create.add_argument("--org", default="")
    create.add_argument("--org-country", default="", metavar="CC")
    create.add_argument("--expires", default=None, metavar="DURATION", help="e.g. 90d, 12h")
    create.add_argument("--rpm", type=int, default=None)
    create.add_argument("--tpm", type=int, default=None)
    create.add_argument("--budget", type=float, default=None, metavar="USD")
    create.add_argument("--budget-period", choices=("month", "day"), default="month")
    create.set_defaults(func=_run(_create))

    lst = sub.add_parser("list", help="list keys (never their values)")
    common(lst)
    lst.set_defaults(func=_run(_list))

    revoke = sub.add_parser("revoke", help="revoke a key (all replicas within 1 s)")
    common(revoke)
    revoke.add_argument("id")
    revoke.set_defaults(func=_run(_revoke))

    rotate = sub.add_parser("rotate", help="revoke a key and issue its replacement")
    common(rotate)
    rotate.add_argument("id")
    rotate.set_defaults(func=_run(_rotate))


def _run(action: Any) -> Any:
    def func(args: argparse.Namespace) -> int:
        try:
            config = load_identity_config(args.config)
            if not config.server_secret:
                raise ConfigError(f"{args.config}: identity.server_secret is not set")
            store = open_key_store(config)
        except (ConfigError, ValueError) as exc:
            print(f"bordergate keys: {exc}", file=sys.stderr)
            return 2
        try:
            return int(action(store, args))
        except KeyNotFound as exc:
            print(f"bordergate keys: {exc}", file=sys.stderr)
            return 1
        finally:
            store.db.close()

    return func


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _print_new(args: argparse.Namespace, plaintext: str, record: KeyRecord) -> None:
    if args.json:
        out = {"key": plaintext, "id": record.id, "record": record.public_dict()}
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    print(f"id:   {record.id}")
    print(f"user: {record.user}  team: {record.team or '-'}  expires: {_when(record.expires)}")
    print(f"key:  {plaintext}")
    print("This key is shown once and cannot be recovered; store it now.", file=sys.stderr)


def _create(store: KeyStore, args: argparse.Namespace) -> int:
    try:
        expires = parse_duration(args.expires) if args.expires else None
        plaintext, record = store.create(
            args.user,
            team=args.team,
            groups=[g.strip() for g in args.groups.split(",") if g.strip()],
            country=args.country,
            org=args.org,
            org_country=args.org_country,
            expires_in_s=expires,
            rpm=args.rpm,
            tpm=args.tpm,
            budget_usd=args.budget,
            budget_period=args.budget_period,
        )
    except ValueError as exc:
        print(f"bordergate keys create: {exc}", file=sys.stderr)
        return 2
    _print_new(args, plaintext, record)
    return 0


def _list(store: KeyStore, args: argparse.Namespace) -> int:
    records = store.list()
    now = time.time()
    if args.json:
        sys.stdout.write(orjson.dumps([r.public_dict() for r in records]).decode() + "\n")
        return 0
    print(f"{'ID':22} {'USER':16} {'TEAM':12} {'CREATED':16} {'EXPIRES':16} STATUS")
    for r in records:
        status = (
            "revoked" if r.revoked is not None else "expired" if r.is_expired(now) else "active"
        )
        print(
            f"{r.id:22} {r.user:16} {r.team or '-':12} {_when(r.created):16} "
            f"{_when(r.expires):16} {status}"
        )
    return 0


def _revoke(store: KeyStore, args: argparse.Namespace) -> int:
    record = store.revoke(args.id)
    if args.json:
        sys.stdout.write(orjson.dumps({"id": record.id, "revoked": record.revoked}).decode())
        sys.stdout.write("\n")
    else:
        print(f"revoked {record.id}")
    return 0


def _rotate(store: KeyStore, args: argparse.Namespace) -> int:
    plaintext, record = store.rotate(args.id)
    _print_new(args, plaintext, record)
    return 0
