"""Stream egress: pass-through bytes stay untouched, but upstream error events are scrubbed."""

from __future__ import annotations

from typing import Any

import orjson

from bordergate.server.egress import StreamEgress
from bordergate.server.errors import register_secret
from bordergate.wire.sse import OPENAI_DONE

KEY = "sk-egress-canary-7f3a9c1e5d"
register_secret(KEY)


def _chunk(content: str) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


ERROR_EVENT = (
    b'data: {"error":{"message":"Incorrect API key provided: '
    + KEY.encode()
    + b'","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}\n\n'
)


def _passthrough() -> StreamEgress:
    return StreamEgress(None, "openai", "gpt-4o-mini")


def test_ordinary_pieces_pass_through_byte_for_byte() -> None:
    eg = _passthrough()
    # Text that talks about "error" has its quotes escaped, so it stays on the fast path.
    piece = _chunk('the "error" field') + _chunk("b")
    assert eg.feed(piece) == piece
    assert eg.feed(OPENAI_DONE) == b""
    assert eg.close() == OPENAI_DONE and not eg.failed


def test_error_event_is_scrubbed_and_the_stream_does_not_end_as_a_success() -> None:
    eg = _passthrough()
    first = _chunk("partial answer")
    out = eg.feed(first) + eg.feed(ERROR_EVENT + OPENAI_DONE)
    assert KEY not in out.decode()
    assert out.startswith(first)
    err = orjson.loads(out[len(first) + 6 : out.index(b"\n\n", len(first))])
    assert err["error"]["message"] == "Incorrect API key provided: [redacted]"
    assert err["error"]["code"] == "invalid_api_key"
    assert eg.failed
    assert eg.close() == b""  # no [DONE] after an error


def test_key_split_across_pieces_is_still_scrubbed() -> None:
    eg = _passthrough()
    at = ERROR_EVENT.index(KEY.encode()) + 6  # cut inside the key
    out = eg.feed(_chunk("a")) + eg.feed(ERROR_EVENT[:at]) + eg.feed(ERROR_EVENT[at:])
    assert KEY not in out.decode()
    assert b"[redacted]" in out and eg.failed


def test_error_after_a_piece_cut_mid_event_keeps_the_earlier_event_whole() -> None:
    eg = _passthrough()
    before = _chunk("first")
    cut = len(before) // 2
    out = eg.feed(before[:cut]) + eg.feed(before[cut:] + ERROR_EVENT)
    assert out.startswith(before)  # the event that began raw ends raw
    assert KEY not in out.decode() and b"[redacted]" in out
    assert eg.failed


def test_error_event_at_the_end_of_a_long_read_is_scrubbed() -> None:
    eg = _passthrough()
    prefix = b"".join(_chunk(f"word {i} ") for i in range(200))  # ~25 KB of ordinary events
    out = eg.feed(prefix + ERROR_EVENT)
    assert out.startswith(prefix)
    assert KEY not in out.decode() and b"[redacted]" in out and eg.failed


def test_error_mark_cut_in_two_by_a_read_boundary_is_caught() -> None:
    eg = _passthrough()
    first = _chunk("a")
    at = ERROR_EVENT.index(b'"error"') + 3  # the read ends inside the mark itself
    out = eg.feed(first + ERROR_EVENT[:at]) + eg.feed(ERROR_EVENT[at:] + OPENAI_DONE)
    assert KEY not in out.decode() and b"[redacted]" in out
    assert out.startswith(first)
    assert eg.failed and eg.close() == b""


def test_rest_of_a_raw_error_event_is_held_until_it_ends_so_a_split_key_is_scrubbed() -> None:
    eg = _passthrough()
    mark = ERROR_EVENT.index(b'"error"') + 2
    key_at = ERROR_EVENT.index(KEY.encode()) + 5
    pieces = [ERROR_EVENT[:mark], ERROR_EVENT[mark:key_at], ERROR_EVENT[key_at:], OPENAI_DONE]
    outs = [eg.feed(p) for p in pieces]
    assert outs[1] == b""  # held: the event has not ended yet
    out = b"".join(outs)
    assert KEY not in out.decode() and b"[redacted]" in out
    assert out.endswith(b"\n\n") and eg.failed and eg.close() == b""


def test_error_event_larger_than_any_window_is_scrubbed() -> None:
    eg = _passthrough()
    message = "upstream said: " + "x" * 20_000 + " key " + KEY
    event = b"data: " + orjson.dumps({"error": {"message": message, "type": "server_error"}})
    out = eg.feed(_chunk("a") + event + b"\n\n" + OPENAI_DONE)
    assert KEY not in out.decode() and b"[redacted]" in out
    assert eg.failed and eg.close() == b""


