"""The chat endpoints (OpenAI `/v1/chat/completions`, Anthropic `/v1/messages`): the hot path.

ingress (bounded body, parse once) -> identity -> limits -> classify (DLP) -> candidates ->
decide (policy per candidate: as is, redacted, or not) -> dispatch with fallback before the
first byte -> egress (restore, translate) -> audit. Every request ends in exactly one response
or error in the client's own format, and exactly one audit event; with strict durability the
last bytes go out only after the event is durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bordergate.audit.event import Finding, to_nanousd
from bordergate.audit.event import now_time as audit_now
from bordergate.audit.report import BLOCKED_KINDS
from bordergate.audit.store import PreparedEvent, prepare_event
from bordergate.audit.writer import AuditWriteError
from bordergate.catalog.types import DeploymentFacts
from bordergate.dlp.redact import RedactionError, Redactor
from bordergate.dlp.request import RequestFindings, scan_request
from bordergate.dlp.scanner import ScanError
from bordergate.identity.auth import CREDENTIAL_HEADERS, AuthError
from bordergate.identity.keys import KeyLimits
from bordergate.identity.principal import Principal
from bordergate.identity.types import Identity
from bordergate.limits import LimitExceeded, Reservation
from bordergate.policy.engine import PolicyEngine
from bordergate.policy.explain import allowed_names
from bordergate.server.asgi import (
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    read_body,
)
from bordergate.server.bodies import BodyRecord
from bordergate.server.egress import (
    NativeStreamEgress,
    StreamEgress,
    egress_json,
    egress_native_json,
)
from bordergate.server.errors import GatewayError, bad_request, not_found
from bordergate.server.gateway import Gateway
from bordergate.upstream.breaker import Breaker
from bordergate.upstream.deployments import ANTHROPIC_KINDS, Deployment
from bordergate.upstream.dispatch import Completion, Stream, Usage
from bordergate.upstream.errors import UpstreamFailure
from bordergate.wire.anthropic import anthropic_request_to_openai
from bordergate.wire.openai import ChatRequest, WireError, validate_chat_request

log = logging.getLogger("bordergate.chat")

ANONYMOUS = Identity(Principal(id="anonymous"), KeyLimits(), "none")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DEFAULT_COMPLETION_ESTIMATE = 512


@dataclass(slots=True)
class Outcome:
    """What the audit event will say about one request, filled in as the request progresses."""

    request_id: str
    endpoint: str
    arrived: str = field(default_factory=audit_now)
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    model_requested: str | None = None
    facts: DeploymentFacts | None = None
    decision: str = "allow"
    policy_ids: tuple[str, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    status: int = 200
    error_kind: str = "served"
    # (prompt, completion) tokens reserved before dispatch, charged when no usage comes back.
    estimate: tuple[int, int] = (0, 0)
    served_by: Deployment | None = None
    # The deployment last sent the request: a client that leaves while it answers is charged
    # the estimate, as the provider will charge for the work.
    tried: Deployment | None = None
    # A client can hang up after the request was settled and recorded, while the last bytes
    # go out (or while waiting for a strict commit); the disconnect path must then neither
    # settle nor record it a second time (the queued event is still written).
    settled: bool = False
    recorded: bool = False
    # Only with `audit.store_bodies`: the prompt and answer the event will carry, sealed.
    bodies: BodyRecord | None = None

    def fail(self, exc: GatewayError) -> None:
        self.status = exc.status
        self.error_kind = error_kind(exc)
        # On purpose ("deny": what reports count as blocked) or not ("error").
        self.decision = "deny" if self.error_kind in BLOCKED_KINDS else "error"

    def prepared(
        self, prompt_enc: str | None = None, response_enc: str | None = None
    ) -> PreparedEvent:
        """The audit event in its prepared form, built directly (the request path's way)."""
        principal, facts = self.principal, self.facts
        return prepare_event(
            request_id=self.request_id,
            endpoint=self.endpoint,
            decision=self.decision,
            status=self.status,
            error_kind=self.error_kind,
            time=self.arrived,
            principal_id=(principal.id or None) if principal is not None else None,
            team=(principal.team or None) if principal is not None else None,
            model_requested=self.model_requested,
            deployment=(facts.deployment or None) if facts is not None else None,
            vendor=(facts.vendor or None) if facts is not None else None,
            vendor_country=(facts.vendor_country or None) if facts is not None else None,
            host=(facts.host or None) if facts is not None else None,
            host_country=(facts.host_country or None) if facts is not None else None,
            region=(facts.region or None) if facts is not None else None,
            policy_ids=self.policy_ids,
            findings=self.findings,
            prompt_tokens=self.usage.prompt_tokens or 0,
            completion_tokens=self.usage.completion_tokens or 0,
            cost_nanousd=to_nanousd(self.cost_usd),
            latency_us=int((time.perf_counter() - self.started) * 1_000_000),
            prompt_enc=prompt_enc,
            response_enc=response_enc,
        )


def error_kind(exc: GatewayError) -> str:
    """The audit log's outcome name for a refusal or failure."""
    if exc.status == 401:
        return "auth_failed"
    if exc.type in ("policy_denied", "data_policy_denied", "budget_exceeded"):
        return exc.type
    if exc.type == "rate_limit_exceeded":
        return "rate_limited"
    if exc.type in ("upstream_timeout", "upstream_unavailable"):
        return exc.type
    if exc.type == "limits_unavailable":
        return "internal_error"
    if exc.type.startswith("upstream_") or exc.type == "rate_limited":
        return "upstream_error"
    if exc.status in (400, 404, 405, 408, 413, 422):
        return "bad_request"
    return exc.type


@dataclass
class Plan:
    """Permitted candidates in order, each with the classes to redact before sending."""

    permitted: list[tuple[Deployment, frozenset[str]]]
    policy_ids: tuple[str, ...] = ()


_ID_PREFIX = "req_" + os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """Unique across replicas (random per process) and cheap (no syscall per request)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


# --------------------------------------------------------------------------- ingress
MAX_JSON_DEPTH = 128


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` levels (iteratively: no recursion to overflow).

    orjson parses up to 1024 levels but serializes only up to 254, and the gateway
    re-serializes bodies it translates or redacts; a bound well below both keeps every later
    step (DLP walk, translation, redaction) safe, and no real request comes near it. Only
    containers are pushed, and exact type checks keep the walk cheap (it runs per request).
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > limit:
            raise bad_request(f"request body is nested too deeply (more than {limit} levels)")
        kind = type(node)
        if kind is dict:
            children = node.values()
        elif kind is list:
            children = node
        else:
            continue  # a scalar body: nothing nested
        depth += 1
        for child in children:
            child_kind = type(child)
            if child_kind is dict or child_kind is list:
                push((child, depth))


def parse_chat(
    raw: bytes, client: str, max_messages: int, *, counting: bool = False
) -> ChatRequest:
    """Parse and validate a body once into the internal (OpenAI-shaped) request.

    `counting`: an Anthropic token-count body, which has no `max_tokens`."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    check_depth(body)
    try:
        if client == "anthropic":
            if not isinstance(body, dict):
                raise WireError(400, "invalid_request_error", "request body must be a JSON object")
            if not counting and not isinstance(body.get("max_tokens"), int):
                raise WireError(
                    400, "invalid_request_error", "max_tokens: required integer", "max_tokens"
                )
            req = validate_chat_request(
                anthropic_request_to_openai(body), max_messages=max_messages
            )
            req.original = body
            return req
        return validate_chat_request(body, max_messages=max_messages)
    except WireError as exc:
        raise GatewayError(exc.status, exc.type, exc.message, param=exc.param) from None


_CREDENTIAL_HEADERS = tuple(name.encode() for name in CREDENTIAL_HEADERS)


async def authenticate(gw: Gateway, scope: Scope) -> Identity:
    if gw.auth is None:
        return ANONYMOUS
    # Only the credential headers matter (ASGI names are lower-case bytes): decode just those.
    headers = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope["headers"]
        if k in _CREDENTIAL_HEADERS
    }
    try:
        return await gw.auth.authenticate(headers)
    except AuthError as exc:
        if exc.status == 401:
            raise GatewayError(
                401, "authentication_error", exc.reason, code="invalid_api_key"
            ) from None
        raise GatewayError(exc.status, "identity_unavailable", exc.reason) from None


