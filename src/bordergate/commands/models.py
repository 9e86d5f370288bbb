"""`bordergate models list|resolve`: what the catalog knows and what a name stands for."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bordergate.catalog.catalog import Catalog, Model
from bordergate.commands._catalog_config import ConfigUnreadable, fail, load_catalog


def register(subparsers: Any) -> None:
    """Add `models` with its `list` and `resolve` sub-commands."""
    parser = subparsers.add_parser("models", help="inspect the model catalog")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    lst = sub.add_parser("list", help="list catalog models")
    lst.add_argument("--vendor", help="only this vendor (e.g. anthropic, alibaba, qwen)")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--config", help="gateway YAML whose `catalog:` section extends the catalog")
    lst.set_defaults(func=_list)

    res = sub.add_parser("resolve", help="resolve model names to vendor, model and host")
    res.add_argument("names", nargs="+", metavar="NAME")
    res.add_argument("--json", action="store_true", help="print a JSON array")
    res.add_argument("--config", help="gateway YAML whose `catalog:` section extends the catalog")
    res.set_defaults(func=_resolve)


def _model_json(catalog: Catalog, model: Model) -> dict[str, Any]:
    vendor = catalog.vendors.get(model.vendor)
    return {
        "id": model.id,
        "vendor": model.vendor,
        "vendor_country": vendor.country if vendor else None,
        "vendor_parent_country": vendor.parent_country if vendor else None,
        "name": model.name,
        "family": model.family or None,
        "open_weights": model.open_weights,
        "context_window": model.context_window or None,
        "input_price": model.price[0] if model.price else None,
        "output_price": model.price[1] if model.price else None,
        "hosts": sorted({d.host for d in catalog.deployments_of(model.id)}),
    }


def _list(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.config)
    except ConfigUnreadable as exc:
        return fail(str(exc))
    models = catalog.list_models(args.vendor)
    if args.vendor and not models:
        return fail(f"no models of vendor {args.vendor!r}", 1)
    rows = [_model_json(catalog, m) for m in models]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'MODEL':48} {'VENDOR':10} {'CC':3} {'OPEN':5} {'CONTEXT':>9} {'$IN/M':>8} {'$OUT/M':>8}"
    )
    for r in rows:
        ctx = str(r["context_window"] or "-")
        pin = "-" if r["input_price"] is None else f"{r['input_price']:g}"
        pout = "-" if r["output_price"] is None else f"{r['output_price']:g}"
        print(
            f"{r['id']:48} {r['vendor']:10} {r['vendor_country'] or '-':3} "
            f"{'yes' if r['open_weights'] else 'no':5} {ctx:>9} {pin:>8} {pout:>8}"
        )
    return 0


def _resolve(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.config)
    except ConfigUnreadable as exc:
        return fail(str(exc))
    results = [catalog.resolve(name).summary() for name in args.names]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(
            f"{r['name']!r}: vendor={r['vendor']} ({r['vendor_country'] or '?'}) "
            f"model={r['model'] or '-'} host={r['host'] or '-'}"
        )
    return 0
