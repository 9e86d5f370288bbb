"""Reversible redaction of request bodies and restoration of responses, whole and streamed."""

from __future__ import annotations

import copy
import json
import random
import re
from typing import Any

import pytest

from bordergate.dlp.redact import RedactionError, Redactor, default_label
from bordergate.dlp.request import scan_request
from bordergate.dlp.restore import (
    StreamRestorer,
    StreamRestorers,
    restore_response,
    restore_text,
)
from bordergate.dlp.types import Finding

EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
KEY_RE = re.compile(r"sk-[A-Za-z0-9]{12,}")
PHONE_RE = re.compile(r"(?<![\w-])\+?\d[\d -]{8,}\d(?!\w)")


class Scanner:
    """A stand-in for the detectors: e-mails, phones (personal data) and `sk-` keys (secret)."""

    def scan(self, text: str) -> list[Finding]:
        out = [
            Finding("personal_data", "email", m.start(), m.end()) for m in EMAIL_RE.finditer(text)
        ]
        out += [
            Finding("personal_data", "phone_intl", m.start(), m.end())
            for m in PHONE_RE.finditer(text)
        ]
        out += [Finding("secret", "openai_key", m.start(), m.end()) for m in KEY_RE.finditer(text)]
        return out


ALICE = "alice@example.com"
BOB = "bob.o'neil@example.org"
KEY = "sk-AbCdEf0123456789"
PII = {"personal_data"}


def redact(
    body: dict[str, Any], fmt: str = "openai", classes: set[str] = PII
) -> tuple[Redactor, dict[str, Any]]:
    redactor = Redactor()
    found = scan_request(body, Scanner(), fmt)
    return redactor, redactor.redact_request(body, found, classes)


def all_text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def test_same_value_same_placeholder_across_messages() -> None:
    body = {
        "messages": [
            {"role": "system", "content": f"Escalate to {ALICE}."},
            {"role": "user", "content": f"Mail {ALICE} and {BOB}, not {ALICE}. Key {KEY}."},
        ]
    }
    original = copy.deepcopy(body)
    redactor, new = redact(body)
    assert new["messages"][0]["content"] == "Escalate to [EMAIL_1]."
    assert (
        new["messages"][1]["content"] == f"Mail [EMAIL_1] and [EMAIL_2], not [EMAIL_1]. Key {KEY}."
    )
    assert dict(redactor.vault) == {"[EMAIL_1]": ALICE, "[EMAIL_2]": BOB}
    assert body == original  # the request body is never mutated


def test_copy_on_write_shares_untouched_parts() -> None:
    body = {
        "model": "m",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "clean"}]},
            {"role": "user", "content": [{"type": "text", "text": f"hi {ALICE}"}]},
        ],
    }
    _, new = redact(body)
    assert new is not body
    assert new["tools"] is body["tools"]
    assert new["messages"][0] is body["messages"][0]
    assert new["messages"][1] is not body["messages"][1]
    assert new["messages"][1]["content"][0]["text"] == "hi [EMAIL_1]"


def test_nothing_to_redact_returns_the_same_body() -> None:
    body = {"messages": [{"role": "user", "content": f"key {KEY}"}]}
    redactor, new = redact(body)  # the secret is not in the redacted classes
    assert new is body and not redactor.vault


def test_secret_redaction_when_policy_allows_it() -> None:
    body = {"messages": [{"role": "user", "content": f"use {KEY} and {KEY}"}]}
    redactor, new = redact(body, classes={"secret"})
    assert new["messages"][0]["content"] == "use [SECRET_1] and [SECRET_1]"
    assert KEY not in all_text(new)
    assert dict(redactor.vault) == {"[SECRET_1]": KEY}


TRICKY = [
    'quote"d@example.com',
    "back\\slash@example.com",
    "ünïcødé@exämple.com",
    "emoji😀x@example.com",
    "tab\there@example.com",
]


