"""Send one chat request to one deployment and bring back an OpenAI-format answer.

OpenAI-compatible providers get the client's bytes untouched when no field changes (the common
case: same model id, nothing redacted), and their answer is relayed byte for byte. Anthropic
providers are translated both ways by the pure functions in `bordergate.wire.anthropic`, except
for an Anthropic client's request (`complete_native`, `open_native_stream`): that goes as the
client wrote it (or as redacted in its own format), and its answer comes back as sent.

Amazon Bedrock (`kind: bedrock`) takes the same Messages body with three differences, made
here: the model id goes in the URL instead of the body, `anthropic_version` and the beta
flags go in the body instead of headers, and streams arrive in AWS's binary event-stream
framing (decoded by `bordergate.wire.eventstream` into the same events as Anthropic's SSE).
Google Vertex AI (`kind: vertex`) also takes the model in the URL and `anthropic_version` in
the body, but keeps `stream` in the body, beta flags in the header and streams as SSE; its
bearer token comes from `GoogleTokenSource`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson
from yarl import URL

from bordergate.upstream import errors
from bordergate.upstream.aws_credentials import CredentialError
from bordergate.upstream.deployments import ANTHROPIC_KINDS, Deployment, Provider
from bordergate.upstream.google_auth import TokenError
from bordergate.upstream.sigv4 import SigV4Signer
from bordergate.wire import anthropic as anthropic_wire
from bordergate.wire.errors import WireError
from bordergate.wire.eventstream import BedrockAnthropicParser, EventStreamError
from bordergate.wire.sse import OPENAI_DONE, SSEParser, encode_event

log = logging.getLogger("bordergate.upstream")

T = TypeVar("T")
_TAIL = 8192  # bytes of an OpenAI stream kept to find the usage chunk at the end
#: What Bedrock's InvokeModel wants in an Anthropic body instead of the `anthropic-version` header.
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
#: The same for Vertex AI's rawPredict.
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


@dataclass
class Usage:
    """Token counts reported by the provider (None when it reported nothing)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def from_openai(cls, usage: Any) -> Usage:
        if not isinstance(usage, dict):
            return cls()
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return cls(p if isinstance(p, int) else None, c if isinstance(c, int) else None)


@dataclass
class Completion:
    """A whole (non-streamed) answer in OpenAI format (`native`: the provider's Anthropic body)."""

    body: bytes
    usage: Usage
    native: bool = False


