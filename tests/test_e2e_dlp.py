"""End to end, the data-egress guard: official SDKs -> `bordergate serve` -> `bordergate emulate`.

The gateway runs `examples/emulated.yaml` as shipped (vendor-ban + data-egress policy, personal
data redactable, a fingerprint index of this repository's own `src/`), state under a tmp dir.
Every action of the guard is shown from the outside: pass, redact-and-restore (JSON, streamed,
placeholders split across chunks, tool-call arguments, Anthropic clients), reroute to the
self-hosted deployment, refuse — and what reached the provider is read from the emulator.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml

from bordergate.emulator.content import split_even
from tests.support import (
    ROOT,
    SIGNED_URLS,
    build_fingerprints,
    derive_config,
    emulator,
    gateway,
)
from tests.test_e2e_dlp_support import (
    CN_MOBILE,
    DEMO_KEY,
    EMAIL,
    IBAN,
    PERSONAL,
    PERSONAL_PROSE,
    PLACEHOLDER,
    PRC_ID,
    fold_stream,
    last_seq,
    only_since,
    openai_client,
    secret_cases,
    since,
    texts_of,
)


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


@pytest.fixture(scope="module")
def served(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The gateway's URL and its config file (for `bordergate audit export`)."""
    tmp = tmp_path_factory.mktemp("dlp")
    build_fingerprints(tmp / "bordergate-src.fpi")
    models = yaml.safe_load((ROOT / "examples" / "emulated.yaml").read_text())["models"]
    # The cloud deployment always fails, so the self-hosted one is the fallback.
    models["flaky-mini"] = [
        {
            "provider": "openai",
            "model": "gpt-4o-mini@status=500",
            "base_model": "openai/gpt-4o-mini",
        },
        *models["gpt-4o-mini"][1:],
    ]
    models["cloud-only-mini"] = models["gpt-4o-mini"][:1]  # no self-hosted fallback
    config = derive_config(tmp, emu, models=models)
    with gateway(config) as url:
        yield url, config


@pytest.fixture(scope="module")
def gw(served: tuple[str, Path]) -> str:
    return served[0]


