"""The emulator's Amazon Bedrock surface (Anthropic models), driven by the official client.

``anthropic.AnthropicBedrock`` signs with botocore's SigV4 and decodes streams with botocore's
``EventStreamBuffer`` and the bedrock-runtime service model, so it checks our framing
independently of ``bordergate.wire.eventstream``.
"""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Iterator

import anthropic
import botocore.session
import httpx
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bordergate.emulator import auth_fingerprint, digest_of, estimate_tokens
from bordergate.emulator.bedrock_wire import BEDROCK_VERSION
from bordergate.emulator.routes import match_route
from bordergate.emulator.testing import emulator_process
from bordergate.wire.eventstream import BedrockAnthropicParser, EventStreamDecoder
from bordergate.wire.sse import SSEParser
from tests.support import Forecast

# A dropped connection surfaces from the SDK's HTTP transport: httpx, or httpx2 in newer SDKs.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError,)
try:
    import httpx2

    TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - depends on the SDK generation installed
    pass

MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
ARN = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-x-v1:0"
BEARER = {"authorization": "Bearer bedrock-api-key-test"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with emulator_process(record=50) as url:
        yield url


@pytest.fixture
def bedrock(base_url: str) -> Iterator[anthropic.AnthropicBedrock]:
    client = anthropic.AnthropicBedrock(
        aws_region="eu-central-1",
        aws_access_key="AKIAEXAMPLE",
        aws_secret_key="secret",
        base_url=base_url,
        max_retries=0,
    )
    yield client
    client.close()


def expected(model: str, text: str) -> str:
    return f"emulated reply from {model}: sha256={digest_of(text)}"


def user(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


def last_request(base_url: str) -> dict[str, object]:
    entry: dict[str, object] = httpx.get(base_url + "/_emulator/requests").json()[-1]
    return entry


def body(text: str = "hi", **extra: object) -> dict[str, object]:
    return {"anthropic_version": BEDROCK_VERSION, "max_tokens": 20, "messages": user(text), **extra}


# --- Routing ------------------------------------------------------------------------------------


def test_bedrock_routes() -> None:
    plain = match_route(f"/model/{MODEL}/invoke")
    assert plain is not None
    assert (plain.bedrock, plain.stream, plain.anthropic, plain.path_model) == (
        True,
        False,
        True,
        MODEL,
    )
    streamed = match_route(f"/model/{ARN}/invoke-with-response-stream")
    assert streamed is not None
    assert (streamed.bedrock, streamed.stream, streamed.path_model) == (True, True, ARN)
    assert match_route("/model//invoke") is None
    assert match_route("/model/invoke") is None
    assert match_route(f"/model/{MODEL}/converse") is None
    assert match_route(f"/model/{MODEL}/invoke/more") is None
    first_party = match_route("/v1/messages")
    assert first_party is not None and not first_party.bedrock


# --- The official client, SigV4 -----------------------------------------------------------------


def test_json_message_and_what_reached_bedrock(
    base_url: str, bedrock: anthropic.AnthropicBedrock
) -> None:
    raw = bedrock.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, system="be terse", messages=user("bonjour")
    )
    message = raw.parse()
    want = expected(MODEL, "bonjour")
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text == want
    assert message.usage.input_tokens == estimate_tokens("be terse") + estimate_tokens("bonjour")
    assert message.usage.output_tokens == estimate_tokens(want)
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-amzn-bedrock-input-token-count"] == str(message.usage.input_tokens)
    assert raw.headers["x-amzn-bedrock-output-token-count"] == str(message.usage.output_tokens)
    assert len(raw.headers["x-amzn-requestid"]) == 36

    recorded = last_request(base_url)
    assert recorded["path"] == f"/model/{MODEL}/invoke"
    sent = recorded["body"]
    assert isinstance(sent, dict)
    assert "model" not in sent
    assert "stream" not in sent
    assert isinstance(sent["anthropic_version"], str) and sent["anthropic_version"]
    assert sent["max_tokens"] == 50
    assert sent["system"] == "be terse"
    headers = recorded["headers"]
    assert isinstance(headers, dict)
    assert headers["x-amz-date"]
    auth = recorded["auth"]
    assert isinstance(auth, dict) and auth["header"] == "authorization"
    assert "AKIAEXAMPLE" not in json.dumps(recorded)  # the credential only as a fingerprint


def test_stream_helper_text_and_final_message(
    base_url: str, bedrock: anthropic.AnthropicBedrock
) -> None:
    with bedrock.messages.stream(
        model=f"{MODEL}@chunks=4", max_tokens=100, messages=user("stream please")
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    want = expected(MODEL, "stream please")
    assert len(pieces) == 4
    assert "".join(pieces) == want
    assert final.content[0].type == "text"
    assert final.content[0].text == want
    assert final.model == MODEL
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == estimate_tokens("stream please")
    assert final.usage.output_tokens == estimate_tokens(want)
    recorded = last_request(base_url)
    assert recorded["path"] == f"/model/{MODEL}@chunks=4/invoke-with-response-stream"
    sent = recorded["body"]
    assert isinstance(sent, dict) and "stream" not in sent and "model" not in sent


def test_raw_stream_event_sequence(bedrock: anthropic.AnthropicBedrock) -> None:
    stream = bedrock.messages.create(
        model=f"{MODEL}@chunks=2", max_tokens=10, messages=user("events"), stream=True
    )
    events = list(stream)
    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == expected(MODEL, "events")


def test_streamed_parallel_tool_use(bedrock: anthropic.AnthropicBedrock) -> None:
    with bedrock.messages.stream(
        model=f"{MODEL}@tool=alpha,beta@chunks=3", max_tokens=100, messages=user("both")
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", None)) for b in final.content] == [
        ("tool_use", "alpha"),
        ("tool_use", "beta"),
    ]
    assert [getattr(b, "input", None) for b in final.content] == [
        {"text": "both", "index": 0},
        {"text": "both", "index": 1},
    ]


def test_tool_use_from_declared_tools_json(bedrock: anthropic.AnthropicBedrock) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    message = bedrock.messages.create(
        model=MODEL, max_tokens=100, tools=tools, messages=user("who?\n@emulator tools=1")
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.name == "lookup"
    assert block.input == {"text": "who?", "index": 0}


def test_echo_and_structured_output(bedrock: anthropic.AnthropicBedrock) -> None:
    echoed = bedrock.messages.create(
        model=MODEL, max_tokens=20, messages=user("say this\n@emulator echo")
    )
    assert echoed.content[0].type == "text"
    assert echoed.content[0].text == "say this"
    parsed = bedrock.messages.parse(
        model=MODEL, max_tokens=100, messages=user("forecast"), output_format=Forecast
    )
    assert parsed.parsed_output == Forecast(city=expected(MODEL, "forecast"), days=[0])


def test_arn_model_id_with_a_slash(base_url: str, bedrock: anthropic.AnthropicBedrock) -> None:
    message = bedrock.messages.create(model=ARN, max_tokens=20, messages=user("arn"))
    assert message.model == ARN
    assert message.content[0].type == "text"
    assert message.content[0].text == expected(ARN, "arn")
    assert last_request(base_url)["path"] == f"/model/{ARN}/invoke"


def test_status_knob_surfaces_as_sdk_exceptions(bedrock: anthropic.AnthropicBedrock) -> None:
    with pytest.raises(anthropic.RateLimitError) as limited:
        bedrock.messages.create(model=f"{MODEL}@status=429", max_tokens=5, messages=user("x"))
    assert limited.value.body == {"message": "emulated error status 429"}
    assert limited.value.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    with pytest.raises(anthropic.InternalServerError) as unavailable:
        bedrock.messages.create(model=f"{MODEL}@status=503", max_tokens=5, messages=user("x"))
    assert unavailable.value.status_code == 503
    errortype = unavailable.value.response.headers["x-amzn-errortype"]
    assert (
        errortype
        == "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )
    with pytest.raises(anthropic.NotFoundError) as missing:
        bedrock.messages.create(model=f"{MODEL}@status=404", max_tokens=5, messages=user("x"))
    assert missing.value.response.headers["x-amzn-errortype"].startswith(
        "ResourceNotFoundException:"
    )
    with pytest.raises(anthropic.BadRequestError) as bad:
        bedrock.messages.create(model=MODEL, max_tokens=5, messages=user("@emulator nope"))
    assert bad.value.response.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert "nope" in bad.value.body["message"]


def test_status_knob_on_the_stream_endpoint_fails_before_the_stream(
    bedrock: anthropic.AnthropicBedrock,
) -> None:
    with (
        pytest.raises(anthropic.RateLimitError),
        bedrock.messages.stream(
            model=f"{MODEL}@status=429", max_tokens=5, messages=user("x")
        ) as stream,
    ):
        list(stream.text_stream)


def test_status_times_then_success(bedrock: anthropic.AnthropicBedrock) -> None:
    model = f"{MODEL}@status=500@status_times=1"
    with pytest.raises(anthropic.InternalServerError):
        bedrock.messages.create(model=model, max_tokens=5, messages=user("retry me"))
    message = bedrock.messages.create(model=model, max_tokens=5, messages=user("retry me"))
    assert message.content[0].type == "text"
    assert message.content[0].text == expected(MODEL, "retry me")


def test_stream_error_after_chunks(bedrock: anthropic.AnthropicBedrock) -> None:
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="modelStreamErrorException"),
        bedrock.messages.stream(
            model=f"{MODEL}@chunks=3@stream_error_after_chunks=2",
            max_tokens=5,
            messages=user("x"),
        ) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert len(pieces) == 2


def test_drop_after_chunks(bedrock: anthropic.AnthropicBedrock) -> None:
    pieces: list[str] = []
    with (
        pytest.raises((*TRANSPORT_ERRORS, anthropic.APIConnectionError)),
        bedrock.messages.stream(
            model=f"{MODEL}@chunks=3@drop_after_chunks=1", max_tokens=5, messages=user("x")
        ) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert len(pieces) == 1


def test_bearer_api_key_variant(base_url: str) -> None:
    if "api_key" not in inspect.signature(anthropic.AnthropicBedrock.__init__).parameters:
        pytest.skip("this anthropic SDK's AnthropicBedrock takes no Bedrock API key")
    client = anthropic.AnthropicBedrock(
        aws_region="eu-central-1", api_key="bedrock-api-key", base_url=base_url, max_retries=0
    )
    message = client.messages.create(model=MODEL, max_tokens=20, messages=user("bearer"))
    assert message.content[0].type == "text"
    assert message.content[0].text == expected(MODEL, "bearer")
    with client.messages.stream(model=MODEL, max_tokens=20, messages=user("s")) as stream:
        assert "".join(stream.text_stream) == expected(MODEL, "s")
    client.close()
    recorded = last_request(base_url)
    assert recorded["auth"] == {
        "header": "authorization",
        "sha256": auth_fingerprint("bedrock-api-key"),
    }


# --- Raw HTTP: authentication -------------------------------------------------------------------


def signed_headers(url: str, payload: bytes, service: str = "bedrock") -> dict[str, str]:
    """Headers of a request SigV4-signed by botocore for ``service``."""
    request = AWSRequest(
        method="POST", url=url, data=payload, headers={"content-type": "application/json"}
    )
    SigV4Auth(Credentials("AKIAEXAMPLE", "secret"), service, "eu-central-1").add_auth(request)
    return {k: v for k, v in request.headers.items() if v is not None}


def assert_bedrock_error(response: httpx.Response, status: int, exception: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-errortype"].split(":", 1)[0] == exception
    assert response.headers["x-amzn-requestid"]
    error = response.json()
    assert set(error) == {"message"}
    message: str = error["message"]
    return message


def test_signed_request_is_accepted(base_url: str) -> None:
    url = f"{base_url}/model/{MODEL}/invoke"
    payload = json.dumps(body("signed")).encode()
    response = httpx.post(url, content=payload, headers=signed_headers(url, payload))
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == expected(MODEL, "signed")


def test_missing_credential_is_403(base_url: str) -> None:
    response = httpx.post(f"{base_url}/model/{MODEL}/invoke", json=body())
    message = assert_bedrock_error(response, 403, "MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"
    empty_bearer = httpx.post(
        f"{base_url}/model/{MODEL}/invoke", json=body(), headers={"authorization": "Bearer"}
    )
    assert_bedrock_error(empty_bearer, 403, "MissingAuthenticationTokenException")
    assert last_request(base_url)["status"] == 403


def test_credential_for_another_service_is_403(base_url: str) -> None:
    url = f"{base_url}/model/{MODEL}/invoke-with-response-stream"
    payload = json.dumps(body()).encode()
    headers = signed_headers(url, payload, service="s3")
    assert "/s3/aws4_request" in headers["Authorization"]
    response = httpx.post(url, content=payload, headers=headers)
    message = assert_bedrock_error(response, 403, "InvalidSignatureException")
    assert "'bedrock'" in message


def test_signature_without_x_amz_date_is_403(base_url: str) -> None:
    url = f"{base_url}/model/{MODEL}/invoke"
    payload = json.dumps(body()).encode()
    headers = signed_headers(url, payload)
    del headers["X-Amz-Date"]
    response = httpx.post(url, content=payload, headers=headers)
    message = assert_bedrock_error(response, 403, "IncompleteSignatureException")
    assert "X-Amz-Date" in message


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",  # no Credential
        "AWS4-HMAC-SHA256 Credential=AKIA/20250101/eu-central-1/bedrock/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIA/eu-central-1/bedrock, SignedHeaders=host, Signature=a",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_incomplete_signatures_are_403(base_url: str, authorization: str) -> None:
    response = httpx.post(
        f"{base_url}/model/{MODEL}/invoke",
        json=body(),
        headers={"authorization": authorization, "x-amz-date": "20250101T000000Z"},
    )
    assert_bedrock_error(response, 403, "IncompleteSignatureException")


def test_credential_date_must_match_x_amz_date(base_url: str) -> None:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIA/20250101/eu-central-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )
    headers = {"authorization": authorization, "x-amz-date": "20250102T000000Z"}
    response = httpx.post(f"{base_url}/model/{MODEL}/invoke", json=body(), headers=headers)
    assert_bedrock_error(response, 403, "InvalidSignatureException")
    headers["x-amz-date"] = "20250101T235959Z"
    ok = httpx.post(f"{base_url}/model/{MODEL}/invoke", json=body(), headers=headers)
    assert ok.status_code == 200, ok.text


# --- Raw HTTP: validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "needle"),
    [
        (body(model=MODEL), "extraneous key [model] is not permitted"),
        (body(stream=True), "extraneous key [stream] is not permitted"),
        ({"max_tokens": 5, "messages": user("x")}, "required key [anthropic_version] not found"),
        ({"anthropic_version": BEDROCK_VERSION, "messages": user("x")}, "[max_tokens]"),
        ({"anthropic_version": BEDROCK_VERSION, "max_tokens": 5}, "[messages]"),
        (body(messages=[]), "#/messages"),
        (body(anthropic_version=""), "#/anthropic_version"),
        (body(anthropic_beta="not-a-list"), "#/anthropic_beta"),
        ([1, 2], "JSON object"),
    ],
)
def test_malformed_bodies_are_validation_exceptions(
    base_url: str, sent: object, needle: str
) -> None:
    response = httpx.post(f"{base_url}/model/{MODEL}/invoke", json=sent, headers=BEARER)
    message = assert_bedrock_error(response, 400, "ValidationException")
    assert needle in message


def test_anthropic_beta_list_is_accepted(base_url: str) -> None:
    sent = body("beta", anthropic_beta=["context-1m-2025-08-07"])
    response = httpx.post(f"{base_url}/model/{MODEL}/invoke", json=sent, headers=BEARER)
    assert response.status_code == 200, response.text
    assert last_request(base_url)["body"] == sent


def test_invalid_json_is_a_validation_exception(base_url: str) -> None:
    response = httpx.post(f"{base_url}/model/{MODEL}/invoke", content=b"{nope", headers=BEARER)
    assert_bedrock_error(response, 400, "ValidationException")


# --- Raw HTTP: the event stream itself ----------------------------------------------------------


def bedrock_stream(base_url: str, model: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/model/{model}/invoke-with-response-stream", json=body(text), headers=BEARER
    )


def test_stream_is_the_first_party_events_in_event_stream_frames(base_url: str) -> None:
    response = bedrock_stream(base_url, f"{MODEL}@chunks=3@tool=t", "same")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert response.headers["x-amzn-bedrock-content-type"] == "application/json"
    parser = BedrockAnthropicParser()
    bedrock_events = parser.feed(response.content)
    assert parser.pending == 0

    first_party = httpx.post(
        f"{base_url}/v1/messages",
        json={
            "model": f"{MODEL}@chunks=3@tool=t",
            "max_tokens": 20,
            "messages": user("same"),
            "stream": True,
        },
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    sse = SSEParser()
    sse_events = [e for e in sse.feed(first_party.content) if e.event != "ping"]

    def comparable(data: str) -> dict[str, object]:
        event = json.loads(data)
        event.pop("amazon-bedrock-invocationMetrics", None)
        if event["type"] == "message_start":
            event["message"].pop("id")
        return event

    assert [e.event for e in bedrock_events] == [e.event for e in sse_events]
    assert [comparable(e.data) for e in bedrock_events] == [comparable(e.data) for e in sse_events]
    start = json.loads(bedrock_events[0].data)["message"]
    assert start["id"].startswith("msg_bdrk_")


def test_message_stop_carries_invocation_metrics(base_url: str) -> None:
    response = bedrock_stream(base_url, f"{MODEL}@chunks=3@chunk_delay_ms=5@latency_ms=10", "m")
    # The raw chunks, as Bedrock wraps them (the gateway's parser drops the metrics).
    chunks = [
        json.loads(base64.b64decode(json.loads(m.payload)["bytes"]))
        for m in EventStreamDecoder().feed(response.content)
        if m.headers.get(":event-type") == "chunk"
    ]
    assert chunks[-1]["type"] == "message_stop"
    want = expected(MODEL, "m")
    assert chunks[-1]["amazon-bedrock-invocationMetrics"] == {
        "inputTokenCount": estimate_tokens("m"),
        "outputTokenCount": estimate_tokens(want),
        "invocationLatency": 20,
        "firstByteLatency": 10,
    }
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    parsed = BedrockAnthropicParser().feed(response.content)
    assert json.loads(parsed[-1].data) == {"type": "message_stop"}


def test_stream_error_is_a_model_stream_error_exception_frame(base_url: str) -> None:
    response = bedrock_stream(base_url, f"{MODEL}@chunks=3@stream_error_after_chunks=1", "e")
    messages = EventStreamDecoder().feed(response.content)
    last = messages[-1]
    assert last.headers == {
        ":exception-type": "modelStreamErrorException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(last.payload)["message"]
    events = BedrockAnthropicParser().feed(response.content)
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert json.loads(events[-1].data)["error"]["bedrock_type"] == "modelStreamErrorException"


def test_dropped_stream_leaves_a_partial_or_missing_message_stop(base_url: str) -> None:
    url = f"{base_url}/model/{MODEL}@chunks=4@drop_after_chunks=2/invoke-with-response-stream"
    received = b""
    with (
        pytest.raises(httpx.TransportError),
        httpx.stream("POST", url, json=body("d"), headers=BEARER) as response,
    ):
        for piece in response.iter_raw():
            received += piece
    events = BedrockAnthropicParser().feed(received)
    assert [e.event for e in events].count("content_block_delta") == 2
    assert "message_stop" not in [e.event for e in events]


def test_count_tokens_as_botocore_calls_it(base_url: str) -> None:
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=base_url,
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
    )
    invoke = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "count these words please"}],
    }
    answer = client.count_tokens(
        modelId=MODEL, input={"invokeModel": {"body": orjson.dumps(invoke)}}
    )
    assert answer["inputTokens"] > 0
    with pytest.raises(client.exceptions.ValidationException):
        client.count_tokens(
            modelId=MODEL, input={"invokeModel": {"body": orjson.dumps({"messages": []})}}
        )
