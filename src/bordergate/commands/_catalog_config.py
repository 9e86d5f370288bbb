"""Shared by CLI commands: read the `catalog:` key of a gateway config file, tolerantly."""

from __future__ import annotations

import sys

from bordergate.catalog.catalog import Catalog
from bordergate.config import ConfigError, load_config


class ConfigUnreadable(Exception):
    """The --config file cannot be used; the message says why."""


def load_catalog(config_path: str | None) -> Catalog:
    """The catalog with the `catalog:` section of the gateway config file applied."""
    if not config_path:
        return Catalog.load()
    try:
        return Catalog.load(load_config(config_path, env_sections={"catalog"}).catalog)
    except ConfigError as exc:
        raise ConfigUnreadable(str(exc)) from None


def fail(message: str, status: int = 2) -> int:
    """Print an error for a human and return the exit status."""
    print(f"bordergate: {message}", file=sys.stderr)
    return status