def audit_event(config: Path, request_id: str) -> dict[str, Any]:
    """The audit event of one request, read back with `bordergate audit export`."""
    out = subprocess.run(
        [sys.executable, "-m", "bordergate", "audit", "export", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    matches = [e for e in events if e["request_id"] == request_id]
    assert len(matches) == 1
    return matches[0]


@pytest.fixture
def client(gw: str) -> openai.OpenAI:
    return openai_client(gw)


@pytest.fixture
def claude(gw: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw, api_key=DEMO_KEY, max_retries=0, timeout=30)


def user_text(entry: dict[str, Any]) -> str:
    """The last user message's text as the provider received it (OpenAI shape)."""
    content = entry["body"]["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


def assert_redacted(text: str) -> None:
    """No personal value is in `text`, and placeholders stand where they were."""
    for value in PERSONAL:
        assert value not in text
    kinds = {m.group(0).split("_")[0] for m in PLACEHOLDER.finditer(text)}
    assert kinds == {"[EMAIL", "[PHONE", "[ID", "[IBAN"}, text


# --------------------------------------------------------------------------- pass
def test_clean_prompt_passes_unchanged_to_first_candidate(client: openai.OpenAI, emu: str) -> None:
    seq = last_seq(emu)
    messages = [
        {"role": "system", "content": "You are a helpful poet."},
        {"role": "user", "content": "Write a haiku about autumn leaves in Berlin."},
    ]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert raw.headers["x-bordergate-deployment"].startswith("openai/")
    up = only_since(emu, seq)
    assert up["body"]["model"] == "gpt-4o-mini"
    assert up["body"]["messages"] == messages
    assert raw.parse().choices[0].message.content


# --------------------------------------------------------------------------- redact + restore
def echo_personal(client: openai.OpenAI, model: str = "gpt-4o-mini", **kw: Any) -> Any:
    """Personal data to an echoing provider; the raw response (headers and parsed body)."""
    return client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo"}],
        **kw,
    )


def test_personal_data_redacted_upstream_and_restored_json(client: openai.OpenAI, emu: str) -> None:
    seq = last_seq(emu)
    raw = echo_personal(client)
    assert raw.headers["x-bordergate-deployment"].startswith("openai/")
    sent = user_text(only_since(emu, seq))
    assert_redacted(sent)
    # The same value is the same placeholder: the e-mail occurs twice, one placeholder.
    assert sent.count("[EMAIL_1]") == 2
    assert raw.parse().choices[0].message.content == PERSONAL_PROSE


def test_fallback_after_a_redacted_attempt_failed_redacts_per_candidate(
    client: openai.OpenAI, emu: str
) -> None:
    # The cloud candidate gets placeholders and fails (500); the self-hosted fallback may see
    # personal data, so it gets the original text: each attempt follows its own candidate's
    # plan, and nothing of the failed attempt's vault leaks into the answer.
    seq = last_seq(emu)
    raw = echo_personal(client, "flaky-mini")
    assert raw.headers["x-bordergate-deployment"].startswith("inhouse/")
    first, second = since(emu, seq)
    assert first["body"]["model"] == "gpt-4o-mini@status=500"
    assert_redacted(user_text(first))
    assert second["body"]["model"] == "qwen3-coder-30b"
    assert all(value in user_text(second) for value in PERSONAL)
    assert raw.parse().choices[0].message.content == PERSONAL_PROSE


def test_every_choice_is_restored_when_several_are_asked_for(
    client: openai.OpenAI, emu: str
) -> None:
    seq = last_seq(emu)
    raw = echo_personal(client, n=2)
    assert_redacted(user_text(only_since(emu, seq)))
    assert [c.message.content for c in raw.parse().choices] == [PERSONAL_PROSE] * 2
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        n=2,
        stream=True,
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo chunks=9"}],
    )
    texts = ["", ""]
    for chunk in stream:  # the two choices' chunks interleave; placeholders split in each
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
    assert texts == [PERSONAL_PROSE] * 2


def test_personal_data_restored_in_stream(client: openai.OpenAI, emu: str) -> None:
    seq = last_seq(emu)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo"}],
        stream=True,
    )
    text, _, _, finish = fold_stream(stream)
    assert_redacted(user_text(only_since(emu, seq)))
    assert text == PERSONAL_PROSE
    assert finish == "stop"


def _cuts_inside_placeholder(redacted: str, chunks: int) -> int:
    """How many chunk boundaries of the emulator's split fall strictly inside a placeholder."""
    spans = [m.span() for m in PLACEHOLDER.finditer(redacted)]
    cuts, pos = [], 0
    for piece in split_even(redacted, chunks)[:-1]:
        pos += len(piece)
        cuts.append(pos)
    return sum(1 for c in cuts if any(s < c < e for s, e in spans))


def test_placeholders_split_across_sse_chunks_are_restored(client: openai.OpenAI, emu: str) -> None:
    split_total = 0
    for chunks in (2, 3, 5, 7, 11, 16, 23, 40, 97, 180):
        seq = last_seq(emu)
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": f"{PERSONAL_PROSE}\n@emulator echo chunks={chunks}"}
            ],
            stream=True,
        )
        text, _, _, _ = fold_stream(stream)
        sent = user_text(only_since(emu, seq))
        assert_redacted(sent)
        assert text == PERSONAL_PROSE, f"chunks={chunks}"
        split_total += _cuts_inside_placeholder(sent.split("\n@emulator")[0], chunks)
    # The loop really exercised placeholders cut in two by SSE chunk boundaries.
    assert split_total >= 10


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "send_mail",
            "description": "Send an e-mail",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    }
]


def test_personal_data_restored_in_tool_call_arguments(client: openai.OpenAI, emu: str) -> None:
    seq = last_seq(emu)
    done = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator tool=send_mail"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert_redacted(user_text(only_since(emu, seq)))
    calls = done.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["send_mail"]  # type: ignore[union-attr]
    args = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert args == {"text": PERSONAL_PROSE, "index": 0}


