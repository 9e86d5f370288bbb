"""Anthropic Messages requests in the gateway's internal OpenAI form (Anthropic-SDK clients
served by OpenAI-format deployments): nothing the model should see is lost or glued."""

from __future__ import annotations

from typing import Any

import pytest

from bordergate.wire.anthropic_client import anthropic_request_to_openai
from bordergate.wire.errors import WireError
from bordergate.wire.openai import validate_chat_request

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def convert(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return anthropic_request_to_openai(
        {"model": "m", "max_tokens": 10, "messages": messages, **fields}
    )


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_text_blocks_stay_separate_lines_everywhere() -> None:
    out = convert(
        [
            {"role": "user", "content": [text("Hello"), text("World")]},
            {
                "role": "assistant",
                "content": [
                    text("Let me check."),
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
                    text("Also this."),
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [text("Line1"), text("Line2")],
                    }
                ],
            },
        ],
        system=[text("Sys A."), text("Sys B.")],
    )
    system, user, assistant, tool = out["messages"]
    assert system == {"role": "system", "content": "Sys A.\nSys B."}
    assert user == {"role": "user", "content": "Hello\nWorld"}
    assert assistant["content"] == "Let me check.\nAlso this."
    assert assistant["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "Line1\nLine2"}


def test_a_text_document_keeps_its_title_and_its_own_line() -> None:
    doc = {
        "type": "document",
        "title": "Memo",
        "source": {"type": "text", "media_type": "text/plain", "data": "The sky is green."},
    }
    out = convert([{"role": "user", "content": [doc, text("What does it say?")]}])
    assert out["messages"][0]["content"] == "Memo\nThe sky is green.\nWhat does it say?"


def test_a_failed_tool_call_reads_as_a_failure() -> None:
    out = convert(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "a",
                        "content": "no such file",
                        "is_error": True,
                    },
                    {"type": "tool_result", "tool_use_id": "b", "is_error": True},
                    {"type": "tool_result", "tool_use_id": "c", "content": "ok", "is_error": False},
                ],
            }
        ]
    )
    assert [m["content"] for m in out["messages"]] == ["Error: no such file", "Error", "ok"]


def test_images_in_tool_results_travel_in_the_next_user_message() -> None:
    """A screenshot returned by a tool must reach the model: OpenAI tool messages carry text
    only, so the image follows in a user message that says whose it is."""
    out = convert(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_A",
                        "content": [text("screenshot:"), {"type": "image", "source": PNG}],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_B",
                        "content": [{"type": "image", "source": PNG}],
                    },
                    text("What do you see?"),
                ],
            }
        ]
    )
    tool_a, tool_b, user = out["messages"]
    assert tool_a == {
        "role": "tool",
        "tool_call_id": "toolu_A",
        "content": "screenshot:\n[1 attachment follows in the next message]",
    }
    assert tool_b["content"] == "[1 attachment follows in the next message]"
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert user == {
        "role": "user",
        "content": [
            text("Attachments of tool result toolu_A:"),
            image,
            text("Attachments of tool result toolu_B:"),
            image,
            text("What do you see?"),
        ],
    }
    validate_chat_request(out)  # and the result is a valid chat request


def test_tool_result_blocks_an_openai_format_model_cannot_take_keep_the_request_valid() -> None:
    """Claude takes these as the client sent them (its deployments get the client's own
    body), so they are no reason to refuse; towards OpenAI they become text or are left out."""
    search = {
        "type": "search_result",
        "source": "https://kb.example/a",
        "title": "Runbook",
        "content": [text("Restart the pod.")],
    }
    by_url = {"type": "document", "source": {"type": "url", "url": "https://x.example/a.pdf"}}
    by_file = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    reference = {"type": "tool_reference", "tool_name": "grep"}
    out = convert(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [search, by_url, by_file, reference, text("done")],
                    }
                ],
            }
        ]
    )
    assert out["messages"] == [
        {
            "role": "tool",
            "tool_call_id": "t",
            "content": "Runbook https://kb.example/a\nRestart the pod.\ndone",
        }
    ]


def test_stop_sequences_are_a_list_and_any_number_passes_validation() -> None:
    out = convert([{"role": "user", "content": "x"}], stop_sequences=["a", "b", "c", "d", "e"])
    assert out["stop"] == ["a", "b", "c", "d", "e"]
    validate_chat_request(out)  # Anthropic allows more than OpenAI's four
    with pytest.raises(WireError) as info:
        convert([{"role": "user", "content": "x"}], stop_sequences="END")
    assert info.value.param == "stop_sequences"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"system": [{"type": "image", "source": PNG}]}, "system[0].type"),
        ({"system": [text("a"), {"type": "text"}]}, "system[1].text"),
        ({"tools": {"name": "f"}}, "tools"),
        ({"tool_choice": "auto", "tools": []}, "tool_choice"),
        ({"metadata": ["x"]}, "metadata"),
    ],
)
def test_wrong_shapes_are_refused_with_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(WireError) as info:
        convert([{"role": "user", "content": "x"}], **fields)
    assert info.value.status == 400 and info.value.param == param