def audited_name(gw: Gateway, model: str) -> str:
    """What the audit keeps of a model name the gateway does not offer: the client wrote it,
    so it may be anything (a pasted key). With the scanner on, a name with a finding is kept
    as `[redacted]`; the log is append-only, so a value in it could never be purged."""
    if gw.scanner is not None:
        try:
            if gw.scanner.scan(model):
                return "[redacted]"
        except ScanError:
            return "[redacted]"
    return model


def candidates_for(gw: Gateway, model: str) -> list[Deployment]:
    """Ordered candidate deployments for a client-facing name (404 when there are none)."""
    deps = gw.deployments.get(model)
    if deps:
        return deps
    if model in gw.unavailable:
        raise GatewayError(
            503,
            "model_unavailable",
            f"model {model!r} is configured but none of its providers is available "
            f"({gw.unavailable[model]})",
            code="model_unavailable",
        )
    raise not_found(
        f"model {model!r} is not offered by this gateway; GET /v1/models lists the models "
        "you may use"
    )


# --------------------------------------------------------------------------- classify
def classify(gw: Gateway, req: ChatRequest, out: Outcome) -> RequestFindings | None:
    """Scan every text of the request; fail closed if scanning fails."""
    if gw.scanner is None:
        return None
    try:
        # An Anthropic client's own body is what is scanned (and redacted): it may be sent as
        # it is, and it holds what the translation drops (thinking blocks, for one).
        if req.original is not None:
            findings = scan_request(req.original, gw.scanner, "anthropic")
        else:
            findings = scan_request(req.body, gw.scanner, "openai")
    except (ScanError, RecursionError) as exc:
        raise GatewayError(
            503,
            "data_scan_failed",
            f"the request could not be scanned for sensitive data ({exc}); it was not sent",
            code="data_scan_failed",
        ) from None
    if findings:
        out.findings = [Finding(c, r, n) for (c, r), n in sorted(findings.rules.items())]
    return findings


