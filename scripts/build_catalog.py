"""Derive src/bordergate/catalog/data/catalog.json from the models.dev snapshot.

Usage: PYTHONPATH=src python scripts/build_catalog.py [SOURCE_JSON] [OUT_JSON]

models.dev (MIT, see src/bordergate/catalog/data/LICENSE.models-dev) lists models by creator
and by host. We keep only what the gateway needs: per model its canonical id `vendor/model`,
name, family, open weights, context window and list prices; per deployment its host, region,
upstream model id and price. Hosts we cannot name and place (see catalog/hosts.py) are skipped,
and so are host entries whose vendor cannot be recognised. The attribution of every host entry
goes through the same parser the gateway uses at run time, so build and run agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bordergate.catalog.hosts import MODELS_DEV_HOSTS
from bordergate.catalog.resolve import canonical_name, fold, keyword_vendor, parse
from bordergate.catalog.vendors import VENDOR_PREFIXES, VENDORS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent.parent / "shared" / "data" / "models-dev" / "catalog.json"
DEFAULT_OUT = ROOT / "src" / "bordergate" / "catalog" / "data" / "catalog.json"


def _model_record(entry: dict[str, Any]) -> dict[str, Any]:
    limit = entry.get("limit") or {}
    return {
        "name": entry.get("name", ""),
        "family": entry.get("family", ""),
        "open_weights": bool(entry.get("open_weights", False)),
        "context_window": int(limit.get("context") or 0),
        "price": None,
    }


def _price(entry: dict[str, Any]) -> list[float] | None:
    cost = entry.get("cost") or {}
    if "input" in cost and "output" in cost:
        return [float(cost["input"]), float(cost["output"])]
    return None


def build(source: dict[str, Any], license_text: str = "") -> dict[str, Any]:
    """The shipped catalog document from a models.dev snapshot (and its licence text)."""
    models: dict[str, dict[str, Any]] = {}
    index: dict[str, str] = {}
    secondary: dict[str, str] = {}

    for creator, entries in sorted(source["creators"].items()):
        vendor = VENDOR_PREFIXES.get(creator)
        if vendor is None:
            continue
        for raw_id, entry in sorted(entries.items()):
            canonical = f"{vendor}/{canonical_name(raw_id.lower())}"
            # The undated entry describes the model; dated snapshots only add spellings.
            if canonical not in models or canonical.endswith("/" + raw_id.lower()):
                models[canonical] = _model_record(entry)
            index.setdefault(fold(raw_id), canonical)
            index.setdefault(fold(canonical.split("/", 1)[1]), canonical)
            for key in parse(raw_id).keys:  # e.g. without "-instruct": a secondary spelling
                secondary.setdefault(key, canonical)
    for key, canonical in secondary.items():
        index.setdefault(key, canonical)

    deployments: list[list[Any]] = []
    first_party: dict[str, list[float]] = {}
    any_price: dict[str, list[float]] = {}
    for md_host, (host, region) in sorted(MODELS_DEV_HOSTS.items()):
        entries = source["hosts"].get(md_host, {}).get("models", {})
        for upstream, entry in sorted(entries.items()):
            attributed = _attribute(upstream, entry, index)
            if attributed is None:
                continue
            canonical = attributed
            if canonical not in models:
                models[canonical] = _model_record(entry)
                index.setdefault(fold(canonical.split("/", 1)[1]), canonical)
            price = _price(entry)
            deployments.append([host, region, upstream, canonical, price])
            if price:
                any_price.setdefault(canonical, price)
                if md_host == canonical.split("/", 1)[0] or host == _first_party(canonical):
                    first_party.setdefault(canonical, price)
    for canonical, record in models.items():
        record["price"] = first_party.get(canonical) or any_price.get(canonical)

    return {
        "source": source.get("source", "models.dev"),
        "license": "Derived from models.dev (MIT); see LICENSE.models-dev next to this file.",
        # The licence text travels inside the data too, so attribution survives packaging.
        "license_text": license_text,
        "deployment_fields": ["host", "region", "upstream", "model", "price"],
        "models": dict(sorted(models.items())),
        "deployments": deployments,
    }


def _first_party(canonical: str) -> str:
    from bordergate.catalog.hosts import FIRST_PARTY_HOST

    return FIRST_PARTY_HOST.get(canonical.split("/", 1)[0], "")


def _attribute(upstream: str, entry: dict[str, Any], index: dict[str, str]) -> str | None:
    """Canonical model id of one host entry, or None when its vendor is not recognisable."""
    base = entry.get("base_model")
    if isinstance(base, str) and "/" in base:
        creator, model = base.split("/", 1)
        vendor = VENDOR_PREFIXES.get(creator.lower())
        if vendor:
            return index.get(fold(model)) or f"{vendor}/{canonical_name(model.lower())}"
    parsed = parse(upstream)
    vendor = keyword_vendor(parsed.core) or parsed.vendor_hint
    for key in parsed.keys:
        hit = index.get(key)
        if hit and (vendor is None or hit.startswith(vendor + "/")):
            return hit
    if vendor is None or vendor not in VENDORS:
        return None
    return f"{vendor}/{canonical_name(parsed.core)}"


def main(argv: list[str]) -> int:
    source_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    out_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    licence = source_path.parent / "LICENSE"
    license_text = licence.read_text() if licence.exists() else ""
    document = build(json.loads(source_path.read_text()), license_text)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w") as fh:
        fh.write("{\n")
        head = {k: v for k, v in document.items() if k not in ("models", "deployments")}
        for key, value in head.items():
            fh.write(f"{json.dumps(key)}: {json.dumps(value)},\n")
        fh.write('"models": {\n')
        rows = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in document["models"].items()]
        fh.write(",\n".join(rows))
        fh.write('\n},\n"deployments": [\n')
        fh.write(",\n".join(json.dumps(d) for d in document["deployments"]))
        fh.write("\n]\n}\n")
    print(
        f"wrote {out_path}: {len(document['models'])} models, "
        f"{len(document['deployments'])} deployments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
