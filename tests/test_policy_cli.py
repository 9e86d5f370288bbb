"""`bordergate policy validate|test`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bordergate.cli import main

PACKS = Path(__file__).resolve().parent.parent / "examples" / "policies"


def test_validate_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = PACKS / "vendor-ban" / "policy.cedar"
    assert main(["policy", "validate", str(good)]) == 0
    assert "ban-anthropic" in capsys.readouterr().out
    bad = tmp_path / "bad.cedar"
    bad.write_text('@id("x") forbid (principal, action, resource) when { resource.vendr == "a" };')
    assert main(["policy", "validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.cedar" in err and "vendr" in err


def test_validate_duplicate_ids_across_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tmp_path / "a.cedar"
    a.write_text('@id("same") permit (principal, action, resource);')
    b = tmp_path / "b.cedar"
    b.write_text('@id("same") forbid (principal, action, resource);')
    assert main(["policy", "validate", str(a), str(b)]) == 1
    assert "duplicate" in capsys.readouterr().err


def test_packs_can_be_combined(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted(PACKS.glob("*/policy.cedar"))]
    assert len(files) >= 4
    assert main(["policy", "validate", *files]) == 0


def test_test_command_passes_packs(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted(PACKS.glob("*/tests.yaml"))]
    assert main(["policy", "test", *files]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "cases passed" in out


def test_test_command_fails_with_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.cedar").write_text((PACKS / "vendor-ban" / "policy.cedar").read_text())
    (tmp_path / "tests.yaml").write_text(
        "policy: policy.cedar\n"
        "cases:\n"
        "  - name: claude via openrouter should pass (it will not)\n"
        "    model: openrouter/anthropic/claude-sonnet-4.5\n"
        "    expect: allow\n"
    )
    assert main(["policy", "test", str(tmp_path / "tests.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL claude via openrouter" in out
    assert "+ actual:   deny by ban-anthropic" in out
    assert "0/1 cases passed - FAILED" in out


def test_bench_reports_cached_and_uncached(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["policy", "bench", "--rounds", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"cached_p50_us", "uncached_p50_us", "cached_p99_us", "uncached_p99_us"} <= set(out)
    assert out["cached_p50_us"] > 0 and out["uncached_p50_us"] > 0
