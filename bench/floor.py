"""The bare pass-through floor: the least any Python proxy on this stack can cost.

uvicorn (uvloop + httptools) and one long-lived ``aiohttp.ClientSession``, forwarding
``POST /v1/chat/completions`` to the upstream and relaying the response body chunk by chunk (so
SSE streams through as it arrives). No parsing, no auth, no policy: Bordergate's throughput is
judged as a fraction of this, which isolates what Bordergate's own work costs from what the
server and client libraries cost.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class Floor:
    """ASGI app holding the one client session, created on lifespan start-up."""

    def __init__(self, upstream: str, api_key: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        assert self.session is not None
        async with self.session.post(self.url, data=body, headers=self.headers) as resp:
            headers = [
                (k.lower().encode(), v.encode())
                for k, v in resp.headers.items()
                if k.lower() not in _HOP_BY_HOP
            ]
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
                self.session = aiohttp.ClientSession(
                    connector=connector, timeout=aiohttp.ClientTimeout(total=600)
                )
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    """``python -m bench.floor --upstream http://127.0.0.1:9000/v1 --port P``."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--upstream", required=True, help="base URL ending in /v1")
    p.add_argument("--api-key", default="sk-emu")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    uvicorn.run(
        Floor(a.upstream, a.api_key),
        host=a.host,
        port=a.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