@pytest.mark.parametrize("chunks", [1, 4, 9, 31, 77])
def test_personal_data_restored_in_streamed_tool_call_arguments(
    client: openai.OpenAI, emu: str, chunks: int
) -> None:
    seq = last_seq(emu)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": f"{PERSONAL_PROSE}\n@emulator tool=send_mail chunks={chunks}",
            }
        ],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    _, names, args, finish = fold_stream(stream)
    assert_redacted(user_text(only_since(emu, seq)))
    assert names == {0: "send_mail"} and finish == "tool_calls"
    assert json.loads(args[0]) == {"text": PERSONAL_PROSE, "index": 0}


def test_anthropic_client_personal_data_redacted_and_restored(
    claude: anthropic.Anthropic, emu: str
) -> None:
    seq = last_seq(emu)
    msg = claude.messages.create(
        model="gpt-4o-mini",
        max_tokens=256,
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo"}],
    )
    assert_redacted(user_text(only_since(emu, seq)))
    assert msg.content[0].type == "text" and msg.content[0].text == PERSONAL_PROSE


def test_anthropic_client_stream_restored(claude: anthropic.Anthropic, emu: str) -> None:
    seq = last_seq(emu)
    with claude.messages.stream(
        model="gpt-4o-mini",
        max_tokens=256,
        messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo chunks=13"}],
    ) as stream:
        text = "".join(stream.text_stream)
    assert_redacted(user_text(only_since(emu, seq)))
    assert text == PERSONAL_PROSE


# --------------------------------------------------------------------------- reroute
def own_code() -> str:
    """A chunk of Bordergate's own source, as someone would paste it into a prompt."""
    lines = (ROOT / "src" / "bordergate" / "server" / "chat.py").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def decide("))
    return "\n".join(lines[start : start + 40])


@pytest.mark.parametrize(
    ("prompt", "data_class"),
    [
        (f"Why does this fail?\n```python\n{own_code()}\n```", "internal_code"),
        ("Summarise: CONFIDENTIAL - board minutes, do not distribute.", "confidential"),
        ("Draft the launch plan for Project Nightjar in three bullets.", "confidential"),
    ],
    ids=["own-src-code", "marking", "codename"],
)
def test_internal_material_rerouted_to_self_hosted(
    client: openai.OpenAI, emu: str, served: tuple[str, Path], prompt: str, data_class: str
) -> None:
    seq = last_seq(emu)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
    )
    assert raw.headers["x-bordergate-deployment"].startswith("inhouse/")
    up = only_since(emu, seq)  # only the self-hosted model was asked, never the first candidate
    assert up["body"]["model"] == "qwen3-coder-30b"
    assert user_text(up) == prompt  # in-house: sent as is
    assert raw.parse().choices[0].message.content
    # It was the data class that moved it: the audit event names it (class and rule only).
    event = audit_event(served[1], raw.headers["x-request-id"])
    assert data_class in {f["class"] for f in event["findings"]}
    assert event["deployment"].startswith("inhouse/") and event["decision"] == "allow"


# --------------------------------------------------------------------------- refuse
def assert_denied_without_value(exc: openai.APIStatusError, value: str, rule: str) -> None:
    body = exc.response.text
    assert exc.status_code == 403
    err = exc.response.json()["error"]
    assert err["type"] == "data_policy_denied"
    assert "secret" in err["message"] and rule in err["message"]
    assert "secret" in err["data_classes"] and f"secret:{rule}" in err["rules"]
    assert value not in body


@pytest.mark.parametrize("case", range(3), ids=["aws", "github", "pem"])
def test_secret_refused_with_403_naming_class_and_rule(
    client: openai.OpenAI, emu: str, case: int
) -> None:
    text, value, rule = secret_cases()[case]
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
    assert_denied_without_value(info.value, value, rule)
    assert since(emu, seq) == []


