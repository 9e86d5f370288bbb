"""`bordergate explain`: the gateway's own decision, told without sending a request.

The strongest check is agreement: for every shipped pack, caller, configured model and set of
data classes, explain's outcome equals what the gateway's `decide` step (server/chat.py) does
with the same config, including redaction and the kind of refusal.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bordergate.cli import main
from bordergate.config import load_config
from bordergate.dlp.request import RequestFindings, TextRef
from bordergate.dlp.types import Finding
from bordergate.identity.principal import Principal
from bordergate.server.chat import decide
from bordergate.server.errors import GatewayError
from bordergate.server.gateway import Gateway
from tests.support import ROOT
from tests.test_e2e_policy_common import pack, policy_config

NOWHERE = "http://127.0.0.1:9"  # explain never calls a provider


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["explain", *argv])
    return status, capsys.readouterr().out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo config (vendor-ban + data-egress) with a fallback model behind Claude."""
    return policy_config(
        tmp_path_factory.mktemp("explain"),
        NOWHERE,
        [pack("vendor-ban"), pack("data-egress")],
        extra_models={
            "smart": [
                {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"},
                {"provider": "openai", "model": "gpt-4o"},
            ]
        },
    )


def test_json_denial_names_policy_reason_and_alternatives(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(
        capsys, "--config", str(demo), "--user", "dana", "--org-country", "de",
        "--model", "claude-sonnet-4-5", "--json",
    )  # fmt: skip
    assert status == 0
    r = json.loads(out)
    assert r["decision"] == "deny" and r["error_type"] == "policy_denied"
    assert r["deployment"] is None and r["vendor"] == "anthropic"
    assert r["policies"] == ["ban-anthropic"]
    assert "banned" in r["reasons"][0]
    assert r["alternatives"] == [
        "gpt-4o-mini", "qwen3-coder-plus", "deepseek-chat", "inhouse-coder", "smart",
    ]  # fmt: skip
    assert r["configured"] is True
    assert r["principal"]["org_country"] == "DE"
    # Claude is banned wherever it is hosted: on Anthropic's API and on Bedrock in Frankfurt.
    first, bedrock = r["candidates"]
    assert first["deployment"] == "anthropic/claude-sonnet-4-5-20250929"
    assert (first["host"], first["host_country"], first["decision"]) == ("anthropic", "US", "deny")
    assert bedrock["deployment"] == "bedrock/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (bedrock["host"], bedrock["region"], bedrock["decision"]) == (
        "aws-bedrock",
        "eu-central-1",
        "deny",
    )


def test_json_allow_through_second_candidate(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run(capsys, "--config", str(demo), "--user", "dana", "--model", "smart", "--json")
    r = json.loads(out)
    assert r["decision"] == "allow"
    assert r["deployment"] == "openai/gpt-4o" and r["vendor"] == "openai"
    assert [c["decision"] for c in r["candidates"]] == ["deny", "allow"]
    assert r["candidates"][0]["policies"] == ["ban-anthropic"]
    assert r["alternatives"] == [] and r["redact"] == []


def test_redaction_mirrors_the_gateway(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(
        capsys, "--config", str(demo), "--user", "dana", "--model", "gpt-4o-mini",
        "--data-class", "personal_data", "--json",
    )  # fmt: skip
    r = json.loads(out)
    assert r["decision"] == "allow" and r["redact"] == ["personal_data"]
    assert r["deployment"] == "openai/gpt-4o-mini"
    first = r["candidates"][0]
    assert first["as_is"]["decision"] == "deny"
    assert first["as_is"]["policies"] == ["personal-data-in-house"]
    assert first["decision"] == "allow" and first["redact"] == ["personal_data"]


def test_data_refusal_is_data_policy_denied(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(
        capsys, "--config", str(demo), "--user", "dana", "--model", "gpt-4o-mini",
        "--data-class", "secret", "--data-class", "personal_data", "--json",
    )  # fmt: skip
    r = json.loads(out)
    assert r["decision"] == "deny" and r["error_type"] == "data_policy_denied"
    # As the gateway does, the refusal names what denied the request as sent.
    assert r["policies"] == ["no-secrets-out", "personal-data-in-house"]
    openai_row = r["candidates"][0]
    assert openai_row["if_redacted"] == {
        "decision": "deny",
        "policies": ["no-secrets-out"],
        "reasons": ["credentials and private keys are never sent to any model"],
    }


def test_unconfigured_spelling_is_explained_through_the_catalog(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "  Vertex_AI/Claude-Sonnet-4-5@20250929 "
    _, out = run(capsys, "--config", str(demo), "--user", "dana", "--model", name, "--json")
    r = json.loads(out)
    assert r["configured"] is False
    assert "not a client-facing model" in r["notes"][0]
    assert r["decision"] == "deny" and r["policies"] == ["ban-anthropic"]
    [cand] = r["candidates"]
    assert (cand["vendor"], cand["host"]) == ("anthropic", "google-vertex")
    assert "smart" in r["alternatives"]
    _, out = run(
        capsys, "--config", str(demo), "--user", "dana",
        "--model", "Qwen/Qwen2.5-Coder-32B-Instruct", "--json",
    )  # fmt: skip
    r = json.loads(out)
    assert r["decision"] == "allow" and r["vendor"] == "alibaba" and r["deployment"] is None


def test_human_output(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(
        capsys, "--config", str(demo), "--user", "dana", "--team", "eng", "--groups", "dev,ops",
        "--org-country", "DE", "--model", "smart",
    )  # fmt: skip
    assert "caller:  dana (team eng, groups dev,ops, org country DE)" in out
    assert "1. anthropic/claude-sonnet-4-5-20250929: vendor anthropic (US)" in out
    assert "deny by ban-anthropic: Anthropic models" in out
    assert "2. openai/gpt-4o: vendor openai (US)" in out
    assert out.rstrip().splitlines()[-2] == "ALLOW: served by openai/gpt-4o"
    _, out = run(
        capsys, "--config", str(demo), "--user", "dana", "--model", "gpt-4o-mini",
        "--data-class", "personal_data",
    )  # fmt: skip
    assert "as is: deny by personal-data-in-house" in out
    assert "redacting personal_data: allow" in out
    assert "ALLOW: served by openai/gpt-4o-mini redacting personal_data" in out
    _, out = run(capsys, "--config", str(demo), "--user", "dana", "--model", "claude-sonnet-4-5")
    assert "DENY (policy_denied) by ban-anthropic" in out
    assert "may use instead: gpt-4o-mini, qwen3-coder-plus" in out


def test_bad_config_and_bad_policy_fail_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_policy = tmp_path / "p.cedar"
    bad_policy.write_text('@id("x") permit (principal, action, resource) when { resource.vendr };')
    cfg = policy_config(tmp_path, NOWHERE, [str(bad_policy)])
    status = main(["explain", "--config", str(cfg), "--user", "u", "--model", "gpt-4o-mini"])
    assert status != 0 and "vendr" in capsys.readouterr().err
    status = main(
        ["explain", "--config", str(tmp_path / "nope.yaml"), "--user", "u", "--model", "x"]
    )
    assert status != 0 and "cannot read" in capsys.readouterr().err


def test_console_command_runs() -> None:
    cfg = ROOT / "examples" / "emulated.yaml"
    out = subprocess.run(
        [sys.executable, "-m", "bordergate", "explain", "--config", str(cfg), "--user", "dana",
         "--model", "deepseek-chat", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    r = json.loads(out.stdout)
    assert r["decision"] == "allow" and r["deployment"] == "deepseek/deepseek-chat"
    assert r["vendor"] == "deepseek" and r["resolution"]["vendor_country"] == "CN"


# --------------------------------------------------------------------------- agreement
PRINCIPALS = [
    Principal(id="dana", team="eng", country="DE", org="acme", org_country="DE"),
    Principal(id="li", team="eng", country="SG", org="acme-asia", org_country="CN"),
    Principal(id="sam", country="US", org_country="US"),
]
CLASSES = ["personal_data", "secret", "confidential", "internal_code"]
PACK_SETS = [
    ["vendor-ban", "data-egress"],
    ["adversary-ai"],
    ["confidential-stays-home"],
    ["provider-customer-terms"],
]


def _findings(classes: tuple[str, ...]) -> RequestFindings | None:
    if not classes:
        return None
    ref = TextRef((), "text", "x")
    return RequestFindings([(ref, Finding(c, f"{c}-rule", 0, 1)) for c in classes])


def _gateway_says(gw: Gateway, p: Principal, name: str, classes: tuple[str, ...]) -> dict[str, Any]:
    engine = gw.engine
    assert engine is not None
    try:
        plan = decide(gw, engine, p, gw.deployments[name], _findings(classes), 0, "chat")
    except GatewayError as exc:
        return {
            "decision": "deny",
            "error_type": exc.type,
            "policies": exc.extra["policy_ids"],
            "reasons": exc.extra["reasons"],
            "alternatives": exc.extra.get("alternatives", []),
        }
    dep, redact = plan.permitted[0]
    return {
        "decision": "allow",
        "deployment": dep.id,
        "redact": sorted(redact),
        "policies": list(plan.policy_ids),
    }


@pytest.mark.parametrize("packs", PACK_SETS, ids=["+".join(p) for p in PACK_SETS])
def test_explain_agrees_with_the_gateway(packs: list[str], tmp_path: Path) -> None:
    from bordergate.commands.explain import Gatekeeper, build_report

    cfg_path = policy_config(
        tmp_path,
        NOWHERE,
        [pack(p) for p in packs],
        extra_models={
            "smart": [
                {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"},
                {"provider": "deepseek", "model": "deepseek-chat"},
                {"provider": "openai", "model": "gpt-4o"},
            ]
        },
        redactable=("personal_data", "confidential"),
    )
    config = load_config(cfg_path)
    gw = Gateway.from_config(config)
    keeper = Gatekeeper.from_config(config, gw.engine)
    compared = 0
    for p, name in itertools.product(PRINCIPALS, gw.deployments):
        for n in range(3):
            for classes in itertools.combinations(CLASSES, n):
                want = _gateway_says(gw, p, name, classes)
                got = build_report(keeper, gw.engine, p, name, frozenset(classes))
                assert got["decision"] == want["decision"], (p, name, classes)
                assert got["policies"] == want["policies"], (p, name, classes)
                if want["decision"] == "allow":
                    assert got["deployment"] == want["deployment"], (p, name, classes)
                    assert got["redact"] == want["redact"], (p, name, classes)
                else:
                    assert got["error_type"] == want["error_type"], (p, name, classes)
                    assert got["reasons"] == want["reasons"], (p, name, classes)
                    assert got["alternatives"] == want["alternatives"], (p, name, classes)
                compared += 1
    assert compared == len(PRINCIPALS) * len(gw.deployments) * 11
