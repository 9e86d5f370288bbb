"""The ASGI application: routing, lifespan, health. The only place that wires parts together."""

from __future__ import annotations

import contextlib
import logging
import os
import traceback

import orjson

from bordergate.config import Config, load_config
from bordergate.server.asgi import Receive, Scope, Send, send_response
from bordergate.server.chat import handle_chat, model_list, send_error
from bordergate.server.errors import GatewayError
from bordergate.server.gateway import Gateway

log = logging.getLogger("bordergate.server")

CONFIG_ENV = "BORDERGATE_CONFIG"


class App:
    """Bare ASGI app. Unknown paths and methods get clear OpenAI-format errors, never a 500 page."""

    def __init__(self, config: Config) -> None:
        self.gateway = Gateway.from_config(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except Exception:
                log.error(
                    "unhandled error on %s %s\n%s",
                    scope["method"],
                    scope["path"],
                    traceback.format_exc(),
                )
                # The response may have started already; then there is nothing more to say.
                with contextlib.suppress(Exception):
                    await send_error(
                        send,
                        GatewayError(500, "internal_error", "internal gateway error; see its log"),
                        [],
                    )
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        gw = self.gateway
        if path == "/v1/chat/completions" or path == "/chat/completions":
            if method != "POST":
                raise_method = GatewayError(405, "invalid_request_error", "use POST", code="method")
                await send_error(send, raise_method, [(b"allow", b"POST")])
                return
            await handle_chat(gw, scope, receive, send)
        elif path in ("/v1/models", "/models") and method == "GET":
            try:
                await gw.auth.authenticate(dict(scope["headers"]))
            except GatewayError as exc:
                await send_error(send, exc, [])
                return
            await send_response(send, 200, orjson.dumps(model_list(gw)))
        elif path == "/healthz":
            await send_response(send, 200, b'{"status":"ok"}')
        elif path == "/readyz":
            if gw.ready:
                await send_response(send, 200, b'{"status":"ready"}')
            else:
                await send_response(send, 503, b'{"status":"starting"}')
        else:
            await send_error(
                send,
                GatewayError(404, "not_found_error", f"no route for {method} {path}", code="route"),
                [],
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app_from_env() -> App:
    """Factory for `uvicorn --factory` with several workers: the config path comes by env."""
    return App(load_config(os.environ[CONFIG_ENV]))
