"""AWS event-stream framing and Bedrock's Anthropic stream, checked against botocore's decoder."""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import EventStreamJSONParser

from bordergate.wire.eventstream import (
    MAX_MESSAGE_BYTES,
    BedrockAnthropicParser,
    EventMessage,
    EventStreamDecoder,
    EventStreamError,
    anthropic_error_type,
    bedrock_chunk,
    bedrock_exception,
    encode_message,
)
from bordergate.wire.sse import SSEEvent

# --- Independent helpers: botocore as oracle, and frames built by hand ---------------------------


def botocore_messages(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(m.headers), m.payload) for m in buffer]


def botocore_response_stream(data: bytes) -> list[dict[str, object]]:
    """What boto3's bedrock-runtime client makes of these frames (its ResponseStream union)."""
    service = ServiceModel(Loader().load_service_model("bedrock-runtime", "service-2"))
    shape = service.shape_for("ResponseStream")
    parser = EventStreamJSONParser()
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [parser.parse(m.to_response_dict(), shape) for m in buffer]


def hand_header(name: str, kind: int, value: bytes) -> bytes:
    raw = name.encode()
    return bytes([len(raw)]) + raw + bytes([kind]) + value


def hand_frame(headers: bytes, payload: bytes, total: int | None = None) -> bytes:
    """A message assembled field by field from the specification, not with the module's code."""
    length = 16 + len(headers) + len(payload) if total is None else total
    first8 = length.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    prelude = first8 + zlib.crc32(first8).to_bytes(4, "big")
    body = prelude + headers + payload
    return body + zlib.crc32(body).to_bytes(4, "big")


def feed_all(decoder: EventStreamDecoder, pieces: list[bytes]) -> list[EventMessage]:
    out: list[EventMessage] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    return out


SAMPLE = [
    ({":message-type": "event", ":event-type": "chunk"}, b'{"x": 1}'),
    ({}, b""),
    ({"only-header": "v"}, b""),
    ({":message-type": "event", "unicode": "h\u00e9llo \u4e16\u754c"}, bytes(range(256))),
]


# --- Encoding and decoding ----------------------------------------------------------------------


def test_round_trip_of_several_messages() -> None:
    stream = b"".join(encode_message(h, p) for h, p in SAMPLE)
    decoder = EventStreamDecoder()
    messages = decoder.feed(stream)
    assert messages == [EventMessage(dict(h), p) for h, p in SAMPLE]
    assert decoder.pending == 0


def test_empty_message_is_sixteen_bytes() -> None:
    frame = encode_message({}, b"")
    assert len(frame) == 16
    assert frame == hand_frame(b"", b"")


def test_encoder_matches_hand_built_bytes() -> None:
    headers = hand_header("a", 7, b"\x00\x03xyz") + hand_header(":b", 7, b"\x00\x00")
    assert encode_message({"a": "xyz", ":b": ""}, b"payload") == hand_frame(headers, b"payload")


def test_one_byte_at_a_time_gives_the_same_messages() -> None:
    stream = b"".join(encode_message(h, p) for h, p in SAMPLE)
    decoder = EventStreamDecoder()
    pending_seen: list[int] = []
    out: list[EventMessage] = []
    for i in range(len(stream)):
        out.extend(decoder.feed(stream[i : i + 1]))
        pending_seen.append(decoder.pending)
    assert out == [EventMessage(dict(h), p) for h, p in SAMPLE]
    assert decoder.pending == 0
    assert max(pending_seen) > 0


def test_every_split_point_gives_the_same_messages() -> None:
    stream = b"".join(encode_message(h, p) for h, p in SAMPLE[:3])
    want = [EventMessage(dict(h), p) for h, p in SAMPLE[:3]]
    for cut in range(len(stream) + 1):
        decoder = EventStreamDecoder()
        assert feed_all(decoder, [stream[:cut], stream[cut:]]) == want, cut
        assert decoder.pending == 0


