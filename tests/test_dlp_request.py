"""Walking every text of OpenAI and Anthropic request bodies, and scanning them."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

import pytest

from bordergate.dlp.request import (
    JSON,
    OBJECT,
    SEALED,
    TEXT,
    RequestFindings,
    iter_texts,
    scan_request,
)
from bordergate.dlp.types import Finding
from tests.support import SIGNED_URLS, SIGNING_KEY_ID
from tests.test_e2e_dlp_support import github_token


class MarkerScanner:
    """Finds `SEC<digits>` tokens (secret) and `MAIL<digits>` tokens (personal data)."""

    def __init__(self) -> None:
        self.calls = 0

    def scan(self, text: str) -> list[Finding]:
        self.calls += 1
        out = [
            Finding("secret", "marker_secret", m.start(), m.end())
            for m in re.finditer(r"SEC\d+", text)
        ]
        out += [
            Finding("personal_data", "marker_email", m.start(), m.end())
            for m in re.finditer(r"MAIL\d+", text)
        ]
        return out


def openai_body() -> dict[str, Any]:
    return {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "sys SEC1"},
            {"role": "developer", "content": [{"type": "text", "text": "dev MAIL2"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "user part SEC3"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png?k=SEC6"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,SEC999"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "SEC998", "arguments": json.dumps({"to": "MAIL4"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "tool said SEC5"},
            {"role": "user", "name": "SEC997", "content": ""},
        ],
    }


def anthropic_body() -> dict[str, Any]:
    return {
        "model": "claude-x",
        "system": [{"type": "text", "text": "sys SEC1"}],
        "messages": [
            {"role": "user", "content": "plain MAIL2"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "send", "input": {"to": "MAIL3"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "ok SEC4"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": [{"type": "text", "text": "nested SEC5"}],
                    },
                    {"type": "document", "source": {"type": "text", "data": "doc MAIL6"}},
                    {"type": "image", "source": {"type": "base64", "data": "SEC996"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/b.png?k=SEC7"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "recall MAIL8", "signature": "SEC995"},
                    {"type": "redacted_thinking", "data": "SEC994"},
                    {"type": "text", "text": "done"},
                ],
            },
        ],
    }


def get(body: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def test_openai_walk_finds_every_text_and_only_texts() -> None:
    body = openai_body()
    refs = list(iter_texts(body, "openai"))
    kinds = {ref.path: ref.kind for ref in refs}
    assert kinds == {
        ("messages", 0, "content"): TEXT,
        ("messages", 1, "content", 0, "text"): TEXT,
        ("messages", 2, "content", 0, "text"): TEXT,
        # The provider fetches an http(s) URL: scanned, never rewritten. A data: URL is a file.
        ("messages", 2, "content", 1, "image_url", "url"): SEALED,
        ("messages", 3, "tool_calls", 0, "id"): SEALED,
        ("messages", 3, "tool_calls", 0, "function", "name"): SEALED,
        ("messages", 3, "tool_calls", 0, "function", "arguments"): JSON,
        ("messages", 4, "content"): TEXT,
        ("messages", 4, "tool_call_id"): SEALED,
        # Names leave too; calls must match them and providers check their shape: sealed.
        ("messages", 5, "name"): SEALED,
    }
    for ref in refs:
        assert get(body, ref.path) == ref.text


def test_anthropic_walk_finds_every_text() -> None:
    body = anthropic_body()
    refs = list(iter_texts(body, "anthropic"))
    kinds = {ref.path: ref.kind for ref in refs}
    assert kinds == {
        ("system", 0, "text"): TEXT,
        ("messages", 0, "content"): TEXT,
        ("messages", 1, "content", 0, "text"): TEXT,
        ("messages", 1, "content", 1, "id"): SEALED,
        ("messages", 1, "content", 1, "name"): SEALED,
        ("messages", 1, "content", 1, "input"): OBJECT,
        ("messages", 2, "content", 0, "tool_use_id"): SEALED,
        ("messages", 2, "content", 0, "content"): TEXT,
        ("messages", 2, "content", 1, "tool_use_id"): SEALED,
        ("messages", 2, "content", 1, "content", 0, "text"): TEXT,
        ("messages", 2, "content", 2, "source", "data"): TEXT,
        ("messages", 2, "content", 4, "source", "url"): SEALED,
        ("messages", 3, "content", 0, "thinking"): SEALED,  # signed: scanned, never rewritten
        ("messages", 3, "content", 2, "text"): TEXT,
    }
    tool_input = next(r for r in refs if r.kind == OBJECT)
    assert json.loads(tool_input.text) == {"to": "MAIL3"}
    assert next(iter_texts({"system": "top", "messages": []}, "anthropic")).path == ("system",)


def test_scan_request_reports_classes_and_rule_counts_without_values() -> None:
    body = openai_body()
    before = copy.deepcopy(body)
    found = scan_request(body, MarkerScanner(), "openai")
    assert found.classes == frozenset({"secret", "personal_data"})
    assert found.rules == {("secret", "marker_secret"): 6, ("personal_data", "marker_email"): 2}
    # Inline files (data: URLs) are not text; tool-call and message names are (sealed).
    values = {ref.text[f.start : f.end] for ref, f in found}
    assert "SEC999" not in values and {"SEC997", "SEC998"} <= values
    assert body == before
    assert len(found.only({"secret"})) == 6
    anthropic = scan_request(anthropic_body(), MarkerScanner(), "anthropic")
    # Signatures and redacted_thinking are opaque provider data, not text.
    assert anthropic.rules == {("secret", "marker_secret"): 4, ("personal_data", "marker_email"): 4}


def test_free_form_fields_besides_messages_are_scanned() -> None:
    openai_extras = {
        "user": "MAIL1",
        "safety_identifier": "SEC2",
        "prompt_cache_key": "SEC3",
        "metadata": {"owner": "MAIL4"},
        "stop": ["SEC5", "end"],
        "response_format": {"type": "json_schema", "json_schema": {"description": "SEC6"}},
        "prediction": {"type": "content", "content": "SEC7"},
        "tools": [{"type": "function", "function": {"name": "SEC8", "description": "d"}}],
        "messages": [],
    }
    kinds = {ref.path: ref.kind for ref in iter_texts(openai_extras, "openai")}
    assert kinds == {
        ("tools", 0, "function", "name"): SEALED,
        ("tools", 0, "function", "description"): TEXT,
        ("user",): TEXT,
        ("safety_identifier",): TEXT,
        ("prompt_cache_key",): TEXT,
        ("stop", 0): TEXT,
        ("stop", 1): TEXT,
        ("metadata",): OBJECT,
        ("response_format",): OBJECT,
        ("prediction", "content"): TEXT,
    }
    found = scan_request(openai_extras, MarkerScanner(), "openai")
    assert found.rules == {("secret", "marker_secret"): 6, ("personal_data", "marker_email"): 2}
    anthropic_extras = {
        "metadata": {"user_id": "MAIL1"},
        "stop_sequences": ["SEC2"],
        "output_format": {"type": "json_schema", "schema": {"description": "SEC3"}},
        "tools": [{"name": "get", "input_schema": {"type": "object"}}],
        "messages": [],
    }
    kinds = {ref.path: ref.kind for ref in iter_texts(anthropic_extras, "anthropic")}
    assert kinds == {
        ("tools", 0, "name"): SEALED,
        ("tools", 0, "input_schema"): OBJECT,
        ("stop_sequences", 0): TEXT,
        ("metadata",): OBJECT,
        ("output_format",): OBJECT,
    }
    history = {
        "messages": [{"role": "assistant", "content": "42", "reasoning_content": "SEC1 MAIL2"}]
    }
    found = scan_request(history, MarkerScanner(), "openai")
    assert {ref.path for ref, _ in found} == {("messages", 0, "reasoning_content")}
    # A string stop sequence, and a prediction given as content parts.
    body = {"stop": "SEC1", "prediction": {"content": [{"type": "text", "text": "MAIL2"}]}}
    assert [ref.path for ref in iter_texts(body, "openai")] == [
        ("stop",),
        ("prediction", "content", 0, "text"),
    ]


def test_fields_this_walk_does_not_know_are_scanned_sealed() -> None:
    body = {
        "model": "m",
        "temperature": 0.2,  # a number: nothing to read
        "user_location": {"latitude": 52.520008},  # numbers in unknown objects: not read
        "tool_choice": {"type": "function", "function": {"name": "SEC1 tool"}},
        "vendor_extension": {"note": "MAIL2 here"},
        "messages": [{"role": "assistant", "content": "x", "audio": {"id": "SEC3 audio"}}],
        "tools": [{"type": "custom", "custom": {"name": "SEC4", "description": "MAIL5"}}],
    }
    found = scan_request(body, MarkerScanner(), "openai")
    assert sorted((ref.path, ref.kind) for ref, _ in found) == [
        (("messages", 0, "audio", "id"), SEALED),  # not a tool-call id: read for everything
        (("tool_choice", "function", "name"), SEALED),
        (("tools", 0, "custom", "description"), TEXT),
        (("tools", 0, "custom", "name"), SEALED),
        (("vendor_extension", "note"), SEALED),
    ]
    anthropic = {
        "model": "m",
        "max_tokens": 5,
        "output_config": {"format": {"type": "json_schema", "schema": {"description": "SEC1"}}},
        "tool_choice": {"type": "tool", "name": "SEC2 tool"},
        # MCP: the server's token is meant for the provider; the rest is read.
        "mcp_servers": [
            {"type": "url", "url": "https://mcp.example/MAIL9", "authorization_token": "SEC9 t"}
        ],
        "messages": [{"role": "user", "content": "hi", "note": "MAIL3 note"}],
    }
    kinds = {ref.path: ref.kind for ref in iter_texts(anthropic, "anthropic")}
    assert kinds == {("output_config",): OBJECT, ("messages", 0, "content"): TEXT}
    found = scan_request(anthropic, MarkerScanner(), "anthropic")
    assert sorted(ref.text[f.start : f.end] for ref, f in found) == [
        "MAIL3",
        "MAIL9",
        "SEC1",
        "SEC2",
    ]


def test_text_files_are_scanned_decoded() -> None:
    text = base64.b64encode(b"notes: SEC1").decode()
    openai_file = {
        "type": "file",
        "file": {"filename": "MAIL2.txt", "file_data": f"data:text/plain;base64,{text}"},
    }
    image = {
        "type": "file",
        "file": {"filename": "a.png", "file_data": "data:image/png;base64,SEC9"},
    }
    body = {"messages": [{"role": "user", "content": [openai_file, image]}]}
    found = scan_request(body, MarkerScanner(), "openai")
    assert {ref.text[f.start : f.end] for ref, f in found} == {"SEC1", "MAIL2"}
    document = {
        "type": "document",
        "title": "MAIL3",
        "source": {"type": "base64", "media_type": "text/plain", "data": text},
    }
    found = scan_request(
        {"messages": [{"role": "user", "content": [document]}]}, MarkerScanner(), "anthropic"
    )
    assert {ref.text[f.start : f.end] for ref, f in found} == {"SEC1", "MAIL3"}


def test_a_value_split_across_text_parts_is_found_on_the_joined_parts() -> None:
    parts = [{"type": "text", "text": "token SE"}, {"type": "text", "text": "C42 and MAIL7"}]
    found = scan_request({"messages": [{"role": "user", "content": parts}]}, MarkerScanner())
    # MAIL7 sits whole in one part (found there, once); SEC42 only exists joined.
    assert sorted((ref.path, ref.kind, ref.text[f.start : f.end]) for ref, f in found) == [
        (("messages", 0, "content"), SEALED, "SEC42"),
        (("messages", 0, "content", 1, "text"), TEXT, "MAIL7"),
    ]
    system = [{"type": "text", "text": "MAI"}, {"type": "text", "text": "L8"}]
    found = scan_request({"system": system, "messages": []}, MarkerScanner(), "anthropic")
    assert [(ref.path, f.cls) for ref, f in found] == [(("system",), "personal_data")]


def test_escaped_json_hides_nothing() -> None:
    arguments = '{"to": "MAIL\\u0031", "note": "ok"}'  # MAIL1, written with an escape
    assert "MAIL1" not in arguments
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    found = scan_request(body, MarkerScanner(), "openai")
    assert [(ref.kind, ref.text[f.start : f.end]) for ref, f in found] == [(SEALED, "MAIL1")]
    plain = json.dumps({"to": "MAIL1"})  # no escape: found on the JSON text itself, once
    call["function"]["arguments"] = plain
    found = scan_request(body, MarkerScanner(), "openai")
    assert [(ref.kind, ref.text[f.start : f.end]) for ref, f in found] == [(JSON, "MAIL1")]


def test_every_other_string_and_unfamiliar_key_is_scanned_sealed() -> None:
    body = {
        "model": "m",
        "seed": "SEC1 as a string",  # a number is expected: a string is text all the same
        "SEC2_as_a_key": 1,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi", "note": "MAIL3 here"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x/a.png", "detail": "SEC4.."},
                    },
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,SEC999"}},
                    {"type": "image_url", "image_url": {"url": "data:text/plain,SEC5 inline"}},
                ],
            }
        ],
    }
    found = scan_request(body, MarkerScanner(), "openai")
    assert {(ref.kind, ref.text[f.start : f.end]) for ref, f in found} == {
        (SEALED, "SEC1"),
        (SEALED, "SEC2"),
        (SEALED, "MAIL3"),
        (SEALED, "SEC4"),
        (SEALED, "SEC5"),
    }
    # Every string the walk yields as a text is scanned once, not again as "uncovered".
    assert len(found.texts) == len({(ref.path, ref.text) for ref in found.texts})


def test_a_custom_key_does_not_hide_a_function_tool() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "SEC1"}, "custom": {}}
    found = scan_request({"messages": [], "tools": [tool]}, MarkerScanner(), "openai")
    assert [ref.path for ref, _ in found] == [("tools", 0, "function", "description")]


def test_split_across_a_text_block_and_a_text_document_is_found() -> None:
    blocks = [
        {"type": "text", "text": "key SE"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "C77"}},
    ]
    body = {"messages": [{"role": "user", "content": blocks}]}
    found = scan_request(body, MarkerScanner(), "anthropic")
    assert [(ref.path, ref.text[f.start : f.end]) for ref, f in found] == [
        (("messages", 0, "content"), "SEC77")
    ]


def test_text_media_types_are_read_whatever_their_case() -> None:
    data = base64.b64encode(b'{"k": "SEC1"}').decode()
    source = {"type": "base64", "media_type": "Application/JSON", "data": data}
    body = {"messages": [{"role": "user", "content": [{"type": "document", "source": source}]}]}
    found = scan_request(body, MarkerScanner(), "anthropic")
    assert [ref.text[f.start : f.end] for ref, f in found] == ["SEC1"]


def test_clean_request_has_no_findings() -> None:
    body = {"messages": [{"role": "user", "content": "hello"}]}
    scanner = MarkerScanner()
    found = scan_request(body, scanner)
    assert not found and found.classes == frozenset() and found.rules == {}
    assert scanner.calls == 1
    assert not RequestFindings()


def test_string_content_with_tool_calls_yields_both() -> None:
    body = {
        "messages": [
            {
                "content": "text SEC1",
                "tool_calls": [{"function": {"arguments": '{"a": "SEC2"}'}}],
            }
        ]
    }
    assert [r.kind for r in iter_texts(body)] == [TEXT, JSON]


def test_malformed_shapes_are_skipped_not_crashed() -> None:
    odd: dict[str, Any] = {
        "messages": [
            "not a dict",
            {"role": "user", "content": [None, "str part", {"type": "text", "text": 5}]},
            {"role": "assistant", "tool_calls": [None, {"function": None}]},
        ]
    }
    assert list(iter_texts(odd)) == []
    assert list(iter_texts({"messages": "x", "system": 3}, "anthropic")) == []
    with pytest.raises(ValueError):
        list(iter_texts({}, "gemini"))


class RuleScanner:
    """Reports a whole text holding a URL as one finding of a given rule (other texts of the
    request, such as a part's `type`, are scanned too and must not count)."""

    def __init__(self, cls: str, rule: str) -> None:
        self.cls, self.rule = cls, rule

    def scan(self, text: str) -> list[Finding]:
        return [Finding(self.cls, self.rule, 0, len(text))] if "://" in text else []


def _image_body(url: str) -> dict[str, Any]:
    part = {"type": "image_url", "image_url": {"url": url}}
    return {"messages": [{"role": "user", "content": [part]}]}


def test_a_signed_storage_url_is_no_finding_in_an_image_url_only() -> None:
    sas = RuleScanner("secret", "azure-sas-token")
    assert not scan_request(_image_body("https://acct.blob.core.windows.net/c/a.png?sig=x"), sas)
    prose = {"messages": [{"role": "user", "content": "https://acct.blob.core.windows.net?sig=x"}]}
    assert scan_request(prose, sas).rules == {("secret", "azure-sas-token"): 1}
    token = RuleScanner("secret", "github-pat")
    found = scan_request(_image_body("https://img.example.com/a.png?token=x"), token)
    assert found.rules == {("secret", "github-pat"): 1}


@pytest.fixture(scope="module")
def real_scanner() -> Any:
    from bordergate.dlp.config import DlpConfig
    from bordergate.dlp.scanner import Scanner

    return Scanner.from_config(DlpConfig())


@pytest.mark.parametrize("kind", sorted(SIGNED_URLS))
def test_signed_storage_urls_are_shared_without_findings(real_scanner: Any, kind: str) -> None:
    assert not scan_request(_image_body(SIGNED_URLS[kind]), real_scanner)


def test_a_key_id_outside_a_signing_parameter_is_still_a_secret(real_scanner: Any) -> None:
    for url in (
        f"https://img.example.com/cat.png?key={SIGNING_KEY_ID}",
        f"https://img.example.com/{SIGNING_KEY_ID}/cat.png",
        f"https://img.example.com/cat.png?note=X-Amz-Credential%3D{SIGNING_KEY_ID}",
    ):
        found = scan_request(_image_body(url), real_scanner)
        assert found.rules == {("secret", "aws-access-key-id"): 1}, url
    # A token riding along in a signed URL is found; blanking the id hides nothing else.
    token = "ghp_" + "k3J9xQ2mVb7RtL5nWc8ZpF1sHd4YgA6eUo0i"
    for kind in ("gcs-v4", "s3-sigv4"):
        found = scan_request(_image_body(f"{SIGNED_URLS[kind]}&t={token}"), real_scanner)
        assert ("secret", "github-pat") in found.rules, kind
    # Only a value shaped like a signing key id is exempt: a token named as one is found.
    for name in ("X-Amz-Credential", "AWSAccessKeyId", "X-Goog-Credential", "GoogleAccessId"):
        found = scan_request(
            _image_body(f"https://evil.example/a.png?{name}={token}"), real_scanner
        )
        assert found.rules == {("secret", "github-pat"): 1}, name
    # The same id in prose is a finding whatever words surround it.
    prose = {"messages": [{"role": "user", "content": f"X-Amz-Credential={SIGNING_KEY_ID}"}]}
    assert scan_request(prose, real_scanner).rules == {("secret", "aws-access-key-id"): 1}


def test_percent_encoded_personal_data_in_a_url_is_found(real_scanner: Any) -> None:
    found = scan_request(
        _image_body("https://img.example.com/a.png?user=john.smith%40gmail.com"), real_scanner
    )
    assert found.rules == {("personal_data", "email"): 1}
    (ref, finding) = next(iter(found))
    assert ref.text[finding.start : finding.end] == "john.smith@gmail.com"


def test_tool_definitions_are_texts_in_both_formats() -> None:
    schema = {"type": "object", "properties": {"to": {"type": "string", "enum": ["MAIL5"]}}}
    openai_tools = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "a", "description": "SEC1", "parameters": schema},
            },
            {"type": "function", "function": {"name": "b"}},  # only its name
        ],
        "functions": [{"name": "c", "description": "legacy MAIL6", "parameters": schema}],
    }
    kinds = {ref.path: ref.kind for ref in iter_texts(openai_tools, "openai")}
    assert kinds == {
        ("tools", 0, "function", "name"): SEALED,
        ("tools", 0, "function", "description"): TEXT,
        ("tools", 0, "function", "parameters"): OBJECT,
        ("tools", 1, "function", "name"): SEALED,
        ("functions", 0, "name"): SEALED,
        ("functions", 0, "description"): TEXT,
        ("functions", 0, "parameters"): OBJECT,
        ("messages", 0, "content"): TEXT,
    }
    anthropic_tools = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "a", "description": "SEC1", "input_schema": schema}],
    }
    kinds = {ref.path: ref.kind for ref in iter_texts(anthropic_tools, "anthropic")}
    assert kinds == {
        ("tools", 0, "name"): SEALED,
        ("tools", 0, "description"): TEXT,
        ("tools", 0, "input_schema"): OBJECT,
        ("messages", 0, "content"): TEXT,
    }
    found = scan_request(anthropic_tools, MarkerScanner(), "anthropic")
    assert {(ref.path, f.cls) for ref, f in found} == {
        (("tools", 0, "description"), "secret"),
        (("tools", 0, "input_schema"), "personal_data"),
    }