# --------------------------------------------------------------------------- decide
def decide(
    gw: Gateway,
    engine: PolicyEngine | None,
    principal: Principal,
    candidates: list[Deployment],
    findings: RequestFindings | None,
    estimated_tokens: int,
    endpoint: str,
) -> Plan:
    """Policy per candidate: permitted as is, permitted if redacted, or not; deny if none."""
    if engine is None:
        return Plan([(d, frozenset()) for d in candidates])
    classes = findings.classes if findings else frozenset()
    redactable = classes & gw.redactable
    permitted: list[tuple[Deployment, frozenset[str]]] = []
    permit_ids: tuple[str, ...] = ()
    denials: list[tuple[str, ...]] = []
    reasons: list[str] = []
    for dep in candidates:
        assert dep.facts is not None
        d = engine.decide(principal, dep.facts, classes, estimated_tokens, endpoint)
        if d.allowed:
            permitted.append((dep, frozenset()))
            permit_ids = permit_ids or d.policy_ids
            continue
        if redactable:
            d2 = engine.decide(
                principal, dep.facts, classes - redactable, estimated_tokens, endpoint
            )
            if d2.allowed:
                permitted.append((dep, redactable))
                permit_ids = permit_ids or d2.policy_ids
                continue
        denials.append(d.policy_ids)
        reasons.extend(r for r in d.reasons if r not in reasons)
    if permitted:
        return Plan(permitted, permit_ids)
    ids = tuple(dict.fromkeys(i for ids in denials for i in ids))
    if classes and any(
        engine.decide(principal, dep.facts, frozenset(), estimated_tokens, endpoint).allowed
        for dep in candidates
        if dep.facts is not None
    ):
        rules = findings.rule_names if findings else []
        raise GatewayError(
            403,
            "data_policy_denied",
            f"the request carries data that may not go to any deployment of this model: "
            f"classes {', '.join(sorted(classes))} (rules {', '.join(rules)}); "
            f"denied by {', '.join(ids)}: {'; '.join(reasons)}",
            code="data_policy_denied",
            extra={
                "data_classes": sorted(classes),
                "rules": rules,
                "policy_ids": list(ids),
                "reasons": reasons,
            },
        )
    alternatives = allowed_names(engine, principal, gw.facts_by_name())
    raise GatewayError(
        403,
        "policy_denied",
        f"policy forbids you to use {candidates[0].facts.vendor if candidates[0].facts else ''} "
        f"model {req_name(candidates)}: {'; '.join(reasons) or 'no policy permits it'} "
        f"[{', '.join(ids)}]. You may use: {', '.join(alternatives) or 'no model'}",
        code="policy_denied",
        extra={"policy_ids": list(ids), "reasons": reasons, "alternatives": alternatives},
    )


