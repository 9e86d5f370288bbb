"""The policy and catalog commands as an operator runs them: real `bordergate` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import ROOT
from tests.test_e2e_policy_common import PACKS

PACK_NAMES = sorted(p.name for p in PACKS.iterdir() if (p / "tests.yaml").exists())


def bordergate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bordergate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_pack_passes_its_tests_yaml() -> None:
    assert {"vendor-ban", "adversary-ai", "confidential-stays-home", "provider-customer-terms"} <= (
        set(PACK_NAMES)
    )
    files = [str(PACKS / name / "tests.yaml") for name in PACK_NAMES]
    result = bordergate("policy", "test", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(len(yaml.safe_load(Path(f).read_text())["cases"]) for f in files)
    assert result.stdout.rstrip().endswith(f"{total}/{total} cases passed")
    for f in files:
        assert f in result.stdout
    assert "FAIL" not in result.stdout


def test_a_wrong_expectation_fails_with_a_diff(tmp_path: Path) -> None:
    suite = yaml.safe_load((PACKS / "vendor-ban" / "tests.yaml").read_text())
    suite["policy"] = str(PACKS / "vendor-ban" / "policy.cedar")
    case = suite["cases"][0]
    assert case["expect"] == "deny"
    case["expect"] = "allow"
    case.pop("policy", None)
    broken = tmp_path / "tests.yaml"
    broken.write_text(yaml.safe_dump(suite))
    result = bordergate("policy", "test", str(broken))
    assert result.returncode == 1
    assert f"FAIL {case['name']}" in result.stdout
    assert "- expected: allow" in result.stdout
    assert "+ actual:   deny by ban-anthropic" in result.stdout


# Adversarial spellings of real models -> (vendor, vendor_country, model, host).
SPELLINGS = {
    "  GLOBAL.Anthropic.Claude-Sonnet-4-5-20250929-V1:0  ": (
        "anthropic", "US", "anthropic/claude-sonnet-4-5", "aws-bedrock",
    ),
    "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/"
    "eu.anthropic.claude-sonnet-4-5-20250929-v1:0": (
        "anthropic", "US", "anthropic/claude-sonnet-4-5", "aws-bedrock",
    ),
    "vertex_ai/claude-sonnet-4-5@20250929": (
        "anthropic", "US", "anthropic/claude-sonnet-4-5", "google-vertex",
    ),
    "OpenRouter/Anthropic/Claude-Sonnet-4.5": (
        "anthropic", "US", "anthropic/claude-sonnet-4-5", "openrouter",
    ),
    "openrouter/deepseek/deepseek-chat-v3.1": (
        "deepseek", "CN", "deepseek/deepseek-chat-v3.1", "openrouter",
    ),
    "ft:gpt-4o-mini-2024-07-18:acme::abc123": ("openai", "US", "openai/gpt-4o-mini", "openai"),
    "Qwen/Qwen2.5-Coder-32B-Instruct": (
        "alibaba", "CN", "alibaba/qwen2-5-coder-32b-instruct", None,
    ),
    "moonshotai/Kimi-K2-Instruct": ("moonshot", "CN", "moonshot/kimi-k2-instruct", None),
    "openrouter/auto": ("unknown", None, None, "openrouter"),
    "acme-brain-v2": ("unknown", None, None, None),
}  # fmt: skip


def test_models_resolve_adversarial_spellings() -> None:
    result = bordergate("models", "resolve", *SPELLINGS, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [o["name"] for o in out] == list(SPELLINGS)
    got = {o["name"]: (o["vendor"], o["vendor_country"], o["model"], o["host"]) for o in out}
    assert got == SPELLINGS


def test_models_resolve_applies_the_config_catalog(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(
        "catalog:\n"
        "  org_country: DE\n"
        "  models:\n"
        "    - {id: acme/brain-v2, name: Acme Brain v2, open_weights: true}\n"
        "  vendors:\n"
        "    - {id: acme, name: Acme AG, country: DE}\n"
    )
    names = [" Acme/Brain-V2 ", "openrouter/acme/brain-v2", "brain-v2-20250101"]
    result = bordergate("models", "resolve", *names, "--json", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["vendor"], r["vendor_country"], r["model"]) for r in rows] == [
        ("acme", "DE", "acme/brain-v2")
    ] * 3
    assert rows[1]["host"] == "openrouter"
    # Without the config the same names are unknown: the extension is what attributes them.
    plain = json.loads(bordergate("models", "resolve", *names, "--json").stdout)
    assert {r["vendor"] for r in plain} == {"unknown"}


def test_policy_bench_reports_cached_and_uncached() -> None:
    packs = [str(PACKS / name / "policy.cedar") for name in PACK_NAMES]
    result = bordergate("policy", "bench", *packs, "--rounds", "2000")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print("policy bench:", report)  # the numbers go into the report (`pytest -s`)
    assert report["policies"] == sum(
        (PACKS / n / "policy.cedar").read_text().count("@id(") for n in PACK_NAMES
    )
    for key in ("cached_p50_us", "cached_p99_us", "uncached_p50_us", "uncached_p99_us"):
        assert report[key] > 0
