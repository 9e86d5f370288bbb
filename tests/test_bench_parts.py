"""Pure pieces of the bench: /proc parsing, micro-benchmark registry, generated configs."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import uvloop
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives at the repo root

from bench import _devupstream, inproc, litellm_target, micro, payloads, procs
from bench.run import bordergate_config


def test_parse_stat_handles_spaces_and_parens_in_command_name() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    raw = "4242 (we ird) (x)) S 1 4242 4240 0 -1 4194560 100 0 0 0 731 99 0 0 20 0 1 0"
    assert procs.parse_stat(raw) == (731, 99, 4242, 4240)


def test_parse_vmrss() -> None:
    assert procs.parse_vmrss_kb("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   40956 kB\n") == 40956
    assert procs.parse_vmrss_kb("Name:\tkthreadd\n") is None


def test_pinned_prefixes_taskset_only_when_asked() -> None:
    assert procs.pinned(["wrk", "-t1"], 1) == ["taskset", "-c", "1", "wrk", "-t1"]
    assert procs.pinned(["wrk"], None) == ["wrk"]


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(micro._REGISTRY)
    micro._REGISTRY.clear()
    try:
        yield
    finally:
        micro._REGISTRY.clear()
        micro._REGISTRY.update(saved)


def test_micro_lists_every_expected_benchmark_even_when_absent(
    clean_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No real provider modules: only what this test registers, and one failed import.
    monkeypatch.setattr(
        micro, "discover", lambda: {"bench.micro_audit": "module bench.micro_audit not present"}
    )

    @micro.register("policy_cached")
    def fast(budget_s: float) -> dict[str, float]:
        return {"p50_us": budget_s}

    @micro.register("dlp_4kb")
    def missing(budget_s: float) -> dict[str, float]:
        raise micro.Unavailable("bordergate.dlp.scan not landed")

    @micro.register("extra", "An extra one")
    def broken(budget_s: float) -> dict[str, float]:
        raise RuntimeError("boom")

    rows = {r["key"]: r for r in micro.run_all(0.25)}
    assert set(rows) == {e.key for e in micro.EXPECTED} | {"extra"}
    assert rows["policy_cached"] == {
        "key": "policy_cached",
        "label": "Policy decision, cached",
        "status": "ok",
        "metrics": {"p50_us": 0.25},
    }
    assert rows["dlp_4kb"]["status"] == "unavailable"
    assert "not landed" in rows["dlp_4kb"]["error"]
    assert rows["extra"]["status"] == "error" and "boom" in rows["extra"]["error"]
    assert rows["audit_strict"]["status"] == "unavailable"
    assert rows["audit_strict"]["error"] == "module bench.micro_audit not present"
    assert rows["policy_uncached"]["status"] == "unavailable"
    assert "does not register 'policy_uncached'" in rows["policy_uncached"]["error"]


def test_timed_reports_percentiles() -> None:
    calls = []
    out = micro.timed(lambda: calls.append(1), budget_s=0.0, min_calls=25)
    assert len(calls) == 25
    assert out["p50_us"] <= out["p99_us"]
    assert out["calls_per_s"] > 0


def test_litellm_config_maps_both_models_to_the_upstream() -> None:
    text = litellm_target.config_text(
        9123, "sk-abc", {"gpt-4o-mini": "gpt-4o-mini", "m-sse": "gpt-4o-mini@chunks=50"}
    )
    cfg = yaml.safe_load(text)
    by_name = {m["model_name"]: m["litellm_params"] for m in cfg["model_list"]}
    assert by_name["m-sse"]["model"] == "openai/gpt-4o-mini@chunks=50"
    assert by_name["gpt-4o-mini"]["api_base"] == "http://127.0.0.1:9123/v1"
    assert cfg["general_settings"]["master_key"] == "sk-abc"
    assert cfg["litellm_settings"]["num_retries"] == 0


def test_unexpected_pth_files_are_flagged() -> None:
    names = ["distutils-precedence.pth", "_virtualenv.pth", "litellm_init.pth"]
    assert litellm_target.unexpected_pth(names) == ("litellm_init.pth",)


def test_litellm_environment_drops_our_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/src")
    env = litellm_target.environment()
    assert "PYTHONPATH" not in env
    assert env["LITELLM_TELEMETRY"] == "False"


def test_bordergate_config_template_fills_every_placeholder(tmp_path: Path) -> None:
    text = bordergate_config(9555, tmp_path / "state", tmp_path / "src.fpi")
    assert not re.search(r"\{[A-Z_]+\}", text)
    cfg = yaml.safe_load(text)
    bases = {p["base_url"] for p in cfg["providers"].values()}
    assert bases == {"http://127.0.0.1:9555/v1"}
    assert payloads.GATEWAY_JSON_MODEL in cfg["models"]
    assert payloads.GATEWAY_SSE_MODEL in cfg["models"]
    assert cfg["dlp"]["fingerprint_index"] == str(tmp_path / "src.fpi")
    for policy in cfg["policy"]["files"]:
        assert Path(policy).is_file(), policy


def test_prompt_is_4kb_and_body_is_openai_shaped() -> None:
    assert len(payloads.prompt().encode()) == 4096
    body = orjson.loads(payloads.chat_body("m", stream=True))
    assert body["model"] == "m" and body["stream"] is True
    assert body["messages"][-1]["content"] == payloads.prompt()


def test_dev_upstream_chunk_knob_and_stream_shape() -> None:
    assert _devupstream.chunk_count("gpt-4o-mini@chunks=50") == 50
    assert _devupstream.chunk_count("gpt-4o-mini") == _devupstream.DEFAULT_CHUNKS
    frames = _devupstream.sse_events("m", 5)
    assert frames[-1] == b"data: [DONE]\n\n"
    contents = [orjson.loads(f[6:])["choices"][0]["delta"].get("content") for f in frames[:-1]]
    assert sum(1 for c in contents if c) == 5


@pytest.mark.parametrize(
    ("target", "sse"), [("floor", False), ("bordergate", True), ("bordergate-noaudit", False)]
)
def test_inproc_drives_each_target_through_the_emulator(target: str, sse: bool) -> None:
    from bordergate.server import chat
    from tests.support import emulator

    record = chat.record
    with emulator() as url, inproc.audit_skipped(target == "bordergate-noaudit"):
        port = int(url.rsplit(":", 1)[1])
        line = uvloop.run(inproc.measure(target, sse, 64, port))
    assert chat.record is record  # the ablation is undone
    kind = "SSE" if sse else "JSON"
    assert re.match(rf"{target} {kind}: 64 requests, [\d,]+ req/s; CPU per request: ", line), line
    assert "unexpected statuses" not in line
