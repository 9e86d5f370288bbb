"""Every example policy pack passes its own tests.yaml; the runner reports mismatches."""

from __future__ import annotations

from pathlib import Path

import pytest

from bordergate.policy.testrunner import CaseFileError, format_suite, run_suite

PACKS = Path(__file__).resolve().parent.parent / "examples" / "policies"
PACK_NAMES = ["vendor-ban", "adversary-ai", "confidential-stays-home", "provider-customer-terms"]


@pytest.mark.parametrize("pack", PACK_NAMES)
def test_pack_passes_its_tests(pack: str) -> None:
    suite = run_suite(PACKS / pack / "tests.yaml")
    assert len(suite.cases) >= 5
    assert suite.failed == [], format_suite(suite)
    assert {c.expected for c in suite.cases} == {"allow", "deny"}


@pytest.mark.parametrize("pack", PACK_NAMES)
def test_pack_has_readme_and_explicit_default(pack: str) -> None:
    readme = (PACKS / pack / "README.md").read_text()
    assert "20" in readme  # the dated real-world rule
    policy = (PACKS / pack / "policy.cedar").read_text()
    assert f'@id("{pack}.baseline")' in policy


def test_runner_reports_a_readable_diff(tmp_path: Path) -> None:
    (tmp_path / "p.cedar").write_text(
        '@id("base") permit (principal, action, resource);\n'
        '@id("no-claude") @reason("banned") forbid (principal, action, resource)'
        ' when { resource.vendor == "anthropic" };'
    )
    (tmp_path / "t.yaml").write_text(
        "policy: p.cedar\n"
        "cases:\n"
        "  - name: right\n    model: gpt-4o\n    expect: allow\n"
        "  - name: wrong decision\n    model: vertex_ai/claude-sonnet-4-5@20250929\n"
        "    expect: allow\n"
        "  - name: wrong policy\n    model: claude-sonnet-4-5\n    expect: deny\n"
        "    policy: something-else\n"
    )
    suite = run_suite(tmp_path / "t.yaml")
    assert [c.passed for c in suite.cases] == [True, False, False]
    report = format_suite(suite)
    assert "FAIL wrong decision" in report
    assert "- expected: allow" in report
    assert "+ actual:   deny by no-claude" in report
    assert "reason: banned" in report
    assert "expected: deny by something-else" in report
    assert "1/3 passed" in report


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("cases: []\n", "policy"),
        ("policy: p.cedar\n", "cases"),
        ("policy: p.cedar\ncases:\n  - model: x\n    expect: maybe\n", "expect"),
        ("policy: p.cedar\ncases:\n  - model: x\n    expect: deny\n    typo: 1\n", "typo"),
        ("policy: missing.cedar\ncases: []\n", "cannot read"),
    ],
)
def test_bad_case_files_are_named(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "p.cedar").write_text('@id("base") permit (principal, action, resource);')
    (tmp_path / "t.yaml").write_text(content)
    with pytest.raises(CaseFileError) as err:
        run_suite(tmp_path / "t.yaml")
    assert "t.yaml" in str(err.value) and fragment in str(err.value)


def test_docs_example_policy_validates() -> None:
    import re

    from bordergate.policy.engine import validate_policies

    docs = (PACKS.parent.parent / "README.md").read_text()
    blocks = re.findall(r"```cedar\n(.*?)```", docs, re.S)
    assert blocks
    for block in blocks:
        assert validate_policies(block, "README.md")
