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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from bordergate.emulator import (
    anthropic_wire,
    aws_credentials,
    bedrock_wire,
    google_oauth,
    openai_wire,
)
from bordergate.emulator.aws_credentials import AwsRoute, CredentialError, CredentialIssuer
from bordergate.emulator.content import (
    Prompt,
    Reply,
    anthropic_prompt,
    auth_fingerprint,
    openai_prompt,
    plan_reply,
)
from bordergate.emulator.google_oauth import TOKEN_PATH, GrantError, TokenIssuer
from bordergate.emulator.knobs import KnobError, Knobs, build_knobs, split_model, strip_directives
from bordergate.emulator.recorder import Record, Recorder
from bordergate.emulator.routes import Auth, Route, match_route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS_PATHS = frozenset({"/v1/models", "/models"})
REQUESTS_PATH = "/_emulator/requests"
#: DELETE revokes every access token and AWS credential issued so far (tests of refusal).
CREDENTIALS_PATH = "/_emulator/credentials"
HEALTH_PATH = "/_emulator/health"

_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain")
_XML = (b"content-type", b"text/xml")
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_NO_CACHE = (b"cache-control", b"no-cache")
_NO_STORE = (b"cache-control", b"no-store")

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


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _bearer(value: bytes | None) -> str:
    if not value:
        return ""
    text = value.decode("latin-1").strip()
    return text[7:].strip() if text[:7].lower() == "bearer " else ""


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
        self.tokens = TokenIssuer()
        self.aws = CredentialIssuer()

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
                await _plain(send, 405, b'{"error":"method not allowed"}')
                return
            await self._provider(scope, route, await _read_body(receive), send)
        elif path in MODELS_PATHS:
            await self._models(scope, send)
        elif path == REQUESTS_PATH:
            if method == "DELETE":
                cleared = self.recorder.clear()
                await _plain(send, 200, orjson.dumps({"cleared": cleared}))
            else:
                await _plain(send, 200, orjson.dumps(self.recorder.snapshot()))
        elif path == CREDENTIALS_PATH and method == "DELETE":
            revoked = self.tokens.revoke() + self.aws.revoke()
            await _plain(send, 200, orjson.dumps({"revoked": revoked}))
        elif path == HEALTH_PATH:
            await _plain(send, 200, b'{"status":"ok"}')
        elif path == TOKEN_PATH:
            if method != "POST":
                await _plain(send, 405, b'{"error":"method not allowed"}')
                return
            await self._token(scope, await _read_body(receive), send)
        elif path == google_oauth.METADATA_TOKEN_PATH:
            await self._metadata_token(scope, send)
        elif (aws := aws_credentials.match(path)) is not None:
            if aws.service == "sts":
                await self._sts(scope, aws, await _read_body(receive), send)
            elif aws.service == "container":
                await self._container(scope, aws, send)
            else:
                await self._imds(scope, aws, send)
        else:
            await _plain(send, 404, b'{"error":"not found"}')

    def _begin(
        self, scope: Scope, body: object, anthropic: bool, send: Send, bedrock: bool = False
    ) -> _Call:
        self._seq += 1
        entry = self.recorder.add(scope["method"], scope["path"], scope["headers"], body)
        return _Call(send, entry, self._seq, anthropic, bedrock)

    async def _models(self, scope: Scope, send: Send) -> None:
        call = self._begin(scope, None, False, send)
        if not _bearer(_header(scope["headers"], b"authorization")):
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
            authorization = _header(headers, b"authorization")
            refused = bedrock_wire.auth_problem(
                authorization, _header(headers, b"x-amz-date")
            ) or self.aws.refusal(
                bedrock_wire.access_key_id(authorization),
                _header(headers, b"x-amz-security-token"),
            )
            if refused:
                await call.error(403, refused[1], exception=refused[0])
                return
        else:
            missing = _missing_key(scope["headers"], route.auth)
            if missing:
                await call.error(401, missing)
                return
            if route.vertex and not self.tokens.accepts(
                _bearer(_header(scope["headers"], b"authorization"))
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

    async def _token(self, scope: Scope, raw: bytes, send: Send) -> None:
        """Google's OAuth 2.0 token endpoint: a JWT bearer grant for an access token."""
        headers = scope["headers"]
        form = google_oauth.parse_form(raw)
        entry = self.recorder.add(scope["method"], scope["path"], headers, form)
        query: bytes = scope.get("query_string", b"")
        try:
            knobs = google_oauth.parse_knobs(query)
            content_type = (_header(headers, b"content-type") or b"").decode("latin-1")
            if content_type.partition(";")[0].strip().lower() != google_oauth.FORM_TYPE:
                raise GrantError(
                    "invalid_request", f"Content-Type must be {google_oauth.FORM_TYPE}"
                )
            host = (_header(headers, b"host") or b"").decode("latin-1")
            if not host and scope.get("server"):
                host = "{}:{}".format(*scope["server"])
            audiences = google_oauth.token_audiences(scope["scheme"], host, scope["path"], query)
            issuer = google_oauth.check_grant(form, audiences, time.time())
        except GrantError as exc:
            await _token_answer(send, entry, exc.status, exc.body())
            return
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.status:
            await _token_answer(
                send, entry, knobs.status, google_oauth.error_status_body(knobs.status)
            )
            return
        token = self.tokens.issue(issuer, knobs.expires_in)
        await _token_answer(send, entry, 200, google_oauth.token_body(token, knobs.expires_in))

    async def _metadata_token(self, scope: Scope, send: Send) -> None:
        """The metadata server's access token for the machine's service account (GCE, GKE).

        Like Google's, it answers only requests that carry `Metadata-Flavor: Google` (which a
        browser tricked into calling it cannot set); the token is one the Vertex routes accept.
        """
        entry = self.recorder.add(scope["method"], scope["path"], scope["headers"], None)
        if scope["method"] != "GET":
            await _answer(send, entry, 405, b'{"error":"method not allowed"}', [_JSON])
            return
        flavor = _header(scope["headers"], b"metadata-flavor")
        if flavor is None or flavor.strip().lower() != b"google":
            text = (b"content-type", b"text/plain")
            await _answer(send, entry, 403, google_oauth.METADATA_FLAVOR_ERROR, [text])
            return
        lifetime = 3599
        token = self.tokens.issue(google_oauth.METADATA_ACCOUNT, lifetime)
        body = google_oauth.token_body(token, lifetime)
        await _answer(send, entry, 200, body, [_JSON, (b"metadata-flavor", b"Google")])

    async def _imds(self, scope: Scope, route: AwsRoute, send: Send) -> None:
        """EC2 instance metadata, IMDSv2 only: a session token, then the role's credentials."""
        headers = scope["headers"]
        method: str = scope["method"]
        entry = self.recorder.add(method, scope["path"], headers, None)
        if method != ("PUT" if route.service == "imds-token" else "GET"):
            await _answer(send, entry, 405, b"Method Not Allowed", [_TEXT])
            return
        try:
            if route.service == "imds-token":
                ttl = aws_credentials.imds_ttl(_header(headers, aws_credentials.IMDS_TTL_HEADER))
                token = self.aws.open_session(ttl)
                extra = [_TEXT, (aws_credentials.IMDS_TTL_HEADER, str(ttl).encode())]
                await _answer(send, entry, 200, token.encode(), extra)
                return
            if not self.aws.session_open(_header(headers, aws_credentials.IMDS_TOKEN_HEADER)):
                await _answer(send, entry, 401, b"", [_TEXT])
                return
            if route.service == "imds-roles":
                await _answer(send, entry, 200, aws_credentials.ROLE_NAME.encode(), [_TEXT])
                return
            if route.rest != aws_credentials.ROLE_NAME:
                await _answer(send, entry, 404, b"Not Found", [_TEXT])
                return
            lifetime = aws_credentials.lifetime(route, scope.get("query_string", b""))
        except CredentialError as exc:
            await _answer(send, entry, exc.status, exc.message.encode(), [_TEXT])
            return
        body = aws_credentials.imds_body(self.aws.issue(lifetime))
        await _answer(send, entry, 200, body, [_JSON])

    async def _container(self, scope: Scope, route: AwsRoute, send: Send) -> None:
        """The ECS / EKS Pod Identity container credentials endpoint."""
        headers = scope["headers"]
        method: str = scope["method"]
        entry = self.recorder.add(method, scope["path"], headers, None)
        error = aws_credentials.container_error
        if method != "GET":
            body = error("MethodNotAllowed", f"{method} is not allowed; use GET")
            await _answer(send, entry, 405, body, [_JSON])
            return
        authorization = _header(headers, b"authorization")
        if authorization is not None and not authorization.strip():
            body = error("Unauthorized", "The Authorization header must not be empty.")
            await _answer(send, entry, 401, body, [_JSON])
            return
        if route.rest == aws_credentials.FORBIDDEN_CONTAINER_ID:
            body = error(
                "AccessDenied",
                f"emulator: credentials for id {aws_credentials.FORBIDDEN_CONTAINER_ID!r} "
                "are always refused",
            )
            await _answer(send, entry, 403, body, [_JSON])
            return
        try:
            lifetime = aws_credentials.lifetime(route, scope.get("query_string", b""))
        except CredentialError as exc:
            await _answer(send, entry, 400, error("InvalidParameter", exc.message), [_JSON])
            return
        body = aws_credentials.container_body(self.aws.issue(lifetime))
        await _answer(send, entry, 200, body, [_JSON])

    async def _sts(self, scope: Scope, route: AwsRoute, raw: bytes, send: Send) -> None:
        """STS AssumeRoleWithWebIdentity, in the query protocol (a form POST or a GET).

        Anything else addressed to ``/`` is not found, as before STS was emulated.
        """
        headers = scope["headers"]
        method: str = scope["method"]
        content_type = (_header(headers, b"content-type") or b"").decode("latin-1")
        is_form = content_type.partition(";")[0].strip().lower() == aws_credentials.FORM_TYPE
        form = raw if method == "POST" and is_form else None
        params = aws_credentials.sts_params(scope.get("query_string", b""), form)
        if method not in ("GET", "POST") or not aws_credentials.is_sts_call(params):
            await _plain(send, 404, b'{"error":"not found"}')
            return
        recorded = aws_credentials.redacted(params, auth_fingerprint)
        entry = self.recorder.add(method, scope["path"], headers, recorded)
        rid = aws_credentials.request_id()
        extra = [_XML, (b"x-amzn-requestid", rid.encode())]
        try:
            assumption = aws_credentials.check_assumption(params)
            lifetime = assumption.duration or aws_credentials.lifetime(route, b"")
        except CredentialError as exc:
            await _answer(send, entry, exc.status, aws_credentials.sts_error_body(exc, rid), extra)
            return
        body = aws_credentials.sts_body(assumption, self.aws.issue(lifetime), rid)
        await _answer(send, entry, 200, body, extra)

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
    if _bearer(_header(headers, b"authorization")):
        return ""  # every surface takes a Bearer token (Anthropic SDKs send the key so)
    if auth == "anthropic":
        key = _header(headers, b"x-api-key")
        return "" if key and key.strip() else "x-api-key header is required"
    if auth == "azure":
        key = _header(headers, b"api-key")
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


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _token_answer(send: Send, entry: Record | None, status: int, body: bytes) -> None:
    if entry is not None:
        entry.status = status
    headers = [_JSON, (b"content-length", str(len(body)).encode()), _NO_STORE]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer(
    send: Send, entry: Record | None, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """A whole answer with ``headers`` (content type first), its status noted in ``entry``."""
    if entry is not None:
        entry.status = status
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