def req_name(candidates: list[Deployment]) -> str:
    facts = candidates[0].facts
    return facts.model if facts is not None and facts.model else candidates[0].upstream_model


# --------------------------------------------------------------------------- dispatch
def failure_error(failure: UpstreamFailure) -> GatewayError:
    """What the client sees of an upstream failure: the gateway's kind as `type`, and the
    provider's own `code` and `param` where it gave them (else the kind again as `code`)."""
    headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
    return GatewayError(
        failure.status,
        failure.kind,
        failure.message,
        code=failure.code or failure.kind,
        param=failure.param,
        headers=headers,
    )


def forwardable(gw: Gateway, raw: bytes, client: str) -> bytes | None:
    """The client's own bytes, when they may go upstream as they came (else None: re-encode).

    With the data-egress scan on, what leaves must be what was scanned: the parsed body,
    encoded again. Raw bytes could carry what the parse dropped (a duplicate key keeps only
    its last value, which a provider's parser may not) past the scan. Without the scan, the
    same holds for the one key that picks what serves: `model`.
    """
    if client != "openai" or gw.scanner is not None:
        return None
    # A second `"model"` may be a duplicate key: the policy judged the last one (as the JSON
    # parser keeps it), and a provider whose parser keeps the first must not see another.
    # A key can also be spelt with escapes (`"\u006dodel"`): a body with any is encoded again.
    return raw if raw.count(b'"model"') == 1 and b"\\u" not in raw else None


async def dispatch(
    gw: Gateway,
    req: ChatRequest,
    raw: bytes | None,
    plan: Plan,
    findings: RequestFindings | None,
    out: Outcome,
    beta: str | None = None,
) -> tuple[Deployment, Completion | Stream, dict[str, str] | None]:
    """Try permitted candidates in order; fall back only before the first byte.

    `beta` is an Anthropic client's `anthropic-beta` header, passed on with its own body.

    `out.facts` names each deployment as it is tried, so when every candidate fails the audit
    event says which provider failed (the last one tried), not just that something did.
    """
    assert gw.dispatcher is not None
    failure: UpstreamFailure | None = None
    unfit: WireError | None = None
    unredactable: GatewayError | None = None
    paused: list[tuple[Deployment, Breaker]] = []
    for dep, redact in plan.permitted:
        breaker = gw.breaker(dep)
        if not breaker.allow(time.monotonic()):
            paused.append((dep, breaker))
            continue
        body, forward, vault, original = req.body, raw, None, req.original
        # Anthropic client, Anthropic provider: its own body goes (redacted if need be), with
        # what the OpenAI form cannot carry (prompt caching, thinking, top_k).
        native = original is not None and dep.provider.kind in ANTHROPIC_KINDS
        if redact and findings:
            redactor = Redactor()
            try:
                if original is not None:  # redacted in the client's format, then translated
                    # A value in signed thinking cannot be rewritten, but the translation
                    # drops thinking: it must not make redaction refuse the request there.
                    scope = findings if native else findings.outside_thinking()
                    original = redacted(redactor, original, scope, redact)
                    if not native:
                        body = _translated(original)
                else:
                    body = redacted(redactor, req.body, findings, redact)
            except GatewayError as exc:
                if exc.code != "data_policy_denied":
                    raise
                # This deployment needs a redaction that cannot be made (a value in a URL the
                # provider fetches); a later one may take the request as it is.
                breaker.withdrawn()
                unredactable = unredactable or exc
                continue
            forward, vault = None, dict(redactor.vault)
        out.facts, out.tried = dep.facts, dep
        result: Completion | Stream
        try:
            if native:
                assert original is not None
                dispatcher = gw.dispatcher
                if req.stream:
                    result = await dispatcher.open_native_stream(dep, original, beta)
                else:
                    result = await dispatcher.complete_native(dep, original, beta)
            elif req.stream:
                result = await gw.dispatcher.open_stream(dep, body, forward, req.include_usage)
            else:
                result = await gw.dispatcher.complete(dep, body, forward)
        except WireError as exc:
            # This deployment's wire format cannot carry the request (`n` > 1 towards an
            # Anthropic-format provider, say). Nothing was sent; another candidate may serve.
            # %r: the message can quote the client's values, which must not forge log lines.
            log.info("deployment %s cannot carry the request: %r", dep.id, exc.message)
            breaker.withdrawn()
            unfit = unfit or exc
            continue
        except UpstreamFailure as exc:
            # Refused credentials fail every request until the operator acts: say so loudly.
            level = logging.WARNING if exc.kind == "upstream_auth" else logging.INFO
            log.log(level, "deployment %s failed: %s (%s)", dep.id, exc.kind, exc.message)
            failure = exc
            report_outcome(dep, breaker, exc)
            if not exc.retryable:
                break
            continue
        report_outcome(dep, breaker, None)
        return dep, result, vault
    if failure is not None:
        raise failure_error(failure)
    if paused:  # a paused deployment may carry it once it is back: "later", not "never"
        out.facts = paused[0][0].facts  # the audit names what would have served
        raise paused_error(req.model, paused)
    if unredactable is not None:
        raise unredactable
    assert unfit is not None
    raise GatewayError(unfit.status, unfit.type, unfit.message, param=unfit.param)


