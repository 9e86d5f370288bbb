"""Stored bodies, piece by piece: masking, stream assembly, and what one request's record seals.

The end-to-end behaviour (official SDKs through `bordergate serve`) is in
`test_e2e_audit_bodies.py`; here each part is held to its contract with exact values.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bordergate.audit.bodies import BodyCipher
from bordergate.audit.config import AuditConfig
from bordergate.audit.service import AuditLog
from bordergate.dlp.config import DlpConfig
from bordergate.dlp.mask import Masker
from bordergate.dlp.redact import Redactor
from bordergate.dlp.request import scan_request
from bordergate.dlp.scanner import Scanner
from bordergate.dlp.types import Finding
from bordergate.server.bodies import BodyRecord
from bordergate.wire.assemble import StreamAssembler

KEY = "11" * 32
TOKEN = "ghp_R7x2Kq9LmN4pV8sT1wY6zB3cD5fG0hJ2aE4u"
EMAIL = "anna.schmidt@firma-nord.de"


def assembled(fmt: str, data: bytes) -> dict[str, Any]:
    """A whole stream through the assembler, with room for all of its text."""
    assembler = StreamAssembler(fmt, max_chars=len(data) + 1)
    assembler.feed(data)
    return assembler.result()


def sse(*events: Any, names: bool = False) -> bytes:
    out = b""
    for event in events:
        if names:
            out += b"event: " + event["type"].encode() + b"\n"
        out += b"data: " + orjson.dumps(event) + b"\n\n"
    return out


class Spans:
    """A detector that reports fixed findings (to pin down how spans are replaced)."""

    def __init__(self, *findings: Finding) -> None:
        self.findings = list(findings)

    def scan(self, text: str) -> list[Finding]:
        return [f for f in self.findings if f.end <= len(text)]


# --------------------------------------------------------------------------- masking
def test_known_values_are_replaced_everywhere_longest_first() -> None:
    masker = Masker({"abc": "[SECRET]", "abcdef": "[PERSONAL_DATA]"})
    assert masker.text("x abcdef y abc z") == "x [PERSONAL_DATA] y [SECRET] z"


def test_detected_spans_are_merged_and_named_by_class() -> None:
    text = "0123456789"
    masker = Masker({}, Spans(Finding("secret", "a", 2, 5), Finding("personal_data", "b", 4, 7)))
    assert masker.text(text) == "01[SECRET]789"


def test_json_walk_masks_strings_and_keys_and_keeps_other_values() -> None:
    masker = Masker({"v": "[SECRET]"})
    value = {"v": ["v", 1, None, True, {"k": "a v b"}]}
    assert masker.json(value) == {"[SECRET]": ["[SECRET]", 1, None, True, {"k": "a [SECRET] b"}]}


def test_mask_request_replaces_every_finding_including_json_and_sealed_texts() -> None:
    scanner = Scanner.from_config(DlpConfig())
    url = "https://example.com/card?to=" + EMAIL.replace("@", "%40")
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": f"mail {EMAIL}, key {TOKEN}"},
                {"type": "image", "source": {"type": "url", "url": url}},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "send", "input": {"to": EMAIL}},
            ]},
        ],
    }  # fmt: skip
    findings = scan_request(body, scanner, "anthropic")
    redactor = Redactor()
    masked = redactor.mask_request(body, findings)
    text = json.dumps(masked)
    assert EMAIL not in text and TOKEN not in text and "%40" not in text
    user = masked["messages"][0]["content"]
    assert user[0]["text"] == "mail [EMAIL_1], key [SECRET_1]"
    assert user[1]["source"]["url"].startswith("[")  # a URL is replaced whole
    assert masked["messages"][1]["content"][0]["input"] == {"to": "[EMAIL_1]"}
    assert redactor.vault["[EMAIL_1]"] == EMAIL
    assert body["messages"][0]["content"][0]["text"].startswith("mail anna")  # not mutated


def test_json_held_in_a_string_is_masked_through_its_escaping() -> None:
    code = 'def f():\n    return "x"'
    arguments = json.dumps({"path": "a.py", "text": code})  # "\n" and "\"" inside
    masker = Masker({code: "[CODE_1]"})
    masked = masker.json({"arguments": arguments})
    assert json.loads(masked["arguments"]) == {"path": "a.py", "text": "[CODE_1]"}


def test_json_cut_short_is_unescaped_before_masking() -> None:
    code = 'def f():\n    return "x"'
    cut = json.dumps({"path": "a.py", "text": code + " and more"})[:-2]  # not JSON any more
    masker = Masker({code: "[CODE_1]"})
    assert masker.json(cut) == '{"path": "a.py", "text": "[CODE_1] and more'
    # Cut inside the value itself: its beginning, unescaped, is masked as well.
    assert masker.json(json.dumps({"text": code})[:-6]) == '{"text": "[CODE_1]'


def test_keys_and_long_numbers_are_masked_too() -> None:
    scanner = Scanner.from_config(DlpConfig())
    card = 4990695848304011  # a Luhn-valid card number, sent as a JSON number
    masked = Masker({}, scanner).json({TOKEN: 1, "card": card, "count": 12345678, "n": 3})
    assert masked == {"[SECRET]": 1, "card": "[PERSONAL_DATA]", "count": 12345678, "n": 3}


def test_the_beginning_of_a_known_value_at_a_texts_end_is_masked() -> None:
    masker = Masker({EMAIL: "[EMAIL_1]"})
    assert masker.text("note for anna.schmidt@firma-") == "note for [EMAIL_1]"
    assert masker.text("Dear anna") == "Dear anna"  # too short to tell from a word
    assert masker.text(f"{EMAIL}, anna.sch") == "[EMAIL_1], [EMAIL_1]"


# --------------------------------------------------------------------------- assembly
def test_openai_stream_assembles_text_tool_calls_finish_and_usage() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get"}}
    data = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [{**call, "function": {"name": "get", "arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"X"}'}}]}),
        chunk({}, "tool_calls"),
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    )
    data += b"data: [DONE]\n\n"
    # Cut anywhere: the assembler parses events, not pieces.
    result = assembled("openai", data)
    assert result["id"] == "c1" and result["streamed"] is True
    assert result["usage"] == {"prompt_tokens": 3, "completion_tokens": 4}
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Hello"
    assert choice["message"]["tool_calls"] == [
        {
            "type": "function",
            "id": "call_1",
            "function": {"name": "get", "arguments": '{"city":"X"}'},
        }
    ]


def test_openai_stream_keeps_an_error_event() -> None:
    data = sse({"choices": [{"index": 0, "delta": {"content": "a"}}]}, {"error": {"message": "x"}})
    result = assembled("openai", data)
    assert result["error"] == {"message": "x"}
    assert result["choices"][0]["message"]["content"] == "a"


def test_assembler_stops_keeping_text_at_its_cap_but_keeps_the_ending() -> None:
    data = sse(
        *({"id": "c", "choices": [{"index": 0, "delta": {"content": "abcd"}}]} for _ in range(10)),
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        {"id": "c", "choices": [], "usage": {"completion_tokens": 10}},
    )
    assembler = StreamAssembler("openai", max_chars=10)
    for i in range(0, len(data), 5):
        assembler.feed(data[i : i + 5])
    result = assembler.result()
    assert assembler.cut
    (choice,) = result["choices"]
    assert choice["message"]["content"] == "abcdabcdabcd"  # stopped at the first past the cap
    assert choice["finish_reason"] == "length" and result["usage"] == {"completion_tokens": 10}
    whole = StreamAssembler("openai", max_chars=1000)
    whole.feed(data)
    assert whole.result()["choices"][0]["message"]["content"] == "abcd" * 10 and not whole.cut


def test_anthropic_stream_assembles_blocks_and_stop() -> None:
    data = sse(
        {"type": "message_start", "message": {"id": "m1", "model": "claude", "content": [],
                                              "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "you"}},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "t1", "name": "get", "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
        names=True,
    )  # fmt: skip
    result = assembled("anthropic", data)
    assert result["id"] == "m1" and result["stop_reason"] == "tool_use"
    assert result["usage"] == {"input_tokens": 5, "output_tokens": 7}
    assert result["content"] == [
        {"type": "text", "text": "Hi you"},
        {"type": "tool_use", "id": "t1", "name": "get", "input": {"a": 1}},
    ]


# --------------------------------------------------------------------------- BodyRecord
@pytest.fixture
def audit(tmp_path: Path) -> Any:
    config = AuditConfig(
        database=f"sqlite:///{tmp_path}/a.db", store_bodies=True, body_encryption_key=KEY
    )
    log = AuditLog.open(config)
    yield log
    asyncio.run(log.close())


def opened(request_id: str, kind: str, token: str | None) -> Any:
    assert token is not None
    return json.loads(BodyCipher(bytes.fromhex(KEY)).open(request_id, kind, token))


def test_prompt_and_answer_are_masked_then_sealed_to_their_request(audit: Any) -> None:
    scanner = Scanner.from_config(DlpConfig())
    body = {"model": "m", "messages": [{"role": "user", "content": f"write to {EMAIL}"}]}
    record = BodyRecord(1_048_576)
    record.take_prompt(body, scan_request(body, scanner, "openai"))
    answer = {"choices": [{"message": {"content": f"Sure, {EMAIL}. Use {TOKEN}."}}]}
    record.take_answer(orjson.dumps(answer))
    prompt_enc, response_enc = record.seal(audit, "req_1", scanner)
    assert EMAIL not in str(prompt_enc) and "write to" not in str(prompt_enc)  # encrypted
    prompt = opened("req_1", "prompt", prompt_enc)
    assert prompt["messages"][0]["content"] == "write to [EMAIL_1]"
    # The request's value, echoed (as the prompt's placeholder), and a credential only the
    # answer's own scan finds (as its class).
    content = opened("req_1", "response", response_enc)["choices"][0]["message"]["content"]
    assert content == "Sure, [EMAIL_1]. Use [SECRET]."
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag: bound to its request id
        BodyCipher(bytes.fromhex(KEY)).open("req_2", "prompt", prompt_enc)


def test_every_field_of_a_stored_prompt_is_masked(audit: Any) -> None:
    scanner = Scanner.from_config(DlpConfig())
    part = {"type": "text", "text": f"mail {EMAIL}", "x_note": TOKEN}  # an unfamiliar key
    body = {
        "model": "m",
        "user": EMAIL,
        "metadata": {"owner": EMAIL},
        # A provider's own extension (vLLM): each string read, sealed, replaced whole.
        "chat_template_kwargs": {"owner": EMAIL},
        "messages": [{"role": "user", "content": [part]}],
    }
    record = BodyRecord(1_048_576)
    record.take_prompt(body, scan_request(body, scanner, "openai"))
    prompt_enc, _ = record.seal(audit, "req_m", scanner)
    prompt = opened("req_m", "prompt", prompt_enc)
    assert prompt["user"] == "[EMAIL_1]" and prompt["metadata"] == {"owner": "[EMAIL_1]"}
    assert prompt["chat_template_kwargs"] == {"owner": "[EMAIL_1]"}
    # Read by the request scan as an unfamiliar field: sealed, so replaced whole.
    assert prompt["messages"][0]["content"][0] == {
        "type": "text",
        "text": "mail [EMAIL_1]",
        "x_note": "[SECRET_1]",
    }
    # What only the second scan finds keeps its class: code in a tool's description, which
    # the request scan lets pass as documentation.
    code = (
        "    from catalogue import search\n    hits = search(field='x', limit=10)\n"
        "    for hit in hits:\n        print(hit.id, hit.score)\n    return hits\n"
    )
    tool = {"type": "function", "function": {"name": "search", "description": "e.g.\n\n" + code}}
    body = {"model": "m", "tools": [tool], "messages": [{"role": "user", "content": "hi"}]}
    record = BodyRecord(1_048_576)
    record.take_prompt(body, scan_request(body, scanner, "openai"))
    prompt = opened("req_t", "prompt", record.seal(audit, "req_t", scanner)[0])
    assert "[SOURCE_CODE]" in prompt["tools"][0]["function"]["description"]


def test_a_stream_is_stored_as_its_assembled_answer(audit: Any) -> None:
    scanner = Scanner.from_config(DlpConfig())
    record = BodyRecord(1_048_576)
    record.take_prompt({"messages": []}, None)
    record.start_stream("openai")
    # The credential arrives cut in three deltas: no single event holds it.
    pieces = [TOKEN[:10], TOKEN[10:25], TOKEN[25:]]
    data = sse(*({"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces))
    for i in range(0, len(data), 7):  # relayed in arbitrary pieces
        record.take_piece(data[i : i + 7])
    _, response_enc = record.seal(audit, "req_s", scanner)
    answer = opened("req_s", "response", response_enc)
    assert answer["streamed"] is True
    assert answer["choices"][0]["message"]["content"] == "[SECRET]"


def test_large_bodies_are_cut_at_the_limit_and_say_so(audit: Any) -> None:
    record = BodyRecord(1024)
    record.take_prompt({"text": "x" * 5000}, None)
    record.start_stream("openai")
    chunk = sse({"choices": [{"index": 0, "delta": {"content": "y" * 100}}]})
    for _ in range(200):
        record.take_piece(chunk)
    prompt_enc, response_enc = record.seal(audit, "req_big", None)
    prompt = opened("req_big", "prompt", prompt_enc)
    assert prompt["bordergate_truncated"]["bytes"] > 5000
    assert len(prompt["bordergate_truncated"]["stored"]) == 1024
    answer = opened("req_big", "response", response_enc)
    # The stream's text was no longer kept past the limit, so its whole size is unknown.
    assert answer["bordergate_truncated"]["bytes"] is None
    stored_text = answer["bordergate_truncated"]["stored"]
    assert len(stored_text) == 1024 and stored_text.count("y") > 900


def test_nothing_to_store_seals_nothing_and_non_json_answers_say_so(audit: Any) -> None:
    assert BodyRecord(1024).seal(audit, "req_0", None) == (None, None)
    record = BodyRecord(1024)
    record.take_answer(b"<html>oops</html>")
    _, response_enc = record.seal(audit, "req_h", None)
    assert "bordergate_unreadable" in opened("req_h", "response", response_enc)


def test_a_body_that_cannot_be_masked_is_withheld(audit: Any) -> None:
    class Broken:
        def scan(self, text: str) -> list[Finding]:
            from bordergate.dlp.scanner import ScanError

            raise ScanError("scan timed out")

    record = BodyRecord(1024)
    record.take_answer(b'{"content": "anything"}')
    _, response_enc = record.seal(audit, "req_w", Broken())
    assert opened("req_w", "response", response_enc) == {
        "bordergate_withheld": "the response could not be masked"
    }


def test_a_key_of_the_wrong_shape_says_what_shape_is_wanted() -> None:
    for bad in ("z" * 64, "", "0123456789abcdef0123456789abcdef"):
        with pytest.raises(ValueError, match="64 hex digits or the base64 of 32 bytes"):
            AuditConfig(store_bodies=True, body_encryption_key=bad)