@dataclass
class Stream:
    """An open upstream stream, relayed as OpenAI SSE bytes by iterating `chunks()`."""

    deployment: Deployment
    response: aiohttp.ClientResponse
    include_usage: bool
    usage: Usage = field(default_factory=Usage)
    completed: bool = False
    # An Anthropic provider's own events for an Anthropic client (see `_anthropic_native`).
    native: bool = False
    # Native streams: the closing `message_stop` event, sent once the audit event is durable.
    final: bytes = b""
    failed: bool = False
    # Why the stream ended early, when it did: the audit's outcome ("upstream_timeout" for a
    # stall, else "upstream_error").
    error_kind: str = "upstream_error"

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield SSE bytes for the client; a failure mid-stream ends with an error event."""
        provider = self.deployment.provider
        try:
            if self.native:
                async for piece in self._anthropic_native():
                    yield piece
            elif provider.kind in ANTHROPIC_KINDS:
                async for piece in self._anthropic():
                    yield piece
            else:
                async for piece in self._openai():
                    yield piece
        except TimeoutError:  # first: aiohttp's read timeout is a connection error too
            self.error_kind = "upstream_timeout"
            yield self._error(
                f"provider {provider.name} stalled for more than "
                f"{provider.stream_idle_timeout_s:g} s mid-stream",
                "upstream_timeout",
            )
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionError):
            yield self._error(f"provider {provider.name} closed the stream early", "upstream_error")
        except EventStreamError as exc:
            yield self._error(
                f"provider {provider.name} sent a malformed event stream ({exc})", "upstream_error"
            )
        finally:
            # An unfinished upstream stream (client gone, error) is closed, not pooled.
            if self.completed:
                self.response.release()
            else:
                self.response.close()

    def _error(self, message: str, kind: str) -> bytes:
        """The event that ends a broken stream, in the format the client is reading."""
        if not self.native:
            return _stream_error(message, kind)
        self.failed = True
        body = {"type": "error", "error": {"type": "api_error", "message": message, "code": kind}}
        return encode_event(orjson.dumps(body), "error")

    async def _openai(self) -> AsyncIterator[bytes]:
        tail = b""
        drop_usage = not self.include_usage
        async for data in self.response.content.iter_any():
            tail = data[-_TAIL:] if len(data) >= _TAIL else (tail + data)[-_TAIL:]
            if drop_usage:
                # The gateway asked for usage (to count tokens); the client did not.
                data = self._drop_usage_chunks(data)
                if not data:
                    continue
            yield data
        stripped = tail.rstrip()
        if not stripped.endswith(b"[DONE]"):
            yield _stream_error(
                f"provider {self.deployment.provider.name} ended the stream without [DONE]",
                "upstream_error",
            )
            return
        self.completed = True
        if self.usage.prompt_tokens is None:
            self.usage = _usage_from_tail(tail)

    def _drop_usage_chunks(self, data: bytes) -> bytes:
        """Cut the usage-only event (`choices: []`) out of an event-aligned piece.

        The usage event is the last of a stream, so the piece is searched from its end for
        the last `"usage":` key (an unescaped quote can only start a key): one backward scan
        that stops at once when the event is there, and no per-event work for the others
        (every one of them may carry `"usage":null`).
        """
        at = data.rfind(b'"usage":')
        if at < 0 or data[at + 8 : at + 10].lstrip()[:1] != b"{":
            return data
        start = data.rfind(b"data: ", 0, at)
        end = data.find(b"\n\n", at)
        if start < 0 or end < 0:
            return data  # not event-aligned: leave it (the client may see usage)
        try:
            chunk = orjson.loads(data[start + 6 : end])
        except orjson.JSONDecodeError:
            return data
        if isinstance(chunk, dict) and chunk.get("usage") and not chunk.get("choices"):
            self.usage = Usage.from_openai(chunk["usage"])
            return data[:start] + data[end + 2 :]
        return data

    def _parser(self) -> SSEParser | BedrockAnthropicParser:
        """Anthropic's SSE, or Bedrock's event-stream frames: either way, Anthropic's events."""
        return (
            BedrockAnthropicParser() if self.deployment.provider.kind == "bedrock" else SSEParser()
        )

    async def _anthropic(self) -> AsyncIterator[bytes]:
        parser = self._parser()
        translator = anthropic_wire.AnthropicStreamToOpenAI(self.deployment.upstream_model, True)
        async for data in self.response.content.iter_any():
            out = bytearray()
            for event in parser.feed(data):
                try:
                    chunks = translator.feed(event)
                except anthropic_wire.StreamError as exc:
                    # What this read translated before the error goes out first: the client
                    # keeps the text it was sent, then learns why the stream ended.
                    body = exc.openai_dict()
                    body["error"]["message"] = (
                        f"provider {self.deployment.provider.name}: {exc.message}"
                    )
                    yield bytes(out) + b"data: " + orjson.dumps(body) + b"\n\n"
                    return
                for chunk in chunks:
                    usage = chunk.get("usage")
                    if usage:
                        self.usage = Usage.from_openai(usage)
                    if usage and not self.include_usage and not chunk.get("choices"):
                        continue
                    out += b"data: " + orjson.dumps(chunk) + b"\n\n"
                if event.event == "message_stop":
                    self.completed = True
                    self.usage = Usage.from_openai(translator.usage)
            if out:
                yield bytes(out)
        if not self.completed:
            yield _stream_error(
                f"provider {self.deployment.provider.name} closed the stream early",
                "upstream_error",
            )
            return
        yield OPENAI_DONE

    def _count(self, data: str, usage: dict[str, Any]) -> None:
        """Fold a native usage event into `usage` (Anthropic's keys) and `self.usage`."""
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(payload, dict) and anthropic_wire.fold_stream_usage(payload, usage):
            self.usage = Usage.from_openai(anthropic_wire.anthropic_usage_to_openai(usage))

    async def _anthropic_native(self) -> AsyncIterator[bytes]:
        """The provider's Anthropic events for an Anthropic client, relayed event by event.

        Each event is re-framed as it is parsed (the same event, canonically framed), so that
        usage is counted from `message_start` / `message_delta`, an `error` event ends the
        stream (the server's egress scrubs any key the provider echoes in it), and
        `message_stop` is held back as `final` until the request's audit event is durable.
        """
        parser = self._parser()
        usage: dict[str, Any] = {}
        async for data in self.response.content.iter_any():
            out = bytearray()
            for event in parser.feed(data):
                kind = event.event
                if kind == "message_stop":
                    self.completed = True
                    self.final = encode_event(event.data.encode(), kind)
                    continue
                if kind == "error":
                    self.failed = True
                    out += encode_event(event.data.encode(), kind)  # the server scrubs it
                    break
                if kind in ("message_start", "message_delta"):
                    self._count(event.data, usage)
                out += encode_event(event.data.encode(), kind)
            if out:
                yield bytes(out)
            if self.failed:
                return
        if not self.completed:
            name = self.deployment.provider.name
            yield self._error(f"provider {name} closed the stream early", "upstream_error")