def report_outcome(dep: Deployment, breaker: Breaker, failure: UpstreamFailure | None) -> None:
    """Tell a deployment's breaker how its call went, and log it if that opened or closed it.

    A failure that is not retryable is the provider answering that the request was wrong: the
    deployment is up.
    """
    if failure is not None and failure.retryable:
        change = breaker.failed(time.monotonic(), failure.kind)
    else:
        change = breaker.succeeded()
    if change is None:
        return
    if change.state == "open":
        log.warning(
            "deployment %s: %s in a row (last: %s); skipped for %g s, then one trial request",
            dep.id,
            failures(change.failures),
            change.reason,
            change.cooldown_s,
        )
    else:
        log.warning("deployment %s: answering again; back in rotation", dep.id)


def paused_error(model: str, paused: list[tuple[Deployment, Breaker]]) -> GatewayError:
    """Every permitted deployment is paused: a fast 503 rather than a slow timeout."""
    now = time.monotonic()
    wait = max(1, math.ceil(min(b.retry_after(now) for _, b in paused)))
    which = ", ".join(
        f"{d.id} (being tried again after {failures(b.failures)})"
        if b.trial_in_flight(now)
        else f"{d.id} (paused after {failures(b.failures)}, last {b.last_reason})"
        for d, b in paused
    )
    return GatewayError(
        503,
        "upstream_unavailable",
        f"no deployment that may serve {model} is available now: {which}; retry in {wait} s",
        code="upstream_unavailable",
        headers={"retry-after": str(wait)},
    )


def failures(count: int) -> str:
    return f"{count} failure" if count == 1 else f"{count} failures"


def _translated(anthropic_body: dict[str, Any]) -> dict[str, Any]:
    """A redacted Anthropic body in the internal form (it translated before redaction)."""
    try:
        return anthropic_request_to_openai(anthropic_body)
    except WireError as exc:
        raise GatewayError(exc.status, exc.type, exc.message, param=exc.param) from None


def cost_of(gw: Gateway, dep: Deployment | None, prompt: int, completion: int) -> float:
    """USD from the catalog's price for the deployment (resolved once, at start-up)."""
    if dep is None or dep.price is None:
        return 0.0
    return (dep.price[0] * prompt + dep.price[1] * completion) / 1_000_000


_BETA = re.compile(r"[A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*")


