"""`record` writes one event per request even when a disconnect cancels the strict wait.

With strict durability the handler awaits the commit of its event; if the client hangs up
meanwhile, the disconnect guard cancels that wait and records "client gone". The first event is
already queued and will be written, so the second call must not queue another.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from bordergate.audit.event import AuditEvent
from bordergate.audit.store import PreparedEvent
from bordergate.server.chat import Outcome, record


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
