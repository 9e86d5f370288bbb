"""`bordergate models list|resolve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bordergate.cli import main


def test_resolve_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["claude-sonnet-4-5", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "zzz"]
    assert main(["models", "resolve", *names, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [set(o) for o in out] == [{"name", "vendor", "vendor_country", "model", "host"}] * 3
    assert [o["name"] for o in out] == names
    assert out[0]["vendor"] == out[1]["vendor"] == "anthropic"
    assert out[1]["host"] == "aws-bedrock" and out[0]["host"] is None
    assert out[2] == {
        "name": "zzz", "vendor": "unknown", "vendor_country": None, "model": None, "host": None
    }  # fmt: skip


def test_list_by_vendor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--vendor", "deepseek", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["vendor"] for r in rows} == {"deepseek"}
    assert {r["vendor_country"] for r in rows} == {"CN"}
    assert main(["models", "list", "--vendor", "anthropic"]) == 0
    text = capsys.readouterr().out
    assert "anthropic/claude-sonnet-4-5" in text and "deepseek" not in text
    assert main(["models", "list", "--vendor", "nobody"]) == 1


def test_config_catalog_section_is_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(
        "server: {port: 4000}\n"
        "providers:\n  whatever:\n    base_url: http://x\n    api_key: ${NOT_INTERPOLATED}\n"
        "catalog:\n"
        "  vendors: [{id: acme, name: Acme, country: GB}]\n"
        "  models: [{id: acme/house-1, aliases: [house]}]\n"
    )
    assert main(["models", "resolve", "house", "--json", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["vendor"] == "acme" and out[0]["vendor_country"] == "GB"
    bad = tmp_path / "bad.yaml"
    bad.write_text("catalog:\n  vendorz: []\n")
    assert main(["models", "resolve", "x", "--config", str(bad)]) == 2
    assert "vendorz" in capsys.readouterr().err


def test_console_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bordergate", "models", "resolve", "qwen-max", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["vendor"] == "alibaba"