def anthropic_beta(scope: Scope) -> str | None:
    """An Anthropic client's `anthropic-beta` header (feature flags such as a longer context),
    for an Anthropic-format provider that is sent the client's own body; 400 if malformed."""
    value = header(scope, b"anthropic-beta")
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if len(text) > 1024 or not _BETA.fullmatch(text):
        raise bad_request("anthropic-beta: expected a comma-separated list of feature names")
    return text


async def admit(
    gw: Gateway, scope: Scope, receive: Receive, out: Outcome
) -> tuple[Identity, bytes]:
    """Who is calling (recorded in `out`) and the whole request body, or a 401 / 413."""
    identity = await authenticate(gw, scope)
    out.principal = identity.principal
    try:
        raw = await read_body(scope, receive, gw.config.server.max_body_bytes, gw.body_watch)
    except BodyTooLarge:
        raise GatewayError(
            413,
            "request_too_large",
            f"request body exceeds the limit of {gw.config.server.max_body_bytes} bytes",
            code="request_too_large",
        ) from None
    except BodyTimeout:
        raise GatewayError(
            408,
            "request_timeout",
            f"the request body did not arrive within {gw.config.server.body_timeout_s:g} s",
            code="request_timeout",
        ) from None
    return identity, raw


def limit_error(exc: LimitExceeded) -> GatewayError:
    """A 429 naming the limit or budget that refused the request, with Retry-After."""
    return GatewayError(
        429,
        "budget_exceeded" if exc.kind == "budget" else "rate_limit_exceeded",
        exc.message,
        code=exc.kind,
        headers={"retry-after": exc.retry_after_header},
        extra={"limit": exc.as_dict()},
    )


def redacted(
    redactor: Redactor, body: dict[str, Any], findings: RequestFindings, classes: frozenset[str]
) -> dict[str, Any]:
    """`body` with `classes` redacted, or a 403 when that cannot be done safely."""
    try:
        return redactor.redact_request(body, findings, set(classes))
    except RedactionError as exc:
        # Named like any other data refusal: the classes and rules found, never the values.
        found = findings.only(classes)
        names, rules = sorted(found.classes), found.rule_names
        raise GatewayError(
            403,
            "data_policy_denied",
            f"the request needs redaction that cannot be done safely ({exc}): "
            f"classes {', '.join(names)} (rules {', '.join(rules)})",
            code="data_policy_denied",
            extra={"data_classes": names, "rules": rules},
        ) from None


async def end_unserved(
    gw: Gateway,
    send: Send,
    out: Outcome,
    reservation: Reservation | None,
    exc: GatewayError | None,
    common: list[tuple[bytes, bytes]],
    client: str,
) -> None:
    """End a request refused before dispatch (`exc`), or whose client left (`exc` None):
    release its reservation, record its one audit event, and answer if anyone is listening."""
    if exc is None:
        out.status, out.error_kind, out.decision = 499, "client_gone", "error"
    else:
        out.fail(exc)
        if exc.code in ("policy_denied", "data_policy_denied"):
            out.policy_ids = tuple(exc.extra.get("policy_ids", ()))
    await settle(gw, reservation, out, None)
    await record(gw, out)
    if exc is not None:
        await send_error(send, exc, common, client)


def request_id_headers(request_id: str, client: str) -> list[tuple[bytes, bytes]]:
    """`x-request-id`, and `request-id` too for Anthropic clients: the Anthropic SDK reads
    that one into `message._request_id` and its errors' `request_id`."""
    value = request_id.encode()
    if client == "anthropic":
        return [(b"x-request-id", value), (b"request-id", value)]
    return [(b"x-request-id", value)]