def test_secret_refused_in_anthropic_format(claude: anthropic.Anthropic, emu: str) -> None:
    text, value, rule = secret_cases()[0]
    seq = last_seq(emu)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude.messages.create(
            model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": text}]
        )
    body = info.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "data_policy_denied"
    assert rule in body["error"]["message"]
    assert value not in info.value.response.text
    assert since(emu, seq) == []


def _conversations(text: str) -> dict[str, list[dict[str, Any]]]:
    """The same secret placed in each kind of text a request carries; the last turn is clean."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_mail", "arguments": json.dumps({"text": text})},
    }
    clean_call = {**call, "function": {"name": "send_mail", "arguments": '{"text": "hi"}'}}
    last = {"role": "user", "content": "thanks, go on"}
    return {
        "system": [{"role": "system", "content": text}, last],
        "earlier-message": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "noted"},
            last,
        ],
        "tool-call-arguments": [
            {"role": "user", "content": "mail it"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
            last,
        ],
        "tool-result": [
            {"role": "user", "content": "read the config"},
            {"role": "assistant", "content": None, "tool_calls": [clean_call]},
            {"role": "tool", "tool_call_id": "call_1", "content": f"config:\n{text}\n"},
            last,
        ],
        "content-parts": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look at this"},
                    {"type": "text", "text": text},
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    "where", ["system", "earlier-message", "tool-call-arguments", "tool-result", "content-parts"]
)
def test_every_text_is_scanned(client: openai.OpenAI, emu: str, where: str) -> None:
    text, value, rule = secret_cases()[0]
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=_conversations(text)[where],  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
        )
    assert_denied_without_value(info.value, value, rule)
    assert since(emu, seq) == []


@pytest.mark.parametrize("field", ["metadata", "response_format", "stop", "tool-name"])
def test_free_form_fields_besides_messages_are_scanned(
    client: openai.OpenAI, emu: str, field: str
) -> None:
    _, value, rule = secret_cases()[1]  # a GitHub token: fits in a name and a stop sequence
    schema = {"name": "answer", "schema": {"type": "object", "description": f"use {value}"}}
    extra: dict[str, Any] = {
        "metadata": {"metadata": {"ci_token": value}, "store": True},
        "response_format": {"response_format": {"type": "json_schema", "json_schema": schema}},
        "stop": {"stop": [value]},
        "tool-name": {
            "tools": [{"type": "function", "function": {"name": value, "parameters": {}}}]
        },
    }[field]
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], **extra
        )
    assert_denied_without_value(info.value, value, rule)
    assert since(emu, seq) == []


def test_a_token_split_across_anthropic_text_blocks_is_refused(
    claude: anthropic.Anthropic, emu: str
) -> None:
    # The translation joins a message's text blocks, and a model reads them as one text.
    _, value, rule = secret_cases()[1]
    seq = last_seq(emu)
    blocks = [
        {"type": "text", "text": "my token is " + value[:20]},
        {"type": "text", "text": value[20:] + " thanks"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude.messages.create(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": blocks}]
        )
    assert value not in str(info.value) and rule in str(info.value)
    assert since(emu, seq) == []


def test_personal_data_split_across_parts_is_refused_not_sent(
    client: openai.OpenAI, emu: str
) -> None:
    at = EMAIL.index("@")
    parts = [
        {"type": "text", "text": "write to " + EMAIL[:at]},
        {"type": "text", "text": EMAIL[at:]},
    ]
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="cloud-only-mini",
            messages=[{"role": "user", "content": parts}],  # type: ignore[misc,list-item]
        )
    assert "split across" in str(info.value) and EMAIL not in str(info.value)
    assert since(emu, seq) == []


def test_values_written_with_json_escapes_are_found(client: openai.OpenAI, emu: str) -> None:
    hidden = EMAIL.replace("@", "\\u0040")  # what a JSON encoder may legally write
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_mail", "arguments": '{"to": "' + hidden + '"}'},
    }
    refused = refused_tool_history(client, emu, call, "sent")
    assert "JSON escapes" in str(refused)


def test_a_token_after_a_written_out_line_break_is_refused(client: openai.OpenAI, emu: str) -> None:
    # A tool's output as JSON text: the token follows "\\n", written out.
    _, value, rule = secret_cases()[1]
    output = json.dumps({"stdout": "export A=1\n" + value + "\n"})
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_mail", "arguments": "{}"},
    }
    assert_denied_without_value(refused_tool_history(client, emu, call, output), value, rule)


def refused_tool_history(
    client: openai.OpenAI, emu: str, call: dict[str, Any], result: str
) -> openai.PermissionDeniedError:
    """A conversation with one tool call and its result, refused before anything was sent."""
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="cloud-only-mini",
            messages=[  # type: ignore[list-item]
                {"role": "user", "content": "go on"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": result},
            ],
            tools=TOOLS,  # type: ignore[arg-type]
        )
    assert since(emu, seq) == []
    return info.value


def test_what_leaves_is_what_was_scanned(gw: str, emu: str) -> None:
    # Two `user` keys: the parse keeps the last, a provider's parser might keep the first.
    _, value, _ = secret_cases()[1]
    raw = (
        '{"model": "gpt-4o-mini", "user": "' + value + '", '
        '"messages": [{"role": "user", "content": "hi"}], "user": "user-1234"}'
    )
    seq = last_seq(emu)
    answer = httpx.post(
        f"{gw}/v1/chat/completions",
        content=raw,
        headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200
    sent = only_since(emu, seq)
    assert sent["body"]["user"] == "user-1234"
    assert int(dict(sent["headers"])["content-length"]) < len(raw) - len(value)


@pytest.mark.parametrize("field", ["output_config", "tool_choice", "unknown"])
def test_anthropic_fields_besides_messages_are_scanned(
    claude: anthropic.Anthropic, emu: str, field: str
) -> None:
    _, value, rule = secret_cases()[1]
    extra = {
        "output_config": {
            "format": {"type": "json_schema", "schema": {"type": "object", "description": value}}
        },
        "tool_choice": {"type": "tool", "name": value},
        "unknown": {"note": value},
    }[field]
    seq = last_seq(emu)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude.messages.create(
            model="gpt-4o-mini",
            max_tokens=50,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={field if field != "unknown" else "x_vendor": extra},
        )
    assert value not in str(info.value) and rule in str(info.value)
    assert since(emu, seq) == []


def test_personal_data_in_the_user_field_is_redacted(client: openai.OpenAI, emu: str) -> None:
    seq = last_seq(emu)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], user=EMAIL
    )
    assert only_since(emu, seq)["body"]["user"] == "[EMAIL_1]"


def _look_at(url: str) -> list[dict[str, Any]]:
    parts = [{"type": "text", "text": "what is in this picture?"}]
    return [{"role": "user", "content": [*parts, {"type": "image_url", "image_url": {"url": url}}]}]


def test_a_secret_given_as_the_model_name_is_not_kept_in_the_audit_log(
    client: openai.OpenAI, served: tuple[str, Path]
) -> None:
    _, token, _ = secret_cases()[1]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model=token, messages=[{"role": "user", "content": "x"}])
    event = audit_event(served[1], info.value.response.headers["x-request-id"])
    assert event["model_requested"] == "[redacted]" and event["status"] == 404
    with pytest.raises(openai.NotFoundError) as plain:  # an ordinary typo is kept as written
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert (
        audit_event(served[1], plain.value.response.headers["x-request-id"])["model_requested"]
        == "gpt-9"
    )


def test_secret_in_an_image_url_is_refused(client: openai.OpenAI, emu: str) -> None:
    _, value, rule = secret_cases()[1]  # a GitHub token, as a URL's query parameter
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=_look_at(f"https://img.example.com/cat.png?token={value}"),  # type: ignore[arg-type]
        )
    assert_denied_without_value(info.value, value, rule)
    assert since(emu, seq) == []


def test_personal_data_in_an_image_url_is_refused_not_rewritten(
    client: openai.OpenAI, emu: str
) -> None:
    # The policy would redact the e-mail, but the provider fetches the URL: a placeholder in
    # it would break it, so the request is refused rather than sent with the value in clear.
    email = "anna.schmidt@firma-nord.de"
    url = f"https://img.example.com/cat.png?owner={email}"
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="cloud-only-mini", messages=_look_at(url))  # type: ignore[arg-type]
    err = info.value.response.json()["error"]
    assert err["type"] == "data_policy_denied"
    assert (
        "cannot be done safely" in err["message"] and "URL the provider fetches" in err["message"]
    )
    assert err["data_classes"] == ["personal_data"] and err["rules"] == ["personal_data:email"]
    assert email not in info.value.response.text
    assert since(emu, seq) == []
    # A model with a self-hosted deployment behind the cloud one: that one takes the request
    # as it is (personal data may stay in-house), rather than the request being refused.
    reply = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=_look_at(url),  # type: ignore[arg-type]
    )
    assert reply.headers["x-bordergate-deployment"] == "inhouse/qwen3-coder-30b"
    sent = only_since(emu, seq)["body"]["messages"][0]["content"][1]["image_url"]["url"]
    assert sent == url
    # An image URL with nothing in it passes untouched.
    seq = last_seq(emu)
    url = "https://img.example.com/cat.png?size=large"
    client.chat.completions.create(model="gpt-4o-mini", messages=_look_at(url))  # type: ignore[arg-type]
    assert only_since(emu, seq)["body"]["messages"][0]["content"][1]["image_url"]["url"] == url


def test_signed_storage_urls_reach_the_provider_but_encoded_personal_data_does_not(
    client: openai.OpenAI, emu: str
) -> None:
    # The key id that signs an S3 or GCS URL is how the object is shared, not a leak.
    for kind in ("s3-sigv4", "gcs-v4"):
        seq = last_seq(emu)
        url = SIGNED_URLS[kind]
        client.chat.completions.create(model="gpt-4o-mini", messages=_look_at(url))  # type: ignore[arg-type]
        sent = only_since(emu, seq)["body"]["messages"][0]["content"][1]["image_url"]["url"]
        assert sent == url, kind
    # Percent-encoding does not hide an e-mail address from the scan.
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="cloud-only-mini",
            messages=_look_at("https://img.example.com/cat.png?owner=anna.schmidt%40firma-nord.de"),  # type: ignore[arg-type]
        )
    assert info.value.response.json()["error"]["type"] == "data_policy_denied"
    assert since(emu, seq) == []


def _anthropic_conversations(text: str) -> dict[str, dict[str, Any]]:
    """A secret in each kind of Anthropic content block; the last user turn is clean."""
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "send_mail", "input": {"t": "hi"}}
    last = {"role": "user", "content": "thanks, go on"}
    return {
        "system-blocks": {
            "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": text}],
            "messages": [last],
        },
        "tool-use-input": {
            "messages": [
                {"role": "user", "content": "mail it"},
                {
                    "role": "assistant",
                    "content": [{**tool_use, "input": {"body": {"lines": ["x", text]}}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
                },
            ]
        },
        "tool-result-blocks": {
            "messages": [
                {"role": "user", "content": "read the config"},
                {"role": "assistant", "content": [tool_use]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": text}],
                        }
                    ],
                },
            ]
        },
        "earlier-text-block": {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": text}]},
                {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
                last,
            ]
        },
    }


@pytest.mark.parametrize(
    "where", ["system-blocks", "tool-use-input", "tool-result-blocks", "earlier-text-block"]
)
def test_every_anthropic_block_is_scanned(
    claude: anthropic.Anthropic, emu: str, where: str
) -> None:
    text, value, rule = secret_cases()[1]
    seq = last_seq(emu)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        claude.messages.create(
            model="gpt-4o-mini",
            max_tokens=64,
            tools=[{"name": "send_mail", "input_schema": {"type": "object"}}],
            **_anthropic_conversations(text)[where],
        )
    err = info.value.response.json()["error"]
    assert err["type"] == "data_policy_denied" and rule in err["message"]
    assert value not in info.value.response.text
    assert since(emu, seq) == []


def test_personal_data_redacted_in_every_text_of_the_conversation(
    client: openai.OpenAI, emu: str
) -> None:
    """Not only the last message: system prompt, history, tool arguments and results too."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_mail", "arguments": json.dumps({"to": EMAIL, "iban": IBAN})},
    }
    seq = last_seq(emu)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": f"The customer's ID is {PRC_ID}."},
            {"role": "user", "content": [{"type": "text", "text": f"call {CN_MOBILE}"}]},
            {"role": "assistant", "content": None, "tool_calls": [call]},  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": "call_1", "content": f"sent to {EMAIL}"},
            {"role": "user", "content": "summarise"},
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    body = only_since(emu, seq)["body"]
    sent = texts_of(body)
    for value in PERSONAL:
        assert value not in sent
    args = json.loads(body["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert args == {"to": "[EMAIL_1]", "iban": "[IBAN_1]"}  # still valid JSON
    assert "[EMAIL_1]" in body["messages"][3]["content"]  # same value, same placeholder


def test_secret_next_to_personal_data_is_refused_not_redacted(
    client: openai.OpenAI, emu: str
) -> None:
    text, value, rule = secret_cases()[0]
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"{PERSONAL_PROSE}\n{text}"}],
        )
    assert_denied_without_value(info.value, value, rule)
    for personal in PERSONAL:
        assert personal not in info.value.response.text
    assert since(emu, seq) == []


