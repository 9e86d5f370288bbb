"""Load generation: wrk (preferred) with a Lua script, or a Python aiohttp fallback.

Why wrk: it is C with an event loop per thread, so one thread on one core pushes well over the
floor's few thousand req/s while using little CPU per request. A Python generator would spend
as much CPU per request as the proxies it measures and become the bottleneck on a 2-core
machine. wrk reads full responses (chunked bodies included), so with a streaming request one
wrk "request" is one whole SSE stream and its req/s is streams/s.

Fixed-rate load (the soak) uses the Python generator: wrk2 is not packaged in Debian, and at a
soak's modest rate the Python generator is not a bottleneck.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.payloads import vary
from bench.procs import pinned

WRK_TAG = "BENCH_JSON "


@dataclass
class LoadResult:
    """One load run. Latencies in milliseconds; ``errors`` counts failed or non-2xx responses."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float | None  # None when no request completed
    p99_ms: float | None
    errors: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def ensure_wrk() -> str | None:
    """Install wrk from Debian's packages if missing; returns None when usable, else why not."""
    if wrk_available():
        return None
    if shutil.which("apt-get") is None:
        return "wrk not installed and apt-get not available"
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, capture_output=True, timeout=600, check=False).returncode != 0:
        # Package lists may be missing or stale on a fresh machine: refresh once, retry.
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600, check=False)
        subprocess.run(install, capture_output=True, timeout=600, check=False)
    return None if wrk_available() else "wrk could not be installed with apt-get"


def lua_script(body_file: Path, headers: dict[str, str]) -> str:
    """A wrk script: POST the body read from ``body_file``; print a JSON summary at the end.

    The summary (requests, errors and exact percentiles from wrk's histogram) is printed on one
    tagged line so parsing does not depend on wrk's human-readable unit formatting.
    """
    lines = [
        'wrk.method = "POST"',
        f"local f = assert(io.open({json.dumps(str(body_file))}, 'rb'))",
        "wrk.body = f:read('*a')",
        "f:close()",
        # Vary the prompt per request (see payloads.SEQ_MARKER): fixed length, new text.
        "local seq = 0",
        "local s, e = string.find(wrk.body, '@@SEQ@@@', 1, true)",
        "local head = s and string.sub(wrk.body, 1, s - 1)",
        "local tail = s and string.sub(wrk.body, e + 1)",
        "request = function()\n"
        "  if not head then return wrk.format() end\n"
        "  seq = seq + 1\n"
        "  local n = string.format('%08d', seq % 100000000)\n"
        "  return wrk.format(nil, nil, nil, head .. n .. tail)\n"
        "end",
    ]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        "  io.write(string.format('" + WRK_TAG + '{"requests":%d,"duration_us":%d,'
        '"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d}\\n\',\n'
        "    summary.requests, summary.duration,\n"
        "    e.connect + e.read + e.write + e.timeout, e.status,\n"
        "    latency:percentile(50), latency:percentile(99)))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_LAT = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


def parse_wrk(output: str) -> LoadResult:
    """Parse wrk's output: the tagged JSON line if present, else its ``--latency`` text.

    Raises ValueError when neither form is found (e.g. wrk failed to connect at all).
    """
    for line in output.splitlines():
        if line.startswith(WRK_TAG):
            d = json.loads(line[len(WRK_TAG) :])
            dur = d["duration_us"] / 1e6
            n = d["requests"]
            return LoadResult(
                requests=n,
                duration_s=dur,
                rps=n / dur if dur > 0 else 0.0,
                p50_ms=d["p50_us"] / 1000.0 if n else None,
                p99_ms=d["p99_us"] / 1000.0 if n else None,
                errors=d["errors"] + d["status_errors"],
            )
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    lat = {p: float(v) * _UNIT_MS[u] for p, v, u in _LAT.findall(output)}
    if not (m and rps and "50" in lat and "99" in lat):
        raise ValueError(f"unrecognised wrk output: {output.strip()[:300]!r}")
    errors = 0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    return LoadResult(
        requests=int(m.group(1)),
        duration_s=float(m.group(2)) * _UNIT_MS[m.group(3)] / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=lat["50"],
        p99_ms=lat["99"],
        errors=errors,
    )


def run_wrk(
    url: str,
    body_file: Path,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    script_file: Path,
    cpu: int | None,
) -> LoadResult:
    """Run wrk with one thread (one core) against ``url`` and return its parsed result."""
    script_file.write_text(lua_script(body_file, headers))
    cmd = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script_file),
            url,
        ],
        cpu,
    )
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 120)
    return parse_wrk(out.stdout + out.stderr)


_SEQ = itertools.count(1)


