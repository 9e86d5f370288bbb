"""SSE parsing across arbitrary byte boundaries, and framing that round-trips."""

from __future__ import annotations

import random

import pytest

from bordergate.wire.sse import OPENAI_DONE, SSEEvent, SSEParser, encode_comment, encode_event

STREAM = (
    ": ping\n"
    "event: message_start\n"
    'data: {"type":"message_start","text":"héllo — 世界 🌍"}\n'
    "\n"
    "data: first line\n"
    "data: second line\n"
    "\n"
    "event: ping\n"
    "data: {}\n"
    "id: 7\n"
    "retry: 100\n"
    "\n"
    "data:no-space\n"
    "\n"
).encode()

EXPECTED = [
    SSEEvent("message_start", '{"type":"message_start","text":"héllo — 世界 🌍"}'),
    SSEEvent(None, "first line\nsecond line"),
    SSEEvent("ping", "{}"),
    SSEEvent(None, "no-space"),
]


def parse_in_pieces(payload: bytes, cuts: list[int]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(payload)]:
        events.extend(parser.feed(payload[start:cut]))
        start = cut
    events.extend(parser.finish())
    return events


def test_whole_stream_in_one_piece() -> None:
    assert parse_in_pieces(STREAM, []) == EXPECTED


def test_byte_by_byte_including_inside_multibyte_characters() -> None:
    assert parse_in_pieces(STREAM, list(range(1, len(STREAM)))) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_random_split_points_for_every_line_ending(newline: bytes) -> None:
    payload = STREAM.replace(b"\n", newline)
    rng = random.Random(1234)
    for _ in range(200):
        cuts = rng.sample(range(1, len(payload)), rng.randint(1, 12))
        assert parse_in_pieces(payload, cuts) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_break() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent(None, "a")]
    # The blank line was "\r\n" split again; no duplicate or empty event appears.
    assert parser.feed(b"\ndata: b\r\n\r\n") == [SSEEvent(None, "b")]


def test_comments_and_empty_events_dispatch_nothing() -> None:
    parser = SSEParser()
    assert parser.feed(b": keep-alive\n\n: another\n\nevent: lonely\n\n") == []
    # An event name without data is reset, not carried into the next event.
    assert parser.feed(b"data: x\n\n") == [SSEEvent(None, "x")]


def test_leading_bom_is_ignored() -> None:
    parser = SSEParser()
    assert parser.feed(b"\xef\xbb\xbfdata: x\n\n") == [SSEEvent(None, "x")]


def test_finish_dispatches_an_event_missing_its_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: e\ndata: tail") == []
    assert parser.finish() == [SSEEvent("e", "tail")]
    assert parser.finish() == []


def test_only_one_leading_space_is_stripped() -> None:
    assert SSEParser().feed(b"data:  two\n\n") == [SSEEvent(None, " two")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert SSEParser().feed(b"data: \xff\n\n") == [SSEEvent(None, "\ufffd")]


@pytest.mark.parametrize(
    ("data", "event"),
    [(b'{"a":1}', None), (b"x", "message_delta"), (b"line1\nline2\r\nline3", "multi"), (b"", None)],
)
def test_encode_event_round_trips_through_the_parser(data: bytes, event: str | None) -> None:
    frame = encode_event(data, event)
    assert frame.endswith(b"\n\n")
    expected = data.replace(b"\r\n", b"\n").decode()
    assert SSEParser().feed(frame) == [SSEEvent(event, expected)]


def test_encode_event_exact_framing() -> None:
    assert encode_event(b"{}", "ping") == b"event: ping\ndata: {}\n\n"
    assert encode_event(b"{}") == b"data: {}\n\n"


def test_done_sentinel_and_comment_frames() -> None:
    assert SSEParser().feed(OPENAI_DONE) == [SSEEvent(None, "[DONE]")]
    assert SSEParser().feed(encode_comment("ping\nnot a field")) == []
