"""The usage chunk the gateway asked for (but the client did not) is cut out of a stream."""

from __future__ import annotations

from bordergate.upstream.dispatch import Stream, Usage


def _stream() -> Stream:
    st = Stream.__new__(Stream)
    st.usage = Usage()
    return st


def test_usage_only_event_is_removed_and_counted() -> None:
    st = _stream()
    data = (
        b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
        b"data: [DONE]\n\n"
    )
    out = st._drop_usage_chunks(data)
    assert out == (
        b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\ndata: [DONE]\n\n'
    )
    assert (st.usage.prompt_tokens, st.usage.completion_tokens) == (3, 4)


def test_usage_inside_a_chunk_with_choices_is_kept() -> None:
    st = _stream()
    data = b'data: {"choices":[{"delta":{}}],"usage": {"prompt_tokens":1}}\n\n'
    assert st._drop_usage_chunks(data) == data


def test_piece_not_aligned_to_events_is_left_alone() -> None:
    st = _stream()
    data = b'"choices":[],"usage":{"prompt_tokens":1}}\n\n'
    assert st._drop_usage_chunks(data) == data


def test_usage_event_with_a_space_after_the_colon_is_removed() -> None:
    st = _stream()
    data = (
        b'data: {"choices": [{"delta": {"content": "a"}}], "usage": null}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6}}\n\n'
    )
    assert st._drop_usage_chunks(data) == (
        b'data: {"choices": [{"delta": {"content": "a"}}], "usage": null}\n\n'
    )
    assert (st.usage.prompt_tokens, st.usage.completion_tokens) == (5, 6)


def test_pieces_without_a_usage_object_pass_untouched() -> None:
    st = _stream()
    data = b'data: {"choices":[{"delta":{"content":"\\"usage\\":{"}}],"usage":null}\n\n'
    assert st._drop_usage_chunks(data) == data
    assert st.usage.prompt_tokens is None