@pytest.mark.parametrize("value", TRICKY)
def test_tool_arguments_stay_valid_json_and_round_trip(value: str) -> None:
    args = json.dumps({"to": value, "cc": [value, "x"], "n": 1}, ensure_ascii=False)
    body = {
        "messages": [
            {"role": "user", "content": f"write to {value}"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "send", "arguments": args}}
                ],
            },
        ]
    }
    # The same value, escaped differently in JSON, is one placeholder.
    ascii_args = json.dumps({"to": value})
    body["messages"].append(
        {"role": "assistant", "tool_calls": [{"function": {"name": "s", "arguments": ascii_args}}]}
    )

    class Exact:
        def scan(self, text: str) -> list[Finding]:
            needles = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
            return [
                Finding("personal_data", "email", m.start(), m.end())
                for n in needles
                for m in re.finditer(re.escape(n), text)
            ]

    redactor = Redactor()
    new = redactor.redact_request(body, scan_request(body, Exact()), PII)
    new_args = new["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(new_args) == {"to": "[EMAIL_1]", "cc": ["[EMAIL_1]", "x"], "n": 1}
    assert json.loads(new["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {
        "to": "[EMAIL_1]"
    }
    assert dict(redactor.vault) == {"[EMAIL_1]": value}
    # The model answers with the placeholder in its own tool call: restored, JSON-escaped.
    restored = restore_text('{"to": "[EMAIL_1]"}', redactor.vault, json_depth=1)
    assert json.loads(restored) == {"to": value}
    assert restore_text("sent to [EMAIL_1]", redactor.vault) == f"sent to {value}"


def test_finding_crossing_json_structure_redacts_only_string_contents() -> None:
    args = '{"password": "hunter2-very-secret", "n": 13812345678}'
    body = {"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": args}}]}]}

    class Wide:
        def scan(self, text: str) -> list[Finding]:
            if "hunter2" not in text or "138" not in text:  # the request's other texts
                return []
            start = text.index("hunter2") - 3  # starts inside the structure `": "`
            return [
                Finding("secret", "generic_password", start, text.index('",')),
                Finding("personal_data", "phone_cn", text.index("138") + 2, text.index("678")),
            ]

    redactor = Redactor()
    new = redactor.redact_request(body, scan_request(body, Wide()), {"secret", "personal_data"})
    parsed = json.loads(new["messages"][0]["tool_calls"][0]["function"]["arguments"])
    assert parsed == {"password": "[PASSWORD_1]", "n": "[PHONE_1]"}
    assert redactor.vault["[PHONE_1]"] == "13812345678"
    assert redactor.vault["[PASSWORD_1]"] == "hunter2-very-secret"


def test_span_inside_an_escape_sequence_is_widened() -> None:
    args = json.dumps({"v": 'a"b\u00e9c'})  # {"v": "a\"b\u00e9c"}
    body = {"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": args}}]}]}

    class Cut:
        def scan(self, text: str) -> list[Finding]:
            if '\\"' not in text:  # the decoded view of the arguments: nothing there
                return []
            # From inside `\"` to inside `\u00e9`.
            return [Finding("personal_data", "x", text.index('\\"') + 1, text.index("\\u") + 3)]

    redactor = Redactor()
    new = redactor.redact_request(body, scan_request(body, Cut()), PII)
    parsed = json.loads(new["messages"][0]["tool_calls"][0]["function"]["arguments"])
    assert parsed == {"v": "a[PII_1]c"}
    assert redactor.vault["[PII_1]"] == '"bé'


def test_anthropic_tool_use_input_and_results_round_trip() -> None:
    body = {
        "system": f"Owner: {ALICE}",
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t", "name": "mail", "input": {"to": [BOB], "x": 1}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": f"sent {BOB}"}],
                    }
                ],
            },
        ],
    }
    redactor, new = redact(body, "anthropic")
    assert new["system"] == "Owner: [EMAIL_1]"
    assert new["messages"][0]["content"][0]["input"] == {"to": ["[EMAIL_2]"], "x": 1}
    assert new["messages"][1]["content"][0]["content"][0]["text"] == "sent [EMAIL_2]"
    assert ALICE not in all_text(new) and BOB not in all_text(new)
    response = {
        "content": [
            {"type": "text", "text": "Mailing [EMAIL_2] for [EMAIL_1]"},
            {"type": "tool_use", "id": "u", "name": "mail", "input": {"to": "[EMAIL_2]"}},
        ]
    }
    restored = restore_response(response, redactor.vault, "anthropic")
    assert restored["content"][0]["text"] == f"Mailing {BOB} for {ALICE}"
    assert restored["content"][1]["input"] == {"to": BOB}
    assert response["content"][0]["text"].startswith("Mailing [EMAIL_2]")  # not mutated


