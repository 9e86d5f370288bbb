"""Pure parts of the emulator: knob parsing, reply planning, token estimates."""

from __future__ import annotations

import hashlib
import json

import pytest

from bordergate.emulator import digest_of, estimate_tokens
from bordergate.emulator.content import (
    IMAGE_TOKENS,
    anthropic_prompt,
    openai_prompt,
    plan_reply,
    split_even,
    tool_names,
)
from bordergate.emulator.knobs import (
    DEFAULT_KNOBS,
    KnobError,
    Knobs,
    build_knobs,
    split_model,
    strip_directives,
)


def test_digest_is_sha256_prefix() -> None:
    assert digest_of("héllo") == hashlib.sha256("héllo".encode()).hexdigest()[:16]
    assert digest_of("a") != digest_of("b")


def test_estimate_tokens_rounds_up_quarter_characters() -> None:
    assert [estimate_tokens("x" * n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_split_model_takes_only_known_suffix_knobs() -> None:
    assert split_model("gpt-4o-mini") == ("gpt-4o-mini", {})
    assert split_model("gpt-4o-mini@latency_ms=50@chunks=3") == (
        "gpt-4o-mini",
        {"latency_ms": "50", "chunks": "3"},
    )
    # Vertex-style version suffixes are part of the model name, not knobs.
    assert split_model("claude-3-5-sonnet@20240620@echo") == (
        "claude-3-5-sonnet@20240620",
        {"echo": None},
    )
    assert split_model("claude-3-5-sonnet@20240620") == ("claude-3-5-sonnet@20240620", {})


def test_strip_directives_removes_only_directive_lines() -> None:
    text, pairs = strip_directives("first\n@emulator echo chunks=2\nlast")
    assert text == "first\nlast"
    assert pairs == {"echo": None, "chunks": "2"}
    # A mention inside a line is not a directive.
    assert strip_directives("say @emulator echo please") == ("say @emulator echo please", {})


def test_unknown_directive_key_is_an_error() -> None:
    with pytest.raises(KnobError, match="latencyms"):
        strip_directives("@emulator latencyms=5")


def test_directive_overrides_model_suffix() -> None:
    knobs = build_knobs({"chunks": "3", "latency_ms": "7"}, {"chunks": "9"})
    assert (knobs.chunks, knobs.latency_ms) == (9, 7)
    assert build_knobs() is DEFAULT_KNOBS


@pytest.mark.parametrize(
    "pairs",
    [
        {"chunks": "0"},
        {"latency_ms": "-1"},
        {"latency_ms": "fast"},
        {"status": "200"},
        {"status": "600"},
        {"echo": "maybe"},
        {"tool": ""},
        {"tool": ","},
        {"tools": "0"},
    ],
)
def test_invalid_knob_values_are_rejected(pairs: dict[str, str | None]) -> None:
    with pytest.raises(KnobError):
        build_knobs(pairs)


def test_tool_names_from_knob_declared_tools_or_generated() -> None:
    assert tool_names(Knobs(tool=("a", "b")), ["x"]) == ["a", "b"]
    assert tool_names(Knobs(tools=3), ["x", "y"]) == ["x", "y", "x"]
    assert tool_names(Knobs(tools=2), []) == ["tool_1", "tool_2"]
    assert tool_names(Knobs(tool=("a",), tools=3), []) == ["a", "a", "a"]


def test_plan_reply_text_and_tool_calls() -> None:
    text_reply = plan_reply("m", "hi", DEFAULT_KNOBS, [], "call_")
    assert text_reply.text == f"emulated reply from m: sha256={digest_of('hi')}"
    assert text_reply.output_tokens == estimate_tokens(text_reply.text)
    assert plan_reply("m", "hi", Knobs(echo=True, words=2), [], "c").text == "hi w1 w2"

    calls = plan_reply("m", "hi", Knobs(tools=2), ["f", "g"], "call_").tool_calls
    assert [c.name for c in calls] == ["f", "g"]
    assert [json.loads(c.arguments) for c in calls] == [
        {"text": "hi", "index": 0},
        {"text": "hi", "index": 1},
    ]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(("text", "parts"), [("abcdefghij", 3), ("ab", 5), ("", 2), ("x", 1)])
def test_split_even_is_lossless_and_exact(text: str, parts: int) -> None:
    pieces = split_even(text, parts)
    assert len(pieces) == parts
    assert "".join(pieces) == text
    assert max(map(len, pieces)) - min(map(len, pieces)) <= 1


def test_openai_prompt_counts_every_message_and_images() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": "old answer"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "this?"},
            ],
        },
    ]
    prompt = openai_prompt(messages)
    assert prompt.last_user_text == "what is\nthis?"
    assert prompt.images == 1
    texts = ["be brief", "old question", "old answer", "what is", "this?"]
    assert prompt.input_tokens == sum(map(estimate_tokens, texts)) + IMAGE_TOKENS


def test_anthropic_prompt_reads_system_blocks_and_tool_results() -> None:
    messages = [
        {"role": "user", "content": "look this up"},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "42 degrees"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png"}},
            ],
        },
    ]
    prompt = anthropic_prompt([{"type": "text", "text": "sys"}], messages)
    assert prompt.last_user_text == "42 degrees"
    assert prompt.images == 1
    expected = sum(map(estimate_tokens, ["sys", "look this up", "42 degrees"])) + IMAGE_TOKENS
    assert prompt.input_tokens == expected


def test_routes_for_vendor_and_cloud_paths() -> None:
    from bordergate.emulator.routes import match_route

    assert match_route("/v1/chat/completions") == match_route("/chat/completions")
    azure = match_route("/openai/deployments/prod-gpt/chat/completions")
    assert azure is not None
    assert (azure.anthropic, azure.auth, azure.path_model) == (False, "azure", "prod-gpt")
    vertex = match_route(
        "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude@2025:streamRawPredict"
    )
    assert vertex is not None
    assert (vertex.anthropic, vertex.path_model, vertex.vertex) == (True, "claude@2025", True)
    counting = match_route(
        "/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict"
    )
    assert counting is not None and counting.counting
    assert match_route("/v1/projects/p/locations/l/publishers/anthropic/models/c:predict") is None
    assert match_route("/openai/deployments//chat/completions") is None
    assert match_route("/v1/embeddings") is None