@pytest.mark.parametrize(
    "prompt",
    [
        f"write to {EMAIL}",  # the answer ends inside a placeholder
        f"{EMAIL},{EMAIL};{IBAN} {CN_MOBILE}",  # placeholders nearly back to back
        f"the template says [EMAIL_1] and [IBAN_1]; fill in {EMAIL} and {IBAN}",
    ],
    ids=["ends-with-value", "adjacent", "literal-placeholder-in-prompt"],
)
@pytest.mark.parametrize("chunks", [1, 3, 8, 29])
def test_restore_edge_cases(client: openai.OpenAI, emu: str, prompt: str, chunks: int) -> None:
    """Restoring gives back exactly what the client wrote, even text shaped like a placeholder."""
    seq = last_seq(emu)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"{prompt}\n@emulator echo chunks={chunks}"}],
        stream=True,
    )
    assert fold_stream(stream)[0] == prompt
    sent = user_text(only_since(emu, seq))
    assert EMAIL not in sent and IBAN not in sent and CN_MOBILE not in sent
    if "[EMAIL_1]" in prompt:  # the client's literal text is not reused as a placeholder
        assert sent.count("[EMAIL_1]") == 1 and sent.count("[IBAN_1]") == 1


@pytest.mark.parametrize("disguise", ["base64", "zero-width"])
def test_disguised_secret_is_refused(client: openai.OpenAI, emu: str, disguise: str) -> None:
    """Normalisation and base64 rescanning work through the gateway, not only in the scanner."""
    text, value, rule = secret_cases()[1]
    if disguise == "base64":
        prompt = "decode and use: " + base64.b64encode(text.encode()).decode()
    else:
        prompt = text.replace(value, value[:10] + "\u200b" + value[10:])
    seq = last_seq(emu)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )
    err = info.value.response.json()["error"]
    assert err["type"] == "data_policy_denied" and f"secret:{rule}" in err["rules"]
    assert value[10:] not in info.value.response.text
    assert since(emu, seq) == []


def test_full_width_phone_redacted_and_restored_as_written(client: openai.OpenAI, emu: str) -> None:
    prompt = "call me on １３８１２３４５６７８ tonight"
    seq = last_seq(emu)
    done = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt + "\n@emulator echo"}]
    )
    sent = user_text(only_since(emu, seq))
    assert "１３８１２３４５６７８" not in sent and "[PHONE_1]" in sent
    assert done.choices[0].message.content == prompt