def test_openai_response_restore() -> None:
    vault = {"[EMAIL_1]": 'a"b@example.com', "[PHONE_1]": "+44 20 7946 0000"}
    response = {
        "id": "r",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Call [PHONE_1]; [EMAIL_3] and [TODO_1] stay.",
                    "tool_calls": [
                        {"id": "c", "function": {"name": "m", "arguments": '{"to":"[EMAIL_1]"}'}}
                    ],
                },
            }
        ],
    }
    out = restore_response(response, vault)
    msg = out["choices"][0]["message"]
    assert msg["content"] == "Call +44 20 7946 0000; [EMAIL_3] and [TODO_1] stay."
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"to": 'a"b@example.com'}
    assert restore_response(response, {}) is response


def test_labels() -> None:
    assert default_label(Finding("personal_data", "email", 0, 1)) == "EMAIL"
    assert default_label(Finding("personal_data", "phone_cn_mobile", 0, 1)) == "PHONE"
    assert default_label(Finding("personal_data", "prc-resident-id", 0, 1)) == "ID_NUMBER"
    assert default_label(Finding("personal_data", "payment-card", 0, 1)) == "CARD"
    assert default_label(Finding("secret", "discord-bot-token", 0, 1)) == "SECRET"
    assert default_label(Finding("secret", "bitbucket-app-password", 0, 1)) == "PASSWORD"
    assert default_label(Finding("confidential", "marking", 0, 1)) == "CONFIDENTIAL"
    assert default_label(Finding("personal_data", "ipv4", 0, 1)) == "IP"
    assert default_label(Finding("secret", "aws_access_key", 0, 1)) == "SECRET"
    assert default_label(Finding("personal_data", "zip", 0, 1)) == "PII"
    r = Redactor(labeler=lambda f: "weird label!")
    assert r.redact_text("x", [Finding("secret", "s", 0, 1)]) == "[WEIRD_LABEL_1]"


def test_overlapping_findings_become_one_placeholder() -> None:
    text = "id 110105199001011234 end"
    s = text.index("1")
    findings = [
        Finding("personal_data", "prc_id", s, s + 18),
        Finding("personal_data", "phone_cn", s + 3, s + 14),
    ]
    r = Redactor()
    assert r.redact_text(text, findings) == "id [ID_NUMBER_1] end"
    assert r.vault["[ID_NUMBER_1]"] == text[s : s + 18]


# -- streams ---------------------------------------------------------------------------------

VAULT = {"[EMAIL_1]": ALICE, "[EMAIL_10]": BOB, "[PHONE_1]": "+1 555 0100", "[SECRET_2]": 'q"\\z'}
STREAM_TEXT = "To [EMAIL_1], cc [EMAIL_10] ([PHONE_1]); [x] [EMAIL_2] [EMAIL_1 [[SECRET_2]] end ["


def run_stream(pieces: list[str], vault: dict[str, str], depth: int = 0) -> str:
    restorer = StreamRestorer(vault, json_depth=depth)
    out = "".join(restorer.feed(p) for p in pieces)
    return out + restorer.flush()


@pytest.mark.parametrize("depth", [0, 1])
def test_stream_restore_equals_whole_restore_at_every_split(depth: int) -> None:
    expected = restore_text(STREAM_TEXT, VAULT, json_depth=depth)
    assert ALICE in expected and BOB in expected and "[EMAIL_2]" in expected  # unknown kept
    n = len(STREAM_TEXT)
    for i in range(n + 1):
        assert run_stream([STREAM_TEXT[:i], STREAM_TEXT[i:]], VAULT, depth) == expected, i
        for j in range(i, n + 1, 3):  # and three pieces, boundaries everywhere
            pieces = [STREAM_TEXT[:i], STREAM_TEXT[i:j], STREAM_TEXT[j:]]
            assert run_stream(pieces, VAULT, depth) == expected, (i, j)
    assert run_stream(list(STREAM_TEXT), VAULT, depth) == expected  # one char per chunk


def test_stream_json_depth_escapes_values() -> None:
    text = '{"to": "[SECRET_2]"}'
    for i in range(len(text) + 1):
        assert json.loads(run_stream([text[:i], text[i:]], VAULT, 1)) == {"to": 'q"\\z'}