def test_real_traffic_that_the_views_must_not_refuse(real_scanner: Any) -> None:
    # An address at the end of one part, read on into the next part's first word, is that
    # part's finding (redactable), not a value split across parts.
    parts = [
        {"type": "text", "text": "My e-mail is alice@example.com."},
        {"type": "text", "text": "Please update my account."},
    ]
    found = scan_request({"messages": [{"role": "user", "content": parts}]}, real_scanner)
    assert [(ref.kind, f.rule) for ref, f in found] == [(TEXT, "email")]
    # Random ids can hold digit runs shaped like phone numbers: ids are read for secrets only.
    call_id = "chatcmpl-tool-17416340938b4626bc0e1e70adcc1b7f"
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    history = {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "ok"},
        ]
    }
    assert not scan_request(history, real_scanner)


def test_a_token_after_an_escaped_newline_in_json_is_found(real_scanner: Any) -> None:
    token = github_token()
    arguments = json.dumps({"path": "t.txt", "content": "# deploy token\n" + token + "\n"})
    assert "\\n" + token in arguments  # the raw JSON text reads "…\\nghp_…"
    call = {"id": "c", "type": "function", "function": {"name": "w", "arguments": arguments}}
    body = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    found = scan_request(body, real_scanner)
    assert found.rules == {("secret", "github-pat"): 1}


