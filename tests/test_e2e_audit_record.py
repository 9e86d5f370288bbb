"""`record` writes one event per request even when a disconnect cancels the strict wait.

With strict durability the handler awaits the commit of its event; if the client hangs up
meanwhile, the disconnect guard cancels that wait and records "client gone". The first event is
already queued and will be written, so the second call must not queue another. A stream that
carried a provider error event is recorded as failed even if `[DONE]` followed it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from bordergate.audit.event import AuditEvent
from bordergate.audit.store import PreparedEvent
from bordergate.server.chat import Outcome, record, relay_stream
from bordergate.server.egress import StreamEgress
from bordergate.upstream.dispatch import Usage
from bordergate.wire.sse import OPENAI_DONE


class SlowAudit:
    """Accepts events at once; their commit never finishes until the test says so."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.commit: asyncio.Future[int] | None = None
        self.hang_first = True

    async def append_prepared(self, prepared: PreparedEvent, request_id: str) -> int:
        event = AuditEvent.from_json(json.loads(prepared.canonical))
        assert event.request_id == request_id
        self.events.append(event)
        if self.hang_first and len(self.events) == 1:
            self.commit = asyncio.get_running_loop().create_future()
            return await self.commit
        return len(self.events)


def test_cancelled_strict_wait_then_client_gone_is_still_one_event() -> None:
    async def scenario() -> list[AuditEvent]:
        audit = SlowAudit()
        gw: Any = SimpleNamespace(audit=audit)
        out = Outcome("req_test", "chat")
        waiting = asyncio.ensure_future(record(gw, out))
        while not audit.events:
            await asyncio.sleep(0)
        waiting.cancel()  # the client disconnected during the commit
        out.status, out.error_kind, out.decision = 499, "client_gone", "error"
        assert await record(gw, out)  # the disconnect path
        return audit.events

    events = asyncio.run(scenario())
    assert [e.request_id for e in events] == ["req_test"]


def test_each_request_is_recorded() -> None:
    async def scenario() -> int:
        audit = SlowAudit()
        audit.hang_first = False
        gw: Any = SimpleNamespace(audit=audit)
        for rid in ("req_a", "req_b"):
            assert await record(gw, Outcome(rid, "chat"))
        return len(audit.events)

    assert asyncio.run(scenario()) == 2


class _ErrorThenDone:
    """An upstream stream that carries an error event and still ends with `[DONE]`."""

    completed = True
    usage = Usage()
    error_kind = "upstream_error"

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        yield b'data: {"error":{"message":"upstream broke","type":"server_error"}}\n\n'
        yield OPENAI_DONE


def test_stream_with_an_error_event_is_recorded_as_failed_and_not_completed() -> None:
    async def scenario() -> tuple[list[AuditEvent], list[bytes]]:
        audit = SlowAudit()
        audit.hang_first = False
        gw: Any = SimpleNamespace(audit=audit)
        sent: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                sent.append(message["body"])

        out = Outcome("req_err", "chat")
        stream: Any = _ErrorThenDone()
        egress = StreamEgress(None, "openai", "gpt-4o-mini")
        dep: Any = SimpleNamespace(price=None)
        await relay_stream(gw, send, stream, egress, [], out, None, dep)
        return audit.events, sent

    events, sent = asyncio.run(scenario())
    assert (events[0].status, events[0].error_kind, events[0].decision) == (
        502,
        "upstream_error",
        "error",
    )
    assert b"upstream broke" in b"".join(sent)
    assert sent[-1] == b""  # no [DONE]: the client must not take the stream as complete