def test_reads_ending_inside_ordinary_events_pass_untouched() -> None:
    eg = _passthrough()
    stream = b"".join(_chunk(f'say "error" {i}') for i in range(40)) + OPENAI_DONE
    out = b"".join(eg.feed(stream[i : i + 97]) for i in range(0, len(stream), 97))
    assert out == stream[: -len(OPENAI_DONE)]
    assert eg.close() == OPENAI_DONE and not eg.failed


def test_a_delta_that_is_the_word_error_is_no_error_event_wherever_the_reads_end() -> None:
    """`"content":"error"` (or a logprob `"token":"error"`) is the mark as a value, not a key:
    however the reads cut the stream, it stays a successful stream."""
    words = [_chunk("An"), _chunk("error"), _chunk(" happened")]
    stream = b"".join(words) + OPENAI_DONE
    mark = stream.index(b'"error"')
    for cut_a in range(len(words[0]) - 5, mark + 9):
        for cut_b in (mark + 9, mark + 30, len(stream) - len(OPENAI_DONE)):
            eg = _passthrough()
            pieces = [stream[:cut_a], stream[cut_a:cut_b], stream[cut_b:]]
            out = b"".join(eg.feed(p) for p in pieces)
            assert out == stream[: -len(OPENAI_DONE)], (cut_a, cut_b)
            assert not eg.failed and eg.close() == OPENAI_DONE, (cut_a, cut_b)


def test_native_anthropic_error_event_is_scrubbed_and_holds_back_message_stop() -> None:
    from types import SimpleNamespace

    from bordergate.server.egress import NativeStreamEgress

    stream = SimpleNamespace(failed=False, completed=True, final=b"event: message_stop\n\n")
    eg = NativeStreamEgress(stream)  # type: ignore[arg-type]
    delta = b'event: content_block_delta\ndata: {"delta":{"text":"error"}}\n\n'
    assert eg.feed(delta) == delta  # ordinary events pass byte for byte
    assert eg.close() == stream.final
    error = b'event: error\ndata: {"error":{"message":"bad key ' + KEY.encode() + b'"}}\n\n'
    stream.failed = True
    out = eg.feed(error)
    assert KEY.encode() not in out and b"[redacted]" in out
    assert eg.failed and eg.close() == b""  # no message_stop after an error


def _native_egress(vault: dict[str, str]) -> tuple[Any, Any]:
    from types import SimpleNamespace

    from bordergate.server.egress import NativeStreamEgress

    stream = SimpleNamespace(failed=False, completed=True, final=b"")
    return NativeStreamEgress(stream, vault), stream  # type: ignore[arg-type]


def _ev(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _deltas(out: bytes) -> dict[int, str]:
    """Per block index, the concatenated text or partial JSON of every delta in `out`."""
    from bordergate.wire.sse import SSEParser

    texts: dict[int, str] = {}
    for event in SSEParser().feed(out):
        if event.event == "content_block_delta":
            data = orjson.loads(event.data)
            delta = data["delta"]
            piece = delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
            texts[data["index"]] = texts.get(data["index"], "") + piece
    return texts


def _block(index: int, start: dict[str, Any], *deltas: dict[str, Any]) -> list[bytes]:
    """One content block's events: start, deltas, stop."""
    return [
        _ev(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        ),
        *(
            _ev("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ),
        _ev("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def test_native_stream_restores_placeholders_split_across_deltas() -> None:
    eg, _ = _native_egress({"[EMAIL_1]": "alice@example.com"})
    events = [
        *_block(
            0,
            {"type": "text", "text": ""},
            {"type": "text_delta", "text": "mail [EMA"},
            {"type": "text_delta", "text": "IL_1] now [EM"},
        ),
        *_block(
            1,
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            {"type": "input_json_delta", "partial_json": '{"to": "[EMAIL_1]"}'},
        ),
        *_block(
            2,
            {"type": "thinking", "thinking": ""},
            {"type": "thinking_delta", "thinking": "[EMAIL_1]"},
        ),
    ]
    out = b"".join(eg.feed(e) for e in events)
    texts = _deltas(out)
    # The held "[EM" went out before the block's stop, as one more text delta.
    assert texts[0] == "mail alice@example.com now [EM"
    assert orjson.loads(texts[1]) == {"to": "alice@example.com"}
    assert texts[2] == "[EMAIL_1]"  # thinking is signed: it goes back as it came
    stops = [i for i in range(len(out)) if out.startswith(b"event: content_block_stop", i)]
    assert len(stops) == 3
