"""`parse_chat`: the nesting bound holds exactly; width and brackets inside strings do not count."""

from __future__ import annotations

import orjson
import pytest

from bordergate.server.chat import MAX_JSON_DEPTH, parse_chat
from bordergate.server.errors import GatewayError


def _body(extra: object) -> bytes:
    message = {"role": "user", "content": "hi"}
    return orjson.dumps({"model": "m", "messages": [message], "metadata": extra})


def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_up_to_the_bound_passes_and_one_more_level_is_refused() -> None:
    # The body itself, `metadata` and the nested lists: 1 + levels containers deep.
    assert parse_chat(_body(_nested(MAX_JSON_DEPTH - 1)), "openai", 10).model == "m"
    with pytest.raises(GatewayError, match="nested too deeply"):
        parse_chat(_body(_nested(MAX_JSON_DEPTH)), "openai", 10)


def test_brackets_inside_strings_do_not_make_a_shallow_body_deep() -> None:
    text = "[{" * (2 * MAX_JSON_DEPTH)  # brackets, but only text
    assert parse_chat(_body(text), "openai", 10).body["metadata"] == text


def test_many_shallow_containers_are_fine() -> None:
    wide = [[i] for i in range(3 * MAX_JSON_DEPTH)]
    assert len(parse_chat(_body(wide), "openai", 10).body["metadata"]) == 3 * MAX_JSON_DEPTH
