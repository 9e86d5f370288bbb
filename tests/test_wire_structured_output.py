"""Structured outputs across wire formats: OpenAI `response_format` <-> Anthropic `output_config`.

A workflow that asks for JSON matching a schema keeps that guarantee when its model is swapped
for one behind the other provider format, in both directions.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bordergate.emulator.content import instance_of
from bordergate.wire.anthropic import (
    WireError,
    anthropic_request_to_openai,
    openai_request_to_anthropic,
)

STRICT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "array", "items": {"type": "integer"}},
        "unit": {"type": "string", "enum": ["C", "F"]},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number"}},
            "required": ["lat"],
            "additionalProperties": False,
        },
    },
    "required": ["city", "days", "unit", "where"],
    "additionalProperties": False,
}


def to_anthropic(**extra: Any) -> dict[str, Any]:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], **extra}
    return openai_request_to_anthropic(body, "claude-sonnet-4-5")


def to_openai(**extra: Any) -> dict[str, Any]:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    return anthropic_request_to_openai({**body, **extra})


def test_json_schema_becomes_output_config_format() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": STRICT, "strict": True}}
    out = to_anthropic(response_format=fmt)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": STRICT}}
    assert "response_format" not in out


@pytest.mark.parametrize("kind", ["text", "json_object"])
def test_formats_without_a_schema_send_plain_text(kind: str) -> None:
    out = to_anthropic(response_format={"type": kind})
    assert "output_config" not in out and "response_format" not in out


@pytest.mark.parametrize(
    ("fmt", "field"),
    [
        ({"type": "json_schema", "json_schema": {"name": "w"}}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"schema": "no"}}, "response_format.json_schema"),
        ({"type": "yaml"}, "response_format.type"),
    ],
)
def test_a_format_that_cannot_be_honoured_is_refused(fmt: dict[str, Any], field: str) -> None:
    with pytest.raises(WireError) as info:
        to_anthropic(response_format=fmt)
    assert info.value.status == 400 and field in info.value.message


def test_output_config_becomes_a_strict_response_format() -> None:
    out = to_openai(output_config={"format": {"type": "json_schema", "schema": STRICT}})
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": STRICT, "strict": True},
    }


def test_the_beta_spelling_is_understood_too() -> None:
    out = to_openai(output_format={"type": "json_schema", "schema": STRICT})
    assert out["response_format"]["json_schema"]["schema"] == STRICT


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": []},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {**STRICT, "properties": {**STRICT["properties"], "where": {"type": "object"}}},
    ],
    ids=["optional-property", "extra-properties-allowed", "open-nested-object"],
)
def test_a_schema_openai_strict_mode_rejects_is_sent_non_strict(schema: dict[str, Any]) -> None:
    out = to_openai(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert out["response_format"]["json_schema"]["strict"] is False


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
        ({"output_format": {"type": "json_schema", "schema": 1}}, "output_format.schema"),
    ],
)
def test_a_malformed_output_format_is_refused(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(WireError) as info:
        to_openai(**extra)
    assert info.value.status == 400 and field in info.value.message


def test_round_trip_through_both_formats_keeps_the_schema() -> None:
    back = to_openai(output_config={"format": {"type": "json_schema", "schema": STRICT}})
    again = openai_request_to_anthropic(back, "claude-sonnet-4-5")
    assert again["output_config"] == {"format": {"type": "json_schema", "schema": STRICT}}


def test_emulator_answers_with_a_value_of_the_schema() -> None:
    value = instance_of(STRICT, "hello")
    assert value == {"city": "hello", "days": [0], "unit": "C", "where": {"lat": 0}}
    nullable = {"type": ["null", "string"], "minLength": 1}
    assert instance_of(nullable, "x") == "x"
    assert instance_of({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, "x") is False
    assert instance_of({"type": "array", "items": {"const": 7}, "minItems": 3}, "x") == [7, 7, 7]
    assert instance_of({"type": "array", "items": {"const": 1}, "minItems": 10}, "x") == [1] * 10
    nested = {  # as pydantic writes a model with a list of another model
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}}},
        "$defs": {"Step": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    assert instance_of(nested, "x") == {"steps": [{"n": 0}]}
    assert orjson.loads(orjson.dumps(instance_of({"type": "object"}, "x"))) == {}