def test_line_breaks_written_out_are_read_as_breaks(real_scanner: Any) -> None:
    token = github_token()
    # JSON quoted in a message: the raw text reads "...\\nghp_...".
    quoted = "why does this fail? " + json.dumps({"env": "X=1\n" + token})
    found = scan_request({"messages": [{"role": "user", "content": quoted}]}, real_scanner)
    assert found.rules == {("secret", "github-pat"): 1}
    (ref, finding) = next(iter(found))
    assert ref.kind == TEXT and ref.text[finding.start : finding.end] == token
    # An address after "\\n" is found without the "n", so redaction keeps the break.
    text = "please cc\\ncarol@corp.io today"
    found = scan_request({"messages": [{"role": "user", "content": text}]}, real_scanner)
    (ref, finding) = next(iter(found))
    assert ref.text[finding.start : finding.end] == "carol@corp.io"
    # In tool-call arguments a value at a line's start is found in place: redactable.
    arguments = json.dumps({"to": "ops", "body": "Server list:\nops@corp.io\n"})
    call = {"id": "c", "type": "function", "function": {"name": "w", "arguments": arguments}}
    body = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    assert [ref.kind for ref, _ in scan_request(body, real_scanner)] == [JSON]


def test_inline_files_are_skipped_only_when_they_are_binary(real_scanner: Any) -> None:
    token = github_token()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)).decode()

    def image(url: str) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": url}}

    parts = [image("data:image/png;base64," + png)]
    assert not scan_request({"messages": [{"role": "user", "content": parts}]}, real_scanner)
    for part in (
        image("data:image/png;base64," + token),  # not base64 of an image at all
        image("data:image/png,bob.leak@corp.io"),
        {"type": "input_audio", "input_audio": {"data": token, "format": "wav"}},
        {"type": "text", "text": "hi", "signature": token},  # not a thinking block's
        {"type": "text", "text": "hi", "id": "bob.leak@corp.io"},  # not a tool-call id
        # A real image, with what the client wants out in the URL's header.
        image(f"data:{token};base64," + png),
        image("data:image/png;name=bob.leak%40corp.io;base64," + png),
        {"type": "file", "file": {"file_data": f"data:{token};base64," + png}},
        image(f"data:image/{token};base64," + png),  # in the media type's own place
        {"type": "file", "file": {"file_data": f"data:text/plain;name={token};base64,aGk="}},
    ):
        body = {"messages": [{"role": "user", "content": [part]}]}
        assert scan_request(body, real_scanner), part