def test_pending_reports_a_truncated_stream() -> None:
    frame = encode_message({"k": "v"}, b"abc")
    decoder = EventStreamDecoder()
    assert decoder.feed(frame[:-1]) == []
    assert decoder.pending == len(frame) - 1
    assert decoder.feed(frame[-1:]) == [EventMessage({"k": "v"}, b"abc")]
    assert decoder.pending == 0


def test_every_header_type_is_decoded() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = b"".join(
        [
            hand_header("t", 0, b""),
            hand_header("f", 1, b""),
            hand_header("byte", 2, struct.pack(">b", -5)),
            hand_header("short", 3, struct.pack(">h", -300)),
            hand_header("int", 4, struct.pack(">i", 70_000)),
            hand_header("long", 5, struct.pack(">q", -(2**40))),
            hand_header("blob", 6, struct.pack(">H", 3) + b"\x00\xff\x01"),
            hand_header("str", 7, struct.pack(">H", 2) + "\u00e9".encode()),
            hand_header("when", 8, struct.pack(">q", 1_700_000_000_123)),
            hand_header("id", 9, ident.bytes),
        ]
    )
    frame = hand_frame(headers, b"body")
    (message,) = EventStreamDecoder().feed(frame)
    assert message.headers == {
        "t": True,
        "f": False,
        "byte": -5,
        "short": -300,
        "int": 70_000,
        "long": -(2**40),
        "blob": b"\x00\xff\x01",
        "str": "\u00e9",
        "when": 1_700_000_000_123,
        "id": str(ident),
    }
    assert message.payload == b"body"
    # botocore agrees on every value it represents the same way (it keeps UUIDs as bytes).
    ((oracle_headers, oracle_payload),) = botocore_messages(frame)
    assert oracle_payload == b"body"
    assert {k: v for k, v in oracle_headers.items() if k != "id"} == {
        k: v for k, v in message.headers.items() if k != "id"
    }
    assert oracle_headers["id"] == ident.bytes


def test_header_name_and_value_limits_on_encode() -> None:
    with pytest.raises(ValueError):
        encode_message({"x" * 256: "v"}, b"")
    with pytest.raises(ValueError):
        encode_message({"": "v"}, b"")
    with pytest.raises(ValueError):
        encode_message({"k": "v" * 65536}, b"")
    with pytest.raises(ValueError):
        encode_message({}, b"\x00" * MAX_MESSAGE_BYTES)
    assert len(encode_message({"x" * 255: "v" * 65535}, b"")) == 16 + 1 + 255 + 1 + 2 + 65535


# --- Malformed input ----------------------------------------------------------------------------


def test_bad_prelude_crc_fails_as_soon_as_the_prelude_arrives() -> None:
    frame = bytearray(encode_message({"k": "v"}, b"payload"))
    frame[8] ^= 0x01
    decoder = EventStreamDecoder()
    assert decoder.feed(bytes(frame[:11])) == []
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decoder.feed(bytes(frame[11:12]))
    # The stream has no trustworthy boundaries any more: the decoder stays failed.
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decoder.feed(encode_message({}, b""))


def test_bad_message_crc() -> None:
    good = encode_message({"k": "v"}, b"first")
    bad = bytearray(encode_message({"k": "v"}, b"payload"))
    bad[-6] ^= 0x40  # a payload byte
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(good + bytes(bad))
    corrupt_crc = bytearray(good)
    corrupt_crc[-1] ^= 0xFF
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(corrupt_crc))


@pytest.mark.parametrize(
    "headers",
    [
        b"\x05ab",  # name shorter than its length byte
        hand_header("s", 7, b"\x00\x09abc"),  # string value shorter than its length
        hand_header("s", 7, b"\x00"),  # string length cut in half
        hand_header("i", 4, b"\x00\x00"),  # int32 with two bytes
        hand_header("u", 9, b"\x00" * 15),  # uuid with fifteen bytes
        hand_header("b", 6, b"\x00\x05ab"),  # bytes value shorter than its length
        b"\x01a",  # name without a type byte
    ],
)
def test_truncated_header(headers: bytes) -> None:
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(hand_frame(headers, b"{}"))