# --------------------------------------------------------------------------- the handler
async def handle_chat(gw: Gateway, scope: Scope, receive: Receive, send: Send, client: str) -> None:
    """One chat request in the client's format ("openai" or "anthropic")."""
    out = Outcome(new_request_id(), "chat" if client == "openai" else "messages")
    common = request_id_headers(out.request_id, client)
    reservation: Reservation | None = None
    try:
        identity, raw = await admit(gw, scope, receive, out)
        req = parse_chat(raw, client, gw.config.server.max_messages)
        beta = anthropic_beta(scope) if client == "anthropic" else None
        out.model_requested = req.model
        # An unknown model is a 404, but only after the request counted against the caller's
        # rate limit: a key must not be able to hammer the gateway through refusals.
        try:
            candidates: list[Deployment] = candidates_for(gw, req.model)
            unknown: GatewayError | None = None
        except GatewayError as exc:
            candidates, unknown = [], exc
        max_out = req.body.get("max_completion_tokens") or req.body.get("max_tokens")
        est_completion = max_out if isinstance(max_out, int) else _DEFAULT_COMPLETION_ESTIMATE
        choices = req.body.get("n")
        if isinstance(choices, int) and choices > 1:  # n answers cost n times the tokens
            est_completion *= choices
        est_prompt = len(raw) // 4
        out.estimate = (est_prompt, est_completion)
        assert gw.limiter is not None
        try:
            reservation = await gw.limiter.check(
                identity,
                est_prompt + est_completion,
                cost_of(gw, candidates[0], est_prompt, est_completion) if candidates else 0.0,
            )
        except LimitExceeded as exc:
            raise limit_error(exc) from None
        except Exception:
            raise limits_unavailable() from None
        if unknown is not None:
            out.model_requested = audited_name(gw, req.model)  # scanned only once admitted
            raise unknown
        findings = classify(gw, req, out)
        if gw.audit is not None and gw.audit.stores_bodies:
            out.bodies = BodyRecord(gw.audit.config.body_max_bytes)
            out.bodies.take_prompt(req.original if req.original is not None else req.body, findings)
        plan = decide(
            gw, gw.engine, identity.principal, candidates, findings, est_prompt, out.endpoint
        )
        out.policy_ids = plan.policy_ids
    except ClientGone:
        await end_unserved(gw, send, out, reservation, None, common, client)
        return
    except GatewayError as exc:
        await end_unserved(gw, send, out, reservation, exc, common, client)
        return
    except Exception:  # a fault of the gateway's own: still answered, still audited
        log.exception("request %s failed before dispatch", out.request_id)
        await end_unserved(gw, send, out, reservation, internal_error(), common, client)
        return

    async def work() -> None:
        try:
            dep, result, vault = await dispatch(
                gw, req, forwardable(gw, raw, client), plan, findings, out, beta
            )
        except GatewayError as exc:
            exc = for_client(exc, client)
            out.fail(exc)
            await settle(gw, reservation, out, None)
            await record(gw, out)
            await send_error(send, exc, common, client)
            return
        out.facts, out.served_by = dep.facts, dep
        if vault:
            out.decision = "redact"
        headers = [*common, (b"x-bordergate-deployment", dep.id.encode())]
        if isinstance(result, Completion):
            if out.bodies is not None:
                out.bodies.take_answer(result.body)
            if result.native:
                body = egress_native_json(result.body, vault)
            else:
                body = egress_json(result.body, vault, client)
            out.usage = result.usage
            await settle(gw, reservation, out, dep)
            if not await record(gw, out):
                await send_error(send, audit_unavailable(), common, client)
                return
            await send_body(send, 200, body, headers)
            return
        # The `model` field names what served: the deployment's upstream model id.
        egress: StreamEgress | NativeStreamEgress
        if result.native:
            egress = NativeStreamEgress(result, vault)
        else:
            egress = StreamEgress(vault, client, dep.upstream_model)
        await relay_stream(gw, send, result, egress, headers, out, reservation, dep)

    gone = await with_disconnect_guard(receive, work())
    if gone:
        out.status, out.error_kind, out.decision = 499, "client_gone", "error"
        await settle(gw, reservation, out, out.served_by or out.tried)
        await record(gw, out)
        log.info("request %s: client disconnected; upstream call cancelled", out.request_id)