def test_texts_sent_back_in_history_are_redactable_texts() -> None:
    cite = {"type": "char_location", "cited_text": "MAIL1 said", "document_title": "MAIL2"}
    answer = {"type": "text", "text": "she said so", "citations": [cite]}
    body = {"messages": [{"role": "assistant", "content": [answer]}]}
    kinds = {ref.path: ref.kind for ref in iter_texts(body, "anthropic")}
    assert kinds[("messages", 0, "content", 0, "citations", 0, "cited_text")] == TEXT
    assert kinds[("messages", 0, "content", 0, "citations", 0, "document_title")] == TEXT
    openrouter = {"messages": [{"role": "assistant", "content": "ok", "reasoning": "MAIL3"}]}
    assert ("messages", 0, "reasoning") in {r.path for r in iter_texts(openrouter, "openai")}
    vllm = {"messages": [], "guided_json": {"properties": {"ip": {"default": "MAIL4"}}}}
    assert [(r.path, r.kind) for r in iter_texts(vllm, "openai")] == [(("guided_json",), OBJECT)]


def test_code_in_a_tool_description_is_documentation_not_a_source_code_finding(
    real_scanner: Any,
) -> None:
    example = (
        "Search the catalogue, e.g.\n\n    from catalogue import search\n"
        "    hits = search(field='x', limit=10)\n    for hit in hits:\n"
        "        print(hit.id, hit.score)\n    return hits\n"
    )
    tool = {"type": "function", "function": {"name": "search", "description": example}}
    in_tools = scan_request({"messages": [], "tools": [tool]}, real_scanner)
    assert not in_tools  # the same text in a message is code:
    in_message = scan_request({"messages": [{"role": "user", "content": example}]}, real_scanner)
    assert in_message.classes == {"source_code"}
    leaky = {**tool["function"], "description": example + "token " + github_token()}
    found = scan_request(
        {"messages": [], "tools": [{"type": "function", "function": leaky}]}, real_scanner
    )
    assert found.classes == {"secret"}
