"""`bordergate policy validate|test`: check policies before the gateway loads them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bordergate.catalog.catalog import Catalog
from bordergate.commands._catalog_config import ConfigUnreadable, fail, load_catalog
from bordergate.identity.principal import Principal
from bordergate.policy.bench import measure
from bordergate.policy.engine import PolicyEngine, PolicyError, validate_policies
from bordergate.policy.testrunner import CaseFileError, format_suite, run_suite


def register(subparsers: Any) -> None:
    """Add `policy` with its `validate` and `test` sub-commands."""
    parser = subparsers.add_parser("policy", help="validate and test Cedar policies")
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION")
    sub.required = True

    val = sub.add_parser("validate", help="parse and validate policy files against the schema")
    val.add_argument("files", nargs="+", metavar="FILE")
    val.set_defaults(func=_validate)

    test = sub.add_parser("test", help="run policy test cases (tests.yaml)")
    test.add_argument("files", nargs="+", metavar="CASES.yaml")
    test.add_argument("--config", help="gateway YAML whose `catalog:` section extends the catalog")
    test.add_argument("-v", "--verbose", action="store_true", help="also list passing cases")
    test.set_defaults(func=_test)

    bench = sub.add_parser("bench", help="time cached and uncached policy decisions")
    bench.add_argument("files", nargs="*", metavar="FILE", help="policy files (default: a ban)")
    bench.add_argument("--model", default="bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    bench.add_argument("--rounds", type=int, default=2000)
    bench.set_defaults(func=_bench)


def _validate(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as fh:
                infos = validate_policies(fh.read(), path)
        except OSError as exc:
            status = fail(f"{path}: cannot read: {exc.strerror or exc}", 1)
            continue
        except PolicyError as exc:
            status = fail(str(exc), 1)
            continue
        ids = ", ".join(i.id for i in infos)
        print(f"ok {path}: {len(infos)} policies ({ids})")
    if status == 0 and len(args.files) > 1:
        try:
            PolicyEngine.from_files(args.files)  # catches duplicate ids across files
        except PolicyError as exc:
            return fail(f"as one policy set: {exc}", 1)
    return status


_BENCH_POLICY = """
@id("baseline") permit (principal, action, resource);
@id("ban") @reason("banned vendor") forbid (principal, action, resource)
when { resource.vendor == "anthropic" };
@id("home") @reason("secrets stay home") forbid (principal, action, resource)
when { context.data_classes.contains("secret") && resource.host_country != principal.org_country };
"""


def _bench(args: argparse.Namespace) -> int:
    try:
        engine = (
            PolicyEngine.from_files(args.files)
            if args.files
            else PolicyEngine.from_text(_BENCH_POLICY, "<bench>")
        )
    except PolicyError as exc:
        return fail(str(exc), 1)
    catalog = Catalog.load()
    facts = catalog.deployment_facts("bench", "", args.model)
    principal = Principal(id="bench", team="eng", groups=("dev",), country="US", org_country="US")
    result = measure(engine, principal, facts, rounds=max(args.rounds, 100))
    print(json.dumps({"policies": len(engine.policies), "model": args.model, **result}))
    return 0


def _test(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.config) if args.config else None
    except ConfigUnreadable as exc:
        return fail(str(exc))
    status = 0
    total = failed = 0
    for path in args.files:
        try:
            suite = run_suite(path, catalog)
        except CaseFileError as exc:
            status = fail(str(exc), 1)
            continue
        print(format_suite(suite, verbose=args.verbose))
        total += len(suite.cases)
        failed += len(suite.failed)
    if failed:
        status = 1
    print(f"{total - failed}/{total} cases passed" + (" - FAILED" if status else ""))
    return status
