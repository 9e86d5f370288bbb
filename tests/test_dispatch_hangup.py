"""A provider that closes the connection before answering: sent once more, then an error.

The "provider" is a raw TCP server, because what is tested is a connection closed without a
single response byte, which an HTTP framework will not do on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from bordergate.config import parse_config
from bordergate.upstream.deployments import Deployment, build_deployments
from bordergate.upstream.dispatch import Dispatcher
from bordergate.upstream.errors import UpstreamFailure

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


@asynccontextmanager
async def provider(hangups: int) -> AsyncIterator[dict[str, Any]]:
    """Hangs up on the first `hangups` requests (having read them), then answers each one."""
    state: dict[str, Any] = {"requests": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                state["requests"] += 1
                if state["requests"] <= hangups:
                    break  # close without a byte of answer
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(ANSWER)}\r\n\r\n".encode()
                    + ANSWER
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        yield state


def deployment(url: str) -> Deployment:
    cfg = parse_config(
        f"""
auth: {{mode: none}}
providers:
  p: {{preset: openai, base_url: "{url}", api_key: sk-x}}
models:
  m: [{{provider: p, model: m}}]
""",
        "t.yaml",
    )
    return build_deployments(cfg)["m"][0]


async def ask(dep: Deployment, stream: bool = False) -> Any:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(session)
        if stream:
            opened = await dispatcher.open_stream(dep, {**body, "stream": True}, None, False)
            opened.response.release()
            return opened
        return await dispatcher.complete(dep, body, None)


def test_one_hang_up_is_sent_again_and_answered() -> None:
    async def scenario() -> None:
        async with provider(hangups=1) as state:
            answer = await ask(deployment(state["url"]))
            assert orjson.loads(answer.body)["choices"][0]["message"]["content"] == "hi"
            assert state["requests"] == 2

    asyncio.run(scenario())


def test_a_stream_is_opened_again_too() -> None:
    async def scenario() -> None:
        async with provider(hangups=1) as state:
            await ask(deployment(state["url"]), stream=True)
            assert state["requests"] == 2

    asyncio.run(scenario())


def test_a_second_hang_up_is_a_clear_failure() -> None:
    async def scenario() -> None:
        async with provider(hangups=2) as state:
            with pytest.raises(UpstreamFailure) as failure:
                await ask(deployment(state["url"]))
            assert failure.value.kind == "upstream_unreachable" and failure.value.status == 502
            assert "ServerDisconnectedError" in failure.value.message
            assert state["requests"] == 2  # once more, not again and again

    asyncio.run(scenario())
