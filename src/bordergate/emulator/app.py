"""The emulator as a bare ASGI application.

No framework and no middleware: the emulator is the upstream in benchmarks and must cost far
less per request than the gateway in front of it. One request does one JSON parse, one digest
and one JSON dump; SSE events are built as bytes and, unless ``chunk_delay_ms`` asks for pacing,
sent in a single write. Bedrock streams are the same Anthropic events in AWS event-stream frames
(``bedrock_wire``), paced, cut and failed by the same ``_stream``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from bordergate.emulator import (
    anthropic_wire,
    aws_credentials,
    bedrock_wire,
    google_oauth,
    openai_wire,
)
from bordergate.emulator.asgi import (
    JSON,
    Message,
    Receive,
    Scope,
    Send,
    bearer,
    header,
    plain,
    read_body,
)
from bordergate.emulator.cloud_auth import CloudAuth
from bordergate.emulator.content import (
    Prompt,
    Reply,
    anthropic_prompt,
    openai_prompt,
    plan_reply,
)
from bordergate.emulator.google_oauth import TOKEN_PATH
from bordergate.emulator.knobs import KnobError, Knobs, build_knobs, split_model, strip_directives
from bordergate.emulator.recorder import Record, Recorder
from bordergate.emulator.routes import Auth, Route, match_route

__all__ = ["DropConnection", "EmulatorApp", "Message"]

MODELS_PATHS = frozenset({"/v1/models", "/models"})
REQUESTS_PATH = "/_emulator/requests"
#: DELETE revokes every access token and AWS credential issued so far (tests of refusal).
CREDENTIALS_PATH = "/_emulator/credentials"
HEALTH_PATH = "/_emulator/health"

_JSON = JSON
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_NO_CACHE = (b"cache-control", b"no-cache")

MODELS = (
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("o3-mini", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-haiku-4-5", "anthropic"),
    ("deepseek-chat", "deepseek"),
)
_MODELS_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": owner}
            for name, owner in MODELS
        ],
    }
)
_ATTEMPT_MEMORY = 100_000


class DropConnection(Exception):
    """Raised to make the server close the socket mid-response (``drop_after_chunks``)."""


class _Call:
    """One provider request in flight: where to send, its record entry and request id."""

    __slots__ = ("anthropic", "bedrock", "entry", "request_id", "send", "seq")

    def __init__(
        self, send: Send, entry: Record | None, seq: int, anthropic: bool, bedrock: bool = False
    ) -> None:
        self.send = send
        self.seq = seq
        self.entry = entry
        if bedrock:
            self.request_id = bedrock_wire.request_id(seq)
        else:
            self.request_id = f"req_emu{seq:012d}" if anthropic else f"req_emu_{seq:012d}"
        self.anthropic = anthropic
        self.bedrock = bedrock

    def _id_header(self) -> tuple[bytes, bytes]:
        if self.bedrock:
            name = b"x-amzn-requestid"
        else:
            name = b"request-id" if self.anthropic else b"x-request-id"
        return (name, self.request_id.encode())

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self.entry is not None:
            self.entry.status = status
        headers.append(self._id_header())
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def json(
        self, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [_JSON, (b"content-length", str(len(body)).encode())]
        if extra:
            headers.extend(extra)
        await self.start(status, headers)
        await self.send({"type": "http.response.body", "body": body})

    async def error(
        self,
        status: int,
        message: str,
        retry_after: int | None = None,
        exception: str | None = None,
    ) -> None:
        """An error in this provider's own body shape (429 carries ``retry-after``).

        ``exception`` names the Bedrock exception when the status alone does not determine it.
        """
        extra: list[tuple[bytes, bytes]] = []
        if self.bedrock:
            body = bedrock_wire.error_body(message)
            extra.append(
                bedrock_wire.error_type_header(exception or bedrock_wire.exception_type(status))
            )
        elif self.anthropic:
            body = anthropic_wire.error_body(status, message, self.request_id)
        else:
            body = openai_wire.error_body(status, message)
        if retry_after is not None:
            extra.append((b"retry-after", str(retry_after).encode()))
        await self.json(status, body, extra)


def _cut_index(events: list[tuple[bytes, bool]], after: int) -> int:
    """Index in ``events`` right after the ``after``-th content event (capped at the last one)."""
    content = [i for i, (_, is_content) in enumerate(events) if is_content]
    if not content:
        return len(events)
    if after <= 0:
        return content[0]
    return content[min(after, len(content)) - 1] + 1


def _output_schema(data: dict[str, Any], anthropic: bool) -> dict[str, Any] | None:
    """The JSON Schema a structured-output request asks the answer to satisfy, if any.

    OpenAI: `response_format: {type: json_schema, json_schema: {schema}}`; Anthropic:
    `output_config.format` (or the beta `output_format`) `{type: json_schema, schema}`.
    """
    if anthropic:
        config = data.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else data.get("output_format")
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    else:
        fmt = data.get("response_format")
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
    ok = isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(schema, dict)
    return schema if ok else None


def _declared_tools(data: dict[str, Any], anthropic: bool) -> list[str]:
    """Names of the tools the request declared, in order."""
    names: list[str] = []
    tools = data.get("tools")
    if not isinstance(tools, list):
        return names
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        spec = tool if anthropic else tool.get("function")
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            names.append(spec["name"])
    return names


class EmulatorApp:
    """ASGI app emulating OpenAI chat completions and Anthropic messages (first-party, Vertex,
    Bedrock), Google's OAuth token endpoint for Vertex, AWS's credential services for Bedrock
    (IMDSv2, container credentials, STS web identity), and a request log."""

    def __init__(self, record: int = 100) -> None:
        self.recorder = Recorder(record)
        self._seq = 0
        self._attempts: dict[tuple[str, str, str], int] = {}
        self.auth = CloudAuth(self.recorder)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route = match_route(path)
        if route is not None:
            if method != "POST":
                await plain(send, 405, b'{"error":"method not allowed"}')
                return
            await self._provider(scope, route, await read_body(receive), send)
        elif path in MODELS_PATHS:
            await self._models(scope, send)
        elif path == REQUESTS_PATH:
            if method == "DELETE":
                cleared = self.recorder.clear()
                await plain(send, 200, orjson.dumps({"cleared": cleared}))
            else:
                await plain(send, 200, orjson.dumps(self.recorder.snapshot()))
        elif path == CREDENTIALS_PATH and method == "DELETE":
            revoked = self.auth.revoke()
            await plain(send, 200, orjson.dumps({"revoked": revoked}))
        elif path == HEALTH_PATH:
            await plain(send, 200, b'{"status":"ok"}')
        elif path == TOKEN_PATH:
            if method != "POST":
                await plain(send, 405, b'{"error":"method not allowed"}')
                return
            await self.auth.google_token(scope, await read_body(receive), send)
        elif path == google_oauth.METADATA_TOKEN_PATH:
            await self.auth.metadata_token(scope, send)
        elif (aws := aws_credentials.match(path)) is not None:
            if aws.service == "sts":
                await self.auth.sts(scope, aws, await read_body(receive), send)
            elif aws.service == "container":
                await self.auth.container(scope, aws, send)
            else:
                await self.auth.imds(scope, aws, send)
        else:
            await plain(send, 404, b'{"error":"not found"}')

    def _begin(
        self, scope: Scope, body: object, anthropic: bool, send: Send, bedrock: bool = False
    ) -> _Call:
        self._seq += 1
        entry = self.recorder.add(scope["method"], scope["path"], scope["headers"], body)
        return _Call(send, entry, self._seq, anthropic, bedrock)

    async def _models(self, scope: Scope, send: Send) -> None:
        call = self._begin(scope, None, False, send)
        if not bearer(header(scope["headers"], b"authorization")):
            await call.error(401, "You didn't provide an API key.")
            return
        await call.json(200, _MODELS_BODY)

    async def _provider(self, scope: Scope, route: Route, raw: bytes, send: Send) -> None:
        path: str = scope["path"]
        anthropic = route.anthropic
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        call = self._begin(
            scope,
            data if data is not None else raw.decode("utf-8", "replace"),
            anthropic,
            send,
            route.bedrock,
        )
        if route.bedrock:
            headers = scope["headers"]
            authorization = header(headers, b"authorization")
            refused = bedrock_wire.auth_problem(
                authorization, header(headers, b"x-amz-date")
            ) or self.auth.aws.refusal(
                bedrock_wire.access_key_id(authorization),
                header(headers, b"x-amz-security-token"),
            )
            if refused:
                await call.error(403, refused[1], exception=refused[0])
                return
        else:
            missing = _missing_key(scope["headers"], route.auth)
            if missing:
                await call.error(401, missing)
                return
            if route.vertex and not self.auth.tokens.accepts(
                bearer(header(scope["headers"], b"authorization"))
            ):
                await call.json(401, google_oauth.UNAUTHENTICATED_BODY)
                return
        if route.bedrock and route.counting:  # CountTokens wraps an InvokeModel body
            data, problem = bedrock_wire.count_body(data)
            if problem:
                await call.error(400, problem)
                return
        problem = _validate(data, route)
        if problem:
            await call.error(400, problem)
            return
        model_raw: str = route.path_model or data["model"]
        model, suffix = split_model(model_raw)
        messages = data["messages"]
        if anthropic:
            prompt = anthropic_prompt(data.get("system"), messages)
        else:
            prompt = openai_prompt(messages)
        try:
            text, directive = strip_directives(prompt.last_user_text)
            knobs = build_knobs(suffix, directive)
        except KnobError as exc:
            await call.error(400, f"emulator: {exc}")
            return
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.status and self._should_fail(path, model_raw, text, knobs.status_times):
            retry_after = knobs.retry_after if knobs.status == 429 else None
            await call.error(knobs.status, f"emulated error status {knobs.status}", retry_after)
            return
        if route.counting:
            key = "inputTokens" if route.bedrock else "input_tokens"
            await call.json(200, orjson.dumps({key: prompt.input_tokens}))
            return
        reply = plan_reply(
            model,
            text,
            knobs,
            _declared_tools(data, anthropic),
            "toolu_" if anthropic else "call_",
            prompt.answers_tool_result,
            _output_schema(data, anthropic),
        )
        if route.bedrock:
            mid = f"msg_bdrk_emu{call.seq:012d}"
            await _send_bedrock(call, route.stream, mid, model, prompt, reply, knobs)
        elif anthropic:
            await _send_anthropic(
                call, data, f"msg_emu{call.seq:012d}", model, prompt, reply, knobs
            )
        else:
            await _send_openai(
                call, data, f"chatcmpl-emu{call.seq:012d}", model, prompt, reply, knobs
            )

    def _should_fail(self, path: str, model: str, text: str, times: int) -> bool:
        """Whether the ``status`` knob applies now: always, or for the first ``times`` tries."""
        if times <= 0:
            return True
        key = (path, model, text)
        if len(self._attempts) >= _ATTEMPT_MEMORY and key not in self._attempts:
            self._attempts.clear()
        seen = self._attempts.get(key, 0) + 1
        self._attempts[key] = seen
        return seen <= times


def _missing_key(headers: list[tuple[bytes, bytes]], auth: Auth) -> str:
    """Why the request carries no usable credential for its route, or "" when it does."""
    if bearer(header(headers, b"authorization")):
        return ""  # every surface takes a Bearer token (Anthropic SDKs send the key so)
    if auth == "anthropic":
        key = header(headers, b"x-api-key")
        return "" if key and key.strip() else "x-api-key header is required"
    if auth == "azure":
        key = header(headers, b"api-key")
        return "" if key and key.strip() else "Access denied due to missing subscription key."
    if auth == "vertex":
        return "Request is missing required authentication credential."
    return (
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    )


async def _send_anthropic(
    call: _Call,
    data: dict[str, Any],
    mid: str,
    model: str,
    prompt: Prompt,
    reply: Reply,
    knobs: Knobs,
) -> None:
    if data.get("stream") is True:
        events = anthropic_wire.stream_events(mid, model, prompt, reply, knobs.chunks)
        await _stream(call, events, knobs, anthropic_wire.stream_error_event())
    else:
        await _json_or_drop(call, anthropic_wire.message_body(mid, model, prompt, reply), knobs)


async def _send_bedrock(
    call: _Call,
    stream: bool,
    mid: str,
    model: str,
    prompt: Prompt,
    reply: Reply,
    knobs: Knobs,
) -> None:
    if stream:
        events = bedrock_wire.stream_events(mid, model, prompt, reply, knobs)
        await _stream(call, events, knobs, bedrock_wire.stream_error(), bedrock_wire.STREAM_HEADERS)
    else:
        body = anthropic_wire.message_body(mid, model, prompt, reply)
        await _json_or_drop(call, body, knobs, bedrock_wire.json_headers(prompt, reply, knobs))


async def _send_openai(
    call: _Call,
    data: dict[str, Any],
    cid: str,
    model: str,
    prompt: Prompt,
    reply: Reply,
    knobs: Knobs,
) -> None:
    created = int(time.time())
    n = data.get("n") or 1  # checked by `_validate`
    if data.get("stream") is True:
        options = data.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = openai_wire.chunk_events(
            cid, created, model, prompt, reply, knobs.chunks, include_usage, n
        )
        await _stream(call, events, knobs, openai_wire.stream_error_event())
    else:
        body = openai_wire.completion_body(cid, created, model, prompt, reply, n)
        await _json_or_drop(call, body, knobs)


def _validate(data: Any, route: Route) -> str:
    """The first reason the body is not a well-formed request, or "" if it is."""
    if route.bedrock:
        return bedrock_wire.validate(data)
    if not isinstance(data, dict):
        return "The request body is not valid JSON." if data is None else "Expected a JSON object."
    if route.path_model is None and (not isinstance(data.get("model"), str) or not data["model"]):
        return "model: Field required"
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    if route.anthropic and not route.counting and "max_tokens" not in data:
        return "max_tokens: Field required"
    if route.vertex and not route.counting and "anthropic_version" not in data:
        return "anthropic_version: Field required"
    n = data.get("n", 1)
    n_ok = isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 128
    if not route.anthropic and n is not None and not n_ok:
        return "Invalid 'n': expected an integer between 1 and 128."
    return ""


async def _json_or_drop(
    call: _Call, body: bytes, knobs: Knobs, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    if knobs.drop_after_chunks < 0:
        await call.json(200, body, extra)
        return
    # A non-streamed body has no chunks: announce the full length, send half, hang up.
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await call.start(200, headers)
    await call.send(
        {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
    )
    raise DropConnection


async def _stream(
    call: _Call,
    events: list[tuple[bytes, bool]],
    knobs: Knobs,
    error: bytes,
    headers: tuple[tuple[bytes, bytes], ...] = (_SSE, _NO_CACHE),
) -> None:
    """Send framed events (SSE, or Bedrock's event stream), honouring chunk pacing, a
    mid-stream error event or a dropped socket."""
    await call.start(200, list(headers))
    drop, fail = knobs.drop_after_chunks, knobs.stream_error_after_chunks
    cut: int | None = None
    if drop >= 0 or fail >= 0:
        if drop >= 0 and (fail < 0 or drop <= fail):
            fail = -1
            cut = _cut_index(events, drop)
        else:
            drop = -1
            cut = _cut_index(events, fail)
        events = events[:cut]
    delay = knobs.chunk_delay_ms / 1000
    if delay:
        pending: list[bytes] = []
        seen = 0
        for payload, is_content in events:
            if is_content:
                if seen:
                    await call.send(
                        {"type": "http.response.body", "body": b"".join(pending), "more_body": True}
                    )
                    pending = []
                    await asyncio.sleep(delay)
                seen += 1
            pending.append(payload)
        body = b"".join(pending)
    else:
        body = b"".join(payload for payload, _ in events)
    if drop >= 0:
        await call.send({"type": "http.response.body", "body": body, "more_body": True})
        raise DropConnection
    if fail >= 0:
        body += error
    await call.send({"type": "http.response.body", "body": body})