@pytest.mark.parametrize(
    "headers",
    [
        hand_header("x", 10, b""),  # unknown value type
        b"\x00" + bytes([7]) + b"\x00\x00",  # empty name
        hand_header("s", 7, b"\x00\x02\xff\xfe"),  # string value not UTF-8
        hand_header("d", 7, b"\x00\x00") + hand_header("d", 7, b"\x00\x00"),  # duplicate
    ],
)
def test_malformed_header(headers: bytes) -> None:
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(hand_frame(headers, b""))


@pytest.mark.parametrize("total", [0, 15, MAX_MESSAGE_BYTES + 1, 0xFFFFFFFF])
def test_absurd_total_length_fails_without_buffering(total: int) -> None:
    first8 = total.to_bytes(4, "big") + (0).to_bytes(4, "big")
    prelude = first8 + zlib.crc32(first8).to_bytes(4, "big")
    with pytest.raises(EventStreamError, match="length"):
        EventStreamDecoder().feed(prelude)


def test_headers_longer_than_the_message_fail() -> None:
    first8 = (32).to_bytes(4, "big") + (17).to_bytes(4, "big")
    prelude = first8 + zlib.crc32(first8).to_bytes(4, "big")
    with pytest.raises(EventStreamError, match="headers length"):
        EventStreamDecoder().feed(prelude)


def test_largest_allowed_length_is_buffered_not_refused() -> None:
    first8 = MAX_MESSAGE_BYTES.to_bytes(4, "big") + (0).to_bytes(4, "big")
    prelude = first8 + zlib.crc32(first8).to_bytes(4, "big")
    decoder = EventStreamDecoder()
    assert decoder.feed(prelude) == []
    assert decoder.pending == 12


# --- botocore as the independent decoder --------------------------------------------------------


def test_botocore_decodes_encoded_messages() -> None:
    stream = b"".join(encode_message(h, p) for h, p in SAMPLE)
    assert botocore_messages(stream) == [(dict(h), p) for h, p in SAMPLE]


def test_botocore_decodes_bedrock_chunks_to_the_event_json() -> None:
    events = [
        b'{"type":"message_start","message":{"id":"m"}}',
        b'{"type":"content_block_delta","delta":{"text":"\xc3\xa9\xe4\xb8\x96"}}',
        b"{}",
        b'{"type":"message_stop"}' + b" " * 37,
    ]
    stream = b"".join(bedrock_chunk(e) for e in events)
    for headers, payload in botocore_messages(stream):
        assert headers == {
            ":event-type": "chunk",
            ":content-type": "application/json",
            ":message-type": "event",
        }
        body = json.loads(payload)
        assert set(body) == {"bytes", "p"}
        assert isinstance(body["p"], str) and body["p"]
    parsed = botocore_response_stream(stream)
    assert parsed == [{"chunk": {"bytes": e}} for e in events]


def test_botocore_decodes_bedrock_exceptions() -> None:
    frame = bedrock_exception("throttlingException", "Too many tokens, slow down \u00e9")
    ((headers, payload),) = botocore_messages(frame)
    assert headers == {
        ":exception-type": "throttlingException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(payload) == {"message": "Too many tokens, slow down \u00e9"}
    (parsed,) = botocore_response_stream(frame)
    assert parsed["Error"] == {
        "Code": "throttlingException",
        "Message": "Too many tokens, slow down \u00e9",
    }


# --- BedrockAnthropicParser ---------------------------------------------------------------------


def test_parser_turns_chunks_into_sse_events() -> None:
    start = b'{"type":"message_start","message":{"id":"msg","content":[]}}'
    delta = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"é"}}'
    stop = b'{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3}}'
    stream = bedrock_chunk(start) + bedrock_chunk(delta.encode()) + bedrock_chunk(stop)
    parser = BedrockAnthropicParser()
    events: list[SSEEvent] = []
    for i in range(len(stream)):
        events.extend(parser.feed(stream[i : i + 1]))
    assert events == [
        SSEEvent("message_start", start.decode()),
        SSEEvent("content_block_delta", delta),
        SSEEvent("message_stop", '{"type":"message_stop"}'),  # Bedrock's metrics dropped
    ]
    assert parser.pending == 0


