"""``python -m bench.inproc``: the request path's CPU cost without uvicorn, split by part.

`make bench` measures whole servers; their req/s ratios move with everything on the machine.
This drives the ASGI apps in-process instead (no HTTP server: synthetic ``scope``, ``receive``
and ``send``), with real aiohttp calls to an emulator on the other core, and reports CPU time
per request of the serving thread and of the whole process. Three targets isolate the parts:

- ``floor``: the bench's bare pass-through (`bench/floor.py`);
- ``bordergate``: the gateway with `bench/bordergate-passthrough.yaml.tmpl` (strict audit);
- ``bordergate-noaudit``: the same with the audit append skipped (an ablation for measurement
  only: the server has no such mode), so the difference is what the audit costs;
- ``bordergate-full``: everything on (`bench/bordergate-bench.yaml.tmpl`: every example policy,
  DLP with an index of this checkout's ``src/``, strict audit), as `make bench` runs it.

    python -m bench.inproc --target bordergate [--sse] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop

from bench import floor as floor_module
from bench import payloads, procs
from bench.run import BENCH_DIR, BENCH_KEY, REPO_ROOT, bordergate_config

TARGETS = ("floor", "bordergate", "bordergate-noaudit", "bordergate-full")
CONCURRENCY = 32
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def build_app(target: str, upstream_port: int, state: Path) -> tuple[App, str, str]:
    """The ASGI app, the key to present and the model to ask for."""
    if target == "floor":
        app = floor_module.Floor(f"http://127.0.0.1:{upstream_port}/v1", "sk-emu")
        return app, "none", ""
    from bordergate.config import parse_config
    from bordergate.server.app import App as Gateway
    from bordergate.server.app import build_gateway

    if target == "bordergate-full":
        template, index = BENCH_DIR / "bordergate-bench.yaml.tmpl", state / "src.fpi"
        build = [sys.executable, "-m", "bordergate", "fingerprint", "build", str(REPO_ROOT / "src")]
        subprocess.run([*build, "--out", str(index)], capture_output=True, check=True)
    else:
        template, index = BENCH_DIR / "bordergate-passthrough.yaml.tmpl", state / "unused.fpi"
    config = parse_config(bordergate_config(upstream_port, state, index, template), "bench.yaml")
    return Gateway(config, build_gateway(config)), BENCH_KEY, "gateway"


@contextlib.contextmanager
def audit_skipped(skip: bool) -> Iterator[None]:
    """While active (and `skip`), the request path appends no audit event: an ablation."""
    if not skip:
        yield
        return
    from bordergate.server import chat

    async def no_record(gw: Any, out: Any) -> bool:
        return True

    original, chat.record = chat.record, no_record
    try:
        yield
    finally:
        chat.record = original


class Lifespan:
    """Runs the app's lifespan protocol in one task: `await lifespan.send(event)` per event."""

    def __init__(self, app: App) -> None:
        self._queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._acks: asyncio.Queue[str] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
        self._task = asyncio.ensure_future(app(scope, self._queue.get, self._ack))

    async def _ack(self, message: dict[str, Any]) -> None:
        self._acks.put_nowait(message["type"])

    async def send(self, event: str) -> None:
        self._queue.put_nowait({"type": event})
        outcome = await self._acks.get()
        if outcome != f"{event}.complete":
            raise RuntimeError(f"{event}: {outcome}")
        if event == "lifespan.shutdown":
            await self._task


async def measure(target: str, sse: bool, requests: int, upstream_port: int) -> str:
    """One measurement line: req/s and CPU per request of the serving thread and the process."""
    with tempfile.TemporaryDirectory(prefix="bordergate-inproc-") as state:
        return await _measure(target, sse, requests, upstream_port, Path(state))


async def _measure(target: str, sse: bool, requests: int, upstream_port: int, state: Path) -> str:
    app, key, kind = build_app(target, upstream_port, state)
    life = Lifespan(app)
    await life.send("lifespan.startup")
    if kind == "gateway":
        model = payloads.GATEWAY_SSE_MODEL if sse else payloads.GATEWAY_JSON_MODEL
    else:
        model = payloads.UPSTREAM_SSE_MODEL if sse else payloads.UPSTREAM_JSON_MODEL
    body = payloads.chat_body(model, sse)
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()  # the client never disconnects
    statuses: dict[int, int] = {}

    async def one(n: int) -> None:
        pending = [{"type": "http.request", "body": payloads.vary(body, n), "more_body": False}]
        finished = loop.create_future()

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await never
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1
            elif not message.get("more_body") and not finished.done():
                finished.set_result(None)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 4000),
        }
        await app(scope, receive, send)
        await finished

    async def worker(first: int, count: int) -> None:
        for n in range(first, first + count):
            await one(n)

    per_worker = max(1, requests // CONCURRENCY)
    warm_up = min(200, per_worker)
    await asyncio.gather(*(worker(k * 10**6, warm_up) for k in range(CONCURRENCY)))
    statuses.clear()
    started, thread0 = time.perf_counter(), time.thread_time()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker(k * 10**6 + 1000, per_worker) for k in range(CONCURRENCY)))
    elapsed, thread = time.perf_counter() - started, time.thread_time() - thread0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    batching = _audit_batching(app)
    await life.send("lifespan.shutdown")
    total = per_worker * CONCURRENCY
    process = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    if set(statuses) != {200}:
        return f"{target}: unexpected statuses {statuses}"
    return (
        f"{target} {'SSE' if sse else 'JSON'}: {total} requests, {total / elapsed:,.0f} req/s; "
        f"CPU per request: serving thread {thread / total * 1e6:.1f} µs, "
        f"whole process {process / total * 1e6:.1f} µs{batching}"
    )


def _audit_batching(app: App) -> str:
    """How many events the audit writer committed per transaction (group commit at work)."""
    audit = getattr(getattr(app, "gateway", None), "audit", None)
    if audit is None:
        return ""
    stats = audit.writer.stats
    return f"; audit: {stats.appended / max(1, stats.batches):.1f} events per transaction"


def main(argv: list[str] | None = None) -> int:
    """Start an emulator on core 1, measure one target on core 0; 2 if the emulator fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--sse", action="store_true", help="streamed requests (50 chunks)")
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bordergate-inproc-"))
    pset = procs.ProcessSet(workdir)
    pin = procs.pinning_available()
    try:
        port = procs.free_port()
        cmd = [sys.executable, "-m", "bordergate", "emulate", "--port", str(port), "--record", "0"]
        upstream = pset.spawn("emulator", cmd, cpu=1 if pin else None)
        err = procs.wait_ready(upstream, port, lambda: None, 30.0)
        if err is not None:
            print(f"inproc: the emulator did not start: {err}", file=sys.stderr)
            return 2
        if pin:
            os.sched_setaffinity(0, {0})
        with audit_skipped(args.target == "bordergate-noaudit"):
            print(uvloop.run(measure(args.target, args.sse, args.requests, port)))
        return 0
    finally:
        pset.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