async def relay_stream(
    gw: Gateway,
    send: Send,
    stream: Stream,
    egress: StreamEgress | NativeStreamEgress,
    headers: list[tuple[bytes, bytes]],
    out: Outcome,
    reservation: Reservation | None,
    dep: Deployment,
) -> None:
    """Relay SSE to the client; each `send` waits while the client's socket is full."""
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
    bodies = out.bodies
    if bodies is not None:
        bodies.start_stream("anthropic" if stream.native else "openai")
    async for piece in stream.chunks():
        if bodies is not None:
            bodies.take_piece(piece)
        data = egress.feed(piece)
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})
    out.usage = stream.usage
    if not stream.completed or egress.failed:
        # What the client was told in the stream's error event: a stall, or another failure.
        kind = stream.error_kind
        out.status = 504 if kind == "upstream_timeout" else 502
        out.error_kind, out.decision = kind, "error"
    await settle(gw, reservation, out, dep)
    final = egress.close()
    if not await record(gw, out):
        final = b""  # without a durable event the stream must not look complete
    await send({"type": "http.response.body", "body": final, "more_body": False})


async def settle(
    gw: Gateway, reservation: Reservation | None, out: Outcome, dep: Deployment | None
) -> None:
    if reservation is None or gw.limiter is None or out.settled:
        return
    out.settled = True
    prompt = out.usage.prompt_tokens or 0
    completion = out.usage.completion_tokens or 0
    if dep is not None and out.usage.prompt_tokens is None and not completion:
        # The upstream was used but reported nothing (stream cut short, client hung up):
        # charge the estimate rather than nothing, or a budget could be read for free.
        prompt, completion = out.estimate
    out.cost_usd = cost_of(gw, dep, prompt, completion) if dep is not None else 0.0
    try:
        await gw.limiter.settle(reservation, prompt + completion, out.cost_usd)
    except Exception:  # a limits back-end hiccup must not fail an answered request
        log.exception("could not settle limits for %s", out.request_id)


async def record(gw: Gateway, out: Outcome) -> bool:
    """Append the request's audit event; with strict durability, wait until it is durable."""
    if gw.audit is None or out.recorded:
        return True
    out.recorded = True  # queued events are written even if this request is cancelled
    try:
        if out.bodies is None:
            prepared = out.prepared()
        else:
            prepared = out.prepared(*out.bodies.seal(gw.audit, out.request_id, gw.scanner))
        await gw.audit.append_prepared(prepared, out.request_id)
        return True
    except AuditWriteError:
        log.error("audit event for %s could not be written", out.request_id)
        return False


def limits_unavailable() -> GatewayError:
    """The limits back-end (Redis) failed: refuse rather than serve past limits unchecked."""
    log.exception("rate limits could not be checked")
    return GatewayError(
        503,
        "limits_unavailable",
        "rate limits and budgets could not be checked (the limits back-end is unavailable); "
        "nothing was sent",
        code="limits_unavailable",
        headers={"retry-after": "1"},
    )


def internal_error() -> GatewayError:
    return GatewayError(500, "internal_error", "internal gateway error; see its log")


def audit_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "audit_unavailable",
        "the answer was withheld because its audit record could not be written",
        code="audit_unavailable",
    )


async def _watch_disconnect(receive: Receive, on_gone: Callable[[], None]) -> None:
    """Wait for the client to go away (ASGI `http.disconnect`), then cancel the work."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_gone()
            return


async def with_disconnect_guard(receive: Receive, work: Awaitable[None]) -> bool:
    """Run `work` in this task; cancel it if the client disconnects. True if the client left.

    One watcher task per request (not two): the watcher cancels the handler's own task, and the
    cancellation is absorbed here once it has done its job.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False
    finished = False

    def cancel() -> None:
        nonlocal gone
        if not finished:
            gone = True
            task.cancel()

    watcher = task.get_loop().create_task(_watch_disconnect(receive, cancel))
    try:
        await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
    finally:
        finished = True
        watcher.cancel()
    return gone


async def send_body(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send, exc: GatewayError, headers: list[tuple[bytes, bytes]], client: str = "openai"
) -> None:
    extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
    body = exc.anthropic_body() if client == "anthropic" else exc.openai_body()
    await send_body(send, exc.status, body, [*headers, *extra])


def for_client(exc: GatewayError, client: str) -> GatewayError:
    """`exc` as this client's format says it: 529 is Anthropic's own "overloaded" (its SDK
    raises OverloadedError on it); OpenAI clients get HTTP's 503 (and the audit says so)."""
    if exc.status == 529 and client != "anthropic":
        return dataclasses.replace(exc, status=503)
    return exc
