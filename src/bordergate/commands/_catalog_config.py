"""Shared by CLI commands: read the `catalog:` key of a gateway config file, tolerantly."""

from __future__ import annotations

import sys

import yaml
from pydantic import ValidationError

from bordergate.catalog.catalog import Catalog
from bordergate.catalog.config import CatalogConfig


class ConfigUnreadable(Exception):
    """The --config file cannot be used; the message says why."""


def load_catalog(config_path: str | None) -> Catalog:
    """The catalog with the `catalog:` section of `config_path` applied (other keys ignored).

    The full gateway config belongs to the server; the CLI only needs this one section, so it
    does not interpolate secrets or validate anything else.
    """
    if not config_path:
        return Catalog.load()
    try:
        with open(config_path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigUnreadable(f"{config_path}: {exc}") from exc
    try:
        return Catalog.load(CatalogConfig.from_gateway_config(document))
    except ValidationError as exc:
        raise ConfigUnreadable(f"{config_path}: catalog: {exc}") from exc


def fail(message: str, status: int = 2) -> int:
    """Print an error for a human and return the exit status."""
    print(f"bordergate: {message}", file=sys.stderr)
    return status
