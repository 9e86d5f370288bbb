"""`bordergate policy validate|test`: check policies before the gateway loads them."""

from __future__ import annotations

import argparse
from typing import Any

from bordergate.commands._catalog_config import ConfigUnreadable, fail, load_catalog
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
