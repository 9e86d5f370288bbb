"""`bordergate db upgrade`: apply pending schema migrations (the server also runs them on start)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bordergate.identity.config import ConfigError, load_identity_config
from bordergate.identity.keys import MIGRATIONS as KEY_MIGRATIONS
from bordergate.store.db import Database, migrate

# Components whose tables live in the identity database; others (audit) add theirs here.
COMPONENTS: dict[str, list[dict[str, str]]] = {"keys": KEY_MIGRATIONS}


def register(subparsers: Any) -> None:
    """Add `db upgrade`."""
    db = subparsers.add_parser("db", help="database maintenance")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True
    up = sub.add_parser("upgrade", help="apply pending migrations")
    up.add_argument("--config", required=True, metavar="FILE", help="gateway YAML")
    up.set_defaults(func=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    try:
        config = load_identity_config(args.config)
        db = Database(config.database_url)
    except (ConfigError, ValueError) as exc:
        print(f"bordergate db: {exc}", file=sys.stderr)
        return 2
    try:
        for component, migrations in COMPONENTS.items():
            version = migrate(db, component, migrations)
            print(f"{component}: schema version {version}")
    finally:
        db.close()
    return 0