async def _one(session: object, url: str, body: bytes, headers: dict[str, str]) -> bool:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    try:
        body = vary(body, next(_SEQ))
        async with session.post(url, data=body, headers=headers) as resp:
            async for _ in resp.content.iter_any():
                pass
            return 200 <= resp.status < 400
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _closed_loop(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration_s: float
) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + duration_s
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        connector=conn, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                ok = await _one(session, url, body, headers)
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000.0)
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return summarise(latencies, errors, elapsed)


async def _steady_closed_loop(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    phase_in_timeout_s: float,
    on_window: Callable[[str], None] | None,
) -> LoadResult:
    import aiohttp

    done: list[tuple[float, float, bool]] = []  # (end time, latency ms, ok)
    stop = False
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        connector=conn, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def worker() -> None:
            while not stop:
                t0 = time.perf_counter()
                ok = await _one(session, url, body, headers)
                t1 = time.perf_counter()
                done.append((t1, (t1 - t0) * 1000.0, ok))

        tasks = [asyncio.create_task(worker()) for _ in range(connections)]
        try:
            # Phase in: the window opens once as many requests completed as there are
            # connections, i.e. every connection is past its cold first request on average.
            phase_end = time.perf_counter() + phase_in_timeout_s
            while len(done) < connections and time.perf_counter() < phase_end:
                await asyncio.sleep(0.05)
            if on_window is not None:
                on_window("start")
            start = time.perf_counter()
            await asyncio.sleep(duration_s)
            end = time.perf_counter()
            if on_window is not None:
                on_window("end")
            stop = True
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    window = [(lat, ok) for t, lat, ok in done if start <= t <= end]
    latencies = [lat for lat, ok in window if ok]
    return summarise(latencies, sum(1 for _, ok in window if not ok), end - start)


def run_steady(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    phase_in_timeout_s: float = 60.0,
    on_window: Callable[[str], None] | None = None,
) -> LoadResult:
    """Closed-loop load measured only over a steady-state window, for slow targets.

    wrk starts every connection afresh at the start of a run and stops counting at its end, so
    when one response takes seconds (LiteLLM streaming at concurrency 32) a short wrk run counts
    only part of what the target did and undercounts its throughput. Here the connections run
    continuously and only completions inside the window (after every connection has finished
    its first request) are counted. At such low rates a Python generator is no bottleneck.
    ``on_window("start")`` / ``on_window("end")`` let the caller sample CPU time exactly there.
    """
    return asyncio.run(
        _steady_closed_loop(
            url, body, headers, connections, duration_s, phase_in_timeout_s, on_window
        )
    )


def summarise(latencies_ms: list[float], errors: int, elapsed_s: float) -> LoadResult:
    """Build a LoadResult from raw latencies (nearest-rank percentiles)."""
    lat = sorted(latencies_ms)
    n = len(lat)
    return LoadResult(
        requests=n,
        duration_s=elapsed_s,
        rps=n / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=percentile(lat, 50) if lat else None,
        p99_ms=percentile(lat, 99) if lat else None,
        errors=errors,
    )


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already-sorted values; 0.0 for an empty list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def run_python(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration_s: float
) -> LoadResult:
    """The fallback closed-loop generator (used only when wrk is unavailable)."""
    return asyncio.run(_closed_loop(url, body, headers, connections, duration_s))


async def fixed_rate(
    url: str,
    bodies: list[tuple[bytes, dict[str, str]]],
    rate: float,
    duration_s: float,
    on_tick: object = None,
) -> LoadResult:
    """Open-loop load at ``rate`` req/s for ``duration_s``, cycling through ``bodies``.

    Requests are started on a fixed schedule regardless of how long earlier ones take (up to a
    cap on requests in flight), so a slow target shows up as latency, not as a lower rate that
    hides memory growth. ``on_tick`` (an async callable taking elapsed seconds) runs once a
    second: the soak samples RSS there.
    """
    import aiohttp

    latencies: list[float] = []
    errors = 0
    in_flight: set[asyncio.Task[None]] = set()
    cap = 256

    async def fire(session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        if await _one(session, url, body, headers):
            latencies.append((time.perf_counter() - t0) * 1000.0)
        else:
            errors += 1

    conn = aiohttp.TCPConnector(limit=cap)
    async with aiohttp.ClientSession(
        connector=conn, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        start = time.perf_counter()
        next_tick = 0.0
        i = 0
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= duration_s:
                break
            if on_tick is not None and elapsed >= next_tick:
                await on_tick(elapsed)  # type: ignore[operator]
                next_tick += 1.0
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) < cap:
                body, headers = bodies[i % len(bodies)]
                task = asyncio.create_task(fire(session, body, headers))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            else:
                errors += 1
            i += 1
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
        elapsed = time.perf_counter() - start
    return summarise(latencies, errors, elapsed)