def test_stream_holds_back_only_possible_placeholders() -> None:
    r = StreamRestorer(VAULT)
    assert r.feed("hello [EM") == "hello "
    assert r.pending
    assert r.feed("AIL_1] and [not") == f"{ALICE} and [not"
    assert r.feed(" [EMAIL_1") == " "
    assert r.feed("0") == ""
    assert r.feed("]") == BOB
    assert r.feed("[TODO") == "[TODO"  # not a prefix of any placeholder in the vault
    assert r.feed("[PHONE") == ""
    assert r.flush() == "[PHONE"  # the stream ended: what was held is emitted as it was
    assert r.flush() == "" and not r.pending


def test_stream_fast_path_returns_fragment_itself() -> None:
    r = StreamRestorer(VAULT)
    chunk = "no brackets in this chunk " * 4
    assert r.feed(chunk) is chunk
    empty = StreamRestorer({})
    bracket = "[EMAIL_1] but no vault"
    assert empty.feed(bracket) is bracket and empty.flush() == ""


def test_restore_passes_lookalikes_unchanged() -> None:
    text = "[] [EMAIL] [EMAIL_] [email_1] [EMAIL_1x] [[EMAIL_01]] [ EMAIL_1] [EMAIL_1"
    assert restore_text(text, VAULT) == text
    assert run_stream(list(text), VAULT) == text


def test_stream_restorers_keep_channels_apart() -> None:
    rs = StreamRestorers(VAULT)
    # Interleaved channels: content and a tool call's arguments, each split mid-placeholder.
    out = {
        "content": rs.feed("content", "Hi [EMA"),
        "tool": rs.feed("tool", '{"to": "[SEC', json_depth=1),
    }
    out["content"] += rs.feed("content", "IL_1] [PHO")
    out["tool"] += rs.feed("tool", 'RET_2]"}', json_depth=1)
    assert rs.flush("tool") == ""
    tails = rs.flush_all()
    assert tails == {"content": "[PHO"}
    assert out["content"] + tails["content"] == f"Hi {ALICE} [PHO"
    assert json.loads(out["tool"]) == {"to": 'q"\\z'}
    assert StreamRestorers({}).feed("c", "[EMAIL_1]") == "[EMAIL_1]"


class AssignmentOnly:
    """Like a generic `password=` rule: finds the value only right after `password=`."""

    def scan(self, text: str) -> list[Finding]:
        return [
            Finding("secret", "generic_password", m.start(1), m.end(1))
            for m in re.finditer(r"password=(\S+)", text)
        ]


def test_known_value_is_swept_from_texts_where_no_rule_fired() -> None:
    secret = 'Tr0ub4dor"&3'
    body = {
        "messages": [
            {"role": "user", "content": f"db url has password={secret} in it"},
            {"role": "user", "content": f"I also tried {secret} on the admin page"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "login", "arguments": json.dumps({"pw": secret})}}
                ],
            },
            {"role": "tool", "content": "no mention here"},
        ]
    }
    redactor = Redactor()
    found = scan_request(body, AssignmentOnly())
    assert len(found) == 1  # the rule fired once, in the first message only
    new = redactor.redact_request(body, found, {"secret"})
    assert secret not in all_text(new) and json.dumps(secret)[1:-1] not in all_text(new)
    assert new["messages"][1]["content"] == "I also tried [PASSWORD_1] on the admin page"
    args = new["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(args) == {"pw": "[PASSWORD_1]"}
    assert new["messages"][3] is body["messages"][3]
    # Passing bare items (no list of scanned texts) redacts only where rules fired.
    only_items = Redactor().redact_request(body, list(found), {"secret"})
    assert secret in only_items["messages"][1]["content"]


def test_sweep_covers_anthropic_tool_input_and_spares_placeholders() -> None:
    body = {
        "messages": [
            {"role": "user", "content": f"{ALICE} says EMAIL is the codename"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t", "name": "n", "input": {"a": f"cc {ALICE}"}}
                ],
            },
            {"role": "user", "content": "EMAIL again, and ab"},
        ]
    }

    class Two:
        def scan(self, text: str) -> list[Finding]:
            out = [
                Finding("personal_data", "email", m.start(), m.end())
                for m in EMAIL_RE.finditer(text)
            ]
            if text.startswith(ALICE):
                i = text.index("EMAIL")
                out.append(Finding("confidential", "codename", i, i + 5))
                out.append(Finding("confidential", "short", 0, 2))  # "al": too short to sweep
            return out

    redactor = Redactor()
    new = redactor.redact_request(
        body, scan_request(body, Two(), "anthropic"), {"personal_data", "confidential"}
    )
    assert new["messages"][0]["content"] == "[EMAIL_1] says [CONFIDENTIAL_1] is the codename"
    assert new["messages"][1]["content"][0]["input"] == {"a": "cc [EMAIL_1]"}
    assert new["messages"][2]["content"] == "[CONFIDENTIAL_1] again, and ab"
    assert (
        restore_text(new["messages"][0]["content"], redactor.vault)
        == body["messages"][0]["content"]
    )