def _stream_error(message: str, kind: str) -> bytes:
    """An OpenAI-style error event: the SDKs raise APIError when a chunk carries `error`."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _usage_from_tail(tail: bytes) -> Usage:
    idx = tail.rfind(b'"usage"')
    if idx < 0:
        return Usage()
    start = tail.rfind(b"data: ", 0, idx)
    end = tail.find(b"\n", idx)
    if start < 0:
        return Usage()
    try:
        chunk = orjson.loads(tail[start + 6 : end if end > 0 else None])
    except orjson.JSONDecodeError:
        return Usage()
    return Usage.from_openai(chunk.get("usage") if isinstance(chunk, dict) else None)


#: Fields with which a caller would choose, per request, another model, host or capacity than
#: the deployment the policy judged: OpenRouter's fallback `models`, `provider` routing,
#: `route` and `preset` (a saved set of those), and the billed `service_tier`. They never
#: leave (an Anthropic client's body keeps only known fields, so the same holds there).
ROUTING_FIELDS = frozenset({"models", "provider", "route", "preset", "service_tier"})


def request_bytes(dep: Deployment, body: dict[str, Any], raw: bytes | None) -> bytes:
    """The upstream body: the client's bytes when nothing changes, else a fresh serialisation.

    Streams always ask the provider for usage (`stream_options.include_usage`) so tokens can be
    counted for limits, budgets and audit; the usage chunk is dropped again for clients that did
    not ask for it.
    """
    kind = dep.provider.kind
    if kind in ANTHROPIC_KINDS:
        try:
            translated = anthropic_wire.openai_request_to_anthropic(body, dep.upstream_model)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            # A shape the validation let through (it checks what every provider needs) that
            # the translation cannot read: the client's mistake, said as one.
            raise WireError(
                400,
                "invalid_request_error",
                f"the request cannot be put in {dep.provider.name}'s format: a field has an "
                f"unexpected shape ({type(exc).__name__})",
            ) from None
        if kind == "bedrock":
            return orjson.dumps(bedrock_body(translated, None))
        if kind == "vertex":
            return orjson.dumps(vertex_body(translated))
        return orjson.dumps(translated)
    wants_usage = body.get("stream") is True and not (
        isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage")
    )
    if not ROUTING_FIELDS.isdisjoint(body):
        body = {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
        raw = None
    if raw is not None and body.get("model") == dep.upstream_model:
        if not wants_usage:
            return raw
        if "stream_options" not in body:
            # Only one key to add: splice it in after the opening brace rather than
            # re-serialising the whole (possibly large) body. The key is new, so the result
            # is the same object as the re-serialisation would be.
            start = len(raw) - len(raw.lstrip())
            if raw[start : start + 1] == b"{":
                rest = raw[start + 1 :].lstrip()
                sep = b"" if rest[:1] == b"}" else b","
                return b'{"stream_options":{"include_usage":true}' + sep + rest
    out = {**body, "model": dep.upstream_model}
    if wants_usage:
        out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return orjson.dumps(out)


@functools.lru_cache(maxsize=256)
def _client_timeout(
    total_s: float, connect_s: float, idle_s: float, stream: bool
) -> aiohttp.ClientTimeout:
    """aiohttp's timeout object for one provider's settings (immutable, so built once)."""
    return aiohttp.ClientTimeout(
        total=None if stream else total_s,
        connect=connect_s,
        sock_read=idle_s if stream else None,
    )


async def first_byte_deadline(call: Awaitable[T], seconds: float) -> T:
    """Await `call`, raising TimeoutError if it takes longer than `seconds`.

    What `asyncio.timeout` does, for the one shape needed here, at a fraction of its cost (in
    Python 3.11 it is pure Python and costs ~10 µs per stream): one timer handle that cancels
    this task; a cancellation that did not come from the timer (the client went away) passes
    through untouched.
    """
    task = asyncio.current_task()
    assert task is not None
    baseline = task.cancelling()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    handle = task.get_loop().call_later(seconds, expire)
    try:
        return await call
    except asyncio.CancelledError:
        if expired and task.uncancel() <= baseline:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


def _credential_origin(provider: Provider) -> str:
    """Where a refused credential came from, so the operator knows what to fix."""
    if provider.aws_chain is not None:
        return f" (AWS credentials from {provider.aws_chain.where})"
    if provider.token_source is not None:
        return f" (access token from {provider.token_source.where})"
    if provider.signer is not None:
        return " (the configured aws_access_key_id)"
    return ""


class Dispatcher:
    """Calls deployments over one long-lived aiohttp session (one per worker)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def _open(
        self,
        dep: Deployment,
        body: dict[str, Any],
        raw: bytes | None,
        stream: bool,
        payload: bytes | None = None,
        url: str | None = None,
        beta: str | None = None,
    ) -> aiohttp.ClientResponse:
        provider = dep.provider
        timeout = _client_timeout(
            provider.timeout_s, provider.connect_timeout_s, provider.stream_idle_timeout_s, stream
        )
        if payload is None:
            payload = request_bytes(dep, body, raw)
        target: str | URL = url or provider.url
        if provider.kind == "bedrock":
            # The model's own endpoint, sent byte for byte as built (and as signed).
            target = URL(url or (dep.stream_url if stream else dep.url), encoded=True)
            headers = provider.headers
            signer = provider.signer
            if provider.aws_chain is not None:
                signer = await self._aws_signer(provider)
            if signer is not None:
                headers = {**headers, **signer.sign("POST", str(target), payload)}
        elif provider.kind == "vertex":
            target = URL(url or (dep.stream_url if stream else dep.url), encoded=True)
            headers = await self._vertex_headers(provider, beta)
        elif beta is None:
            headers = provider.headers
        else:
            headers = {**provider.headers, "anthropic-beta": beta}
        try:
            post = self._post(provider.name, target, payload, headers, timeout)
            if stream:
                # Deadline for the first byte (headers); after that the idle timeout applies.
                resp = await first_byte_deadline(post, provider.timeout_s)
            else:
                resp = await post
        except TimeoutError:
            raise errors.timeout(provider.name, provider.timeout_s) from None
        except aiohttp.ClientConnectorError as exc:
            raise errors.unreachable(provider.name, exc.strerror or type(exc).__name__) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.unreachable(provider.name, type(exc).__name__) from None
        if resp.status != 200:
            if resp.status in (401, 403):
                # Revoked or rotated early: the next request fetches fresh credentials rather
                # than failing with the cached ones until they would have expired.
                if provider.aws_chain is not None:
                    provider.aws_chain.invalidate()
                if provider.token_source is not None:
                    provider.token_source.invalidate()
            try:
                err_body = await resp.read()
            except (aiohttp.ClientError, TimeoutError):
                err_body = b""
            finally:
                resp.release()
            failure = errors.from_status(
                provider.name, resp.status, err_body, resp.headers.get("retry-after")
            )
            if failure.kind == "upstream_auth":
                failure.message += _credential_origin(provider)
            raise failure
        return resp

    async def _post(
        self,
        provider: str,
        target: str | URL,
        payload: bytes,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """POST once more if the connection closed before any answer came back.

        A pooled keep-alive connection that the provider closed while the request was on its
        way fails with "server disconnected" (or a reset) before a single response byte. The
        request most likely never reached the model, and aiohttp retries only idempotent
        methods, so without this a provider's idle-connection timeout surfaces as sporadic
        502s. One retry, as the official SDKs do for connection errors; a failure to connect
        at all is not retried here (it falls back to the next deployment).
        """
        try:
            return await self.session.post(target, data=payload, headers=headers, timeout=timeout)
        except aiohttp.ClientConnectorError:
            raise
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            log.info(
                "provider %s closed the connection before answering (%s); sending once more",
                provider,
                type(exc).__name__,
            )
        return await self.session.post(target, data=payload, headers=headers, timeout=timeout)

    async def _aws_signer(self, provider: Provider) -> SigV4Signer:
        """Bedrock with the platform's credentials: a signer with current ones."""
        assert provider.aws_chain is not None
        try:
            return await provider.aws_chain.signer(self.session, provider.connect_timeout_s)
        except CredentialError as exc:
            raise errors.UpstreamFailure(
                "upstream_auth",
                502,
                f"provider {provider.name}: no AWS credentials ({exc})",
                provider.name,
            ) from None

    async def _vertex_headers(self, provider: Provider, beta: str | None) -> dict[str, str]:
        """Vertex: a current access token (cached; refreshed ahead of expiry) and beta flags."""
        headers = provider.headers
        if provider.token_source is not None:
            try:
                token = await provider.token_source.token(self.session, provider.connect_timeout_s)
            except TokenError as exc:
                raise errors.UpstreamFailure(
                    "upstream_auth",
                    502,
                    f"provider {provider.name}: no Google access token ({exc}); "
                    "the operator must check its Google credentials",
                    provider.name,
                ) from None
            source_headers = provider.token_source.headers  # e.g. the user's quota project
            headers = {**headers, **source_headers, "authorization": f"Bearer {token}"}
        return headers if beta is None else {**headers, "anthropic-beta": beta}

    async def _read_json(self, dep: Deployment, resp: aiohttp.ClientResponse) -> tuple[bytes, Any]:
        """A whole answer's bytes and their parsed JSON; UpstreamFailure if it is neither."""
        try:
            data = await resp.read()
        except TimeoutError:
            raise errors.timeout(dep.provider.name, dep.provider.timeout_s) from None
        except (aiohttp.ClientError, OSError) as exc:
            # Connected, and the answer had begun: the provider broke off, it was reachable.
            raise errors.UpstreamFailure(
                "upstream_error",
                502,
                f"provider {dep.provider.name} broke off its answer ({type(exc).__name__})",
                dep.provider.name,
            ) from None
        finally:
            resp.release()
        try:
            return data, orjson.loads(data)
        except orjson.JSONDecodeError:
            raise errors.UpstreamFailure(
                "upstream_error",
                502,
                f"provider {dep.provider.name} sent invalid JSON",
                dep.provider.name,
            ) from None

    async def complete(
        self, dep: Deployment, body: dict[str, Any], raw: bytes | None
    ) -> Completion:
        """Non-streamed call; raises UpstreamFailure."""
        resp = await self._open(dep, body, raw, stream=False)
        data, parsed = await self._read_json(dep, resp)
        if dep.provider.kind in ANTHROPIC_KINDS:
            parsed = anthropic_wire.anthropic_response_to_openai(parsed, dep.upstream_model)
            data = orjson.dumps(parsed)
        return Completion(data, Usage.from_openai(parsed.get("usage")))

    async def open_stream(
        self, dep: Deployment, body: dict[str, Any], raw: bytes | None, include_usage: bool
    ) -> Stream:
        """Streamed call: returns once the provider accepted (HTTP 200); raises UpstreamFailure."""
        resp = await self._open(dep, body, raw, stream=True)
        return Stream(dep, resp, include_usage)

    async def complete_native(
        self, dep: Deployment, original: dict[str, Any], beta: str | None = None
    ) -> Completion:
        """An Anthropic client's own body to an Anthropic provider; its answer as it came."""
        payload = _native_bytes(dep, original, beta)
        resp = await self._open(dep, original, None, False, payload, None, beta)
        data, parsed = await self._read_json(dep, resp)
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        converted = anthropic_wire.anthropic_usage_to_openai(
            usage if isinstance(usage, dict) else None
        )
        return Completion(data, Usage.from_openai(converted), native=True)

    async def count_tokens(
        self, dep: Deployment, original: dict[str, Any], beta: str | None = None
    ) -> bytes:
        """Anthropic's token count for an Anthropic client's request, in Anthropic's answer.

        Bedrock's CountTokens takes the InvokeModel body it would count, base64-encoded, and
        answers `inputTokens`; the client gets Anthropic's `input_tokens` either way.
        """
        fields = {k: v for k, v in original.items() if k in COUNT_FIELDS}
        fields["model"] = dep.upstream_model
        url = dep.provider.count_url
        key = "input_tokens"
        if dep.provider.kind == "vertex":
            fields["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
        if dep.provider.kind == "bedrock":
            # InvokeModel requires max_tokens; it does not change the input's count.
            invoke = orjson.dumps(bedrock_body({**fields, "max_tokens": 1}, beta))
            fields = {"input": {"invokeModel": {"body": base64.b64encode(invoke).decode()}}}
            url, key = dep.url.removesuffix("/invoke") + "/count-tokens", "inputTokens"
        payload = orjson.dumps(fields)
        resp = await self._open(dep, original, None, False, payload, url, beta)
        data, parsed = await self._read_json(dep, resp)
        count = parsed.get(key) if isinstance(parsed, dict) else None
        if not isinstance(count, int):
            raise errors.UpstreamFailure(
                "upstream_error",
                502,
                f"provider {dep.provider.name} sent no {key}",
                dep.provider.name,
            )
        return data if key == "input_tokens" else orjson.dumps({"input_tokens": count})

    async def open_native_stream(
        self, dep: Deployment, original: dict[str, Any], beta: str | None = None
    ) -> Stream:
        """`complete_native`, streamed: the provider's events are relayed to the client."""
        payload = _native_bytes(dep, original, beta)
        resp = await self._open(dep, original, None, True, payload, None, beta)
        return Stream(dep, resp, True, native=True)


#: The Messages fields an Anthropic client's body keeps on its way to an Anthropic provider.
#: Others (MCP servers, containers, context management, ...) are dropped as the translation
#: drops them: what they carry is not scanned, so it does not leave.
NATIVE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
        "output_config",
        "output_format",
        "cache_control",
    }
)
# Not passed on: `inference_geo` and `service_tier`. Where inference runs and which capacity
# is billed are the operator's choices (the workspace's defaults, the deployment's region),
# which the policy judged; a client must not widen them per request.