def test_parser_chunk_without_type_has_no_event_name() -> None:
    (event,) = BedrockAnthropicParser().feed(bedrock_chunk(b"[1, 2]"))
    assert event == SSEEvent(None, "[1, 2]")


@pytest.mark.parametrize(
    ("exception", "anthropic_type"),
    [
        ("throttlingException", "rate_limit_error"),
        ("validationException", "invalid_request_error"),
        ("serviceUnavailableException", "overloaded_error"),
        ("modelTimeoutException", "timeout_error"),
        ("internalServerException", "api_error"),
        ("modelStreamErrorException", "api_error"),
        ("somethingNewException", "api_error"),
    ],
)
def test_parser_maps_exceptions_to_anthropic_error_events(
    exception: str, anthropic_type: str
) -> None:
    (event,) = BedrockAnthropicParser().feed(bedrock_exception(exception, "it broke"))
    assert event.event == "error"
    assert json.loads(event.data) == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "it broke", "bedrock_type": exception},
    }


def test_anthropic_error_type_accepts_both_spellings() -> None:
    assert anthropic_error_type("ThrottlingException") == "rate_limit_error"
    assert anthropic_error_type("throttlingException") == "rate_limit_error"
    assert anthropic_error_type("") == "api_error"


def test_parser_maps_error_messages() -> None:
    frame = encode_message(
        {
            ":message-type": "error",
            ":error-code": "ServiceUnavailableException",
            ":error-message": "busy",
        },
        b"",
    )
    (event,) = BedrockAnthropicParser().feed(frame)
    assert event.event == "error"
    assert json.loads(event.data)["error"] == {
        "type": "overloaded_error",
        "message": "busy",
        "bedrock_type": "ServiceUnavailableException",
    }


def test_parser_exception_without_message_names_its_type() -> None:
    frame = encode_message({":message-type": "exception", ":exception-type": "fooException"}, b"")
    (event,) = BedrockAnthropicParser().feed(frame)
    assert json.loads(event.data)["error"]["message"] == "fooException"


def test_parser_ignores_other_messages() -> None:
    frames = [
        encode_message({":message-type": "event", ":event-type": "initial-response"}, b"{}"),
        encode_message({":message-type": "event", ":event-type": "metadata"}, b"{}"),
        encode_message({"no-type": "x"}, b"junk"),
    ]
    parser = BedrockAnthropicParser()
    assert parser.feed(b"".join(frames) + bedrock_chunk(b'{"type":"ping"}')) == [
        SSEEvent("ping", '{"type":"ping"}')
    ]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"p": "abc"}',  # no bytes
        b'{"bytes": "***"}',  # not base64
        b'{"bytes": 7}',
        b'{"bytes": "' + base64.b64encode(b"{not json") + b'"}',
        b'{"bytes": "' + base64.b64encode(b'"\xff"') + b'"}',  # not UTF-8
    ],
)
def test_parser_rejects_malformed_chunk_payloads(payload: bytes) -> None:
    frame = encode_message({":message-type": "event", ":event-type": "chunk"}, payload)
    with pytest.raises(EventStreamError):
        BedrockAnthropicParser().feed(frame)


def test_parser_pending_and_framing_errors() -> None:
    frame = bedrock_chunk(b'{"type":"ping"}')
    parser = BedrockAnthropicParser()
    assert parser.feed(frame[:20]) == []
    assert parser.pending == 20
    broken = bytearray(frame)
    broken[2] ^= 0x10
    with pytest.raises(EventStreamError):
        BedrockAnthropicParser().feed(bytes(broken))