class ValueScanner:
    """Finds given values verbatim and in both JSON-escaped spellings."""

    def __init__(self, values: list[str]) -> None:
        forms = set(values) | {json.dumps(v)[1:-1] for v in values}
        self.forms = forms | {json.dumps(v, ensure_ascii=False)[1:-1] for v in values}

    def scan(self, text: str) -> list[Finding]:
        return [
            Finding("personal_data", "value", m.start(), m.end())
            for form in self.forms
            for m in re.finditer(re.escape(form), text)
        ]


def test_random_round_trips_restore_the_original_request() -> None:
    """Property: restoring a redacted text (or JSON arguments) gives back the original."""

    rng = random.Random(20261124)
    alphabet = "ab\\\"'\n\t é中😀[]{}:,_1"
    for _ in range(150):
        values = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 10))) for _ in range(3)
        ]
        values = [v for v in values if v.strip() and "[" not in v]
        if not values:
            continue
        words = [rng.choice([*values, "plain", "text", " ", "x"]) for _ in range(12)]
        content = " ".join(words)
        args = json.dumps(
            {"k": words, "n": 7, "v": rng.choice(values)}, ensure_ascii=rng.random() < 0.5
        )
        body = {
            "messages": [
                {"role": "user", "content": content},
                {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "f", "arguments": args}}],
                },
            ]
        }

        redactor = Redactor()
        new = redactor.redact_request(body, scan_request(body, ValueScanner(values)), PII)
        new_content = new["messages"][0]["content"]
        new_args = new["messages"][1]["tool_calls"][0]["function"]["arguments"]
        assert not any(v in new_content for v in values if len(v) >= 4)
        assert json.loads(new_args)["n"] == 7
        assert restore_text(new_content, redactor.vault) == content
        assert json.loads(restore_text(new_args, redactor.vault, json_depth=1)) == json.loads(args)


def _with_image(url: str, text: str = "see the picture") -> dict[str, Any]:
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"messages": [{"role": "user", "content": parts}]}


def test_personal_data_in_an_image_url_cannot_be_redacted() -> None:
    # The provider fetches the URL: a placeholder in it would break it, so redaction refuses
    # (the gateway then refuses the request) rather than send the value in clear.
    body = _with_image(f"https://img.example.com/a.png?owner={ALICE}")
    where = r"a URL the provider fetches at messages\.0\.content\.1\.image_url\.url"
    with pytest.raises(RedactionError, match=where):
        redact(body)
    # A URL with nothing in it is no obstacle: the text beside it is redacted as usual.
    clean = _with_image("https://img.example.com/a.png", f"mail {ALICE}")
    _, new = redact(clean)
    assert ALICE not in all_text(new)
    assert new["messages"][0]["content"][1] is clean["messages"][0]["content"][1]


def test_a_redacted_value_repeated_in_an_image_url_refuses_redaction() -> None:
    secret = "Tr0ub4dor&3x"
    body = _with_image(f"https://img.example.com/a.png?pw={secret}", f"password={secret}")
    found = scan_request(body, AssignmentOnly())
    assert len(found) == 1  # the rule fired in the text only
    with pytest.raises(RedactionError, match="repeats a redacted value"):
        Redactor().redact_request(body, found, {"secret"})


def test_a_signed_thinking_block_cannot_be_redacted() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": f"ask {ALICE}", "signature": "s"}],
            }
        ]
    }
    with pytest.raises(RedactionError, match="a signed thinking block"):
        redact(body, "anthropic")