#: What `/v1/messages/count_tokens` takes (no `max_tokens`, no sampling, no stream).
COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})


def _native_bytes(dep: Deployment, original: dict[str, Any], beta: str | None = None) -> bytes:
    """The client's Anthropic body, known fields only, with the deployment's model id."""
    kept = {k: v for k, v in original.items() if k in NATIVE_FIELDS}
    if dep.provider.kind in ("bedrock", "vertex"):
        # Automatic prompt caching is Anthropic's own API; Bedrock refuses keys it does not
        # know, and neither platform takes it.
        kept.pop("cache_control", None)
        if dep.provider.kind == "bedrock":
            return orjson.dumps(bedrock_body(kept, beta))
        return orjson.dumps(vertex_body(kept))
    kept["model"] = dep.upstream_model
    return orjson.dumps(kept)


def bedrock_body(anthropic_body: dict[str, Any], beta: str | None) -> dict[str, Any]:
    """An Anthropic Messages body as Bedrock's InvokeModel takes it.

    Bedrock rejects keys it does not know: `model` is in the URL and `stream` is the choice of
    endpoint, so both go; the API version and any beta flags (the client's `anthropic-beta`
    header) travel in the body.
    """
    out = {k: v for k, v in anthropic_body.items() if k not in ("model", "stream")}
    out["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    if beta:
        flags = [flag.strip() for flag in beta.split(",") if flag.strip()]
        if flags:
            out["anthropic_beta"] = flags
    return out


def vertex_body(anthropic_body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages body as Vertex AI's rawPredict takes it: the model is in the URL,
    the API version in the body (`stream` stays: it picks nothing, the URL's verb does, but
    Vertex expects the two to agree)."""
    out = {k: v for k, v in anthropic_body.items() if k != "model"}
    out["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
    return out
