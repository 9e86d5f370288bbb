"""`POST /v1/messages/count_tokens`: Anthropic's token count, under the same data rules.

Counting sends the prompt to the provider, so it passes what a message passes: identity, rate
limits (one request, no tokens), the data-egress scan and the policy for the deployment that
would serve the request, and one audit event. The count comes from that deployment when it
speaks Anthropic's format; OpenAI-format providers have no counting endpoint, and the gateway
says so rather than guess a number.
"""

from __future__ import annotations

import time

from bordergate.dlp.redact import Redactor
from bordergate.limits import LimitExceeded, Reservation
from bordergate.server.asgi import ClientGone, Receive, Scope, Send
from bordergate.server.chat import (
    Outcome,
    admit,
    anthropic_beta,
    audit_unavailable,
    audited_name,
    candidates_for,
    classify,
    decide,
    end_unserved,
    failure_error,
    limit_error,
    limits_unavailable,
    new_request_id,
    parse_chat,
    paused_error,
    record,
    redacted,
    report_outcome,
    request_id_headers,
    send_body,
    send_error,
    settle,
)
from bordergate.server.errors import GatewayError, bad_request
from bordergate.server.gateway import Gateway
from bordergate.upstream.deployments import COUNTING_KINDS
from bordergate.upstream.errors import UpstreamFailure

ENDPOINT = "count_tokens"


async def handle_count_tokens(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """Count an Anthropic request's input tokens with the deployment that would serve it."""
    out = Outcome(new_request_id(), ENDPOINT)
    common = request_id_headers(out.request_id, "anthropic")
    reservation: Reservation | None = None
    try:
        identity, raw = await admit(gw, scope, receive, out)
        req = parse_chat(raw, "anthropic", gw.config.server.max_messages, counting=True)
        beta = anthropic_beta(scope)
        assert req.original is not None
        out.model_requested = req.model
        assert gw.limiter is not None and gw.dispatcher is not None
        try:  # before the model lookup: an unknown model counts against the rate limit too
            reservation = await gw.limiter.check(identity, 0, 0.0)
        except LimitExceeded as exc:
            raise limit_error(exc) from None
        except Exception:
            raise limits_unavailable() from None
        try:
            candidates = candidates_for(gw, req.model)
        except GatewayError:
            out.model_requested = audited_name(gw, req.model)
            raise
        findings = classify(gw, req, out)
        plan = decide(
            gw, gw.engine, identity.principal, candidates, findings, len(raw) // 4, out.endpoint
        )
        out.policy_ids = plan.policy_ids
        # The deployment a message would go to now: the first one not paused by its breaker.
        now = time.monotonic()
        states = [(d, r, gw.breaker(d)) for d, r in plan.permitted]
        ready = [state for state in states if not state[2].retry_in(now)]
        if not ready:
            out.facts = states[0][0].facts
            raise paused_error(req.model, [(d, b) for d, _, b in states])
        dep, redact, breaker = ready[0]
        out.facts = dep.facts
        if dep.provider.kind not in COUNTING_KINDS:
            raise bad_request(
                f"token counting is offered for models served in Anthropic's format "
                f"(Anthropic's API, Vertex AI, Bedrock); "
                f"{req.model!r} is served by {dep.provider.name}, which has no counting endpoint",
                code="count_tokens_unsupported",
            )
        body = req.original
        if redact and findings:
            body = redacted(Redactor(), body, findings, redact)
            out.decision = "redact"
        breaker.allow(now)  # half-open: this count is the trial
        try:
            data = await gw.dispatcher.count_tokens(dep, body, beta)
        except UpstreamFailure as exc:
            report_outcome(dep, breaker, exc)
            raise failure_error(exc) from None
        report_outcome(dep, breaker, None)
        out.served_by = dep
    except ClientGone:
        await end_unserved(gw, send, out, reservation, None, common, "anthropic")
        return
    except GatewayError as exc:
        await end_unserved(gw, send, out, reservation, exc, common, "anthropic")
        return
    await settle(gw, reservation, out, None)  # counting costs nothing
    if not await record(gw, out):
        await send_error(send, audit_unavailable(), common, "anthropic")
        return
    await send_body(send, 200, data, [*common, (b"x-bordergate-deployment", dep.id.encode())])
