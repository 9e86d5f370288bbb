"""``python -m bench.run --mode quick|full``: Bordergate side by side with a floor and LiteLLM.

One invocation starts an upstream (the emulator, or the dev stand-in), then each target in turn
-- direct to the upstream, the bare pass-through floor, Bordergate, LiteLLM -- runs every
scenario against it several times with wrk, soaks Bordergate at a fixed rate watching its RSS,
runs the registered micro-benchmarks, and writes ``bench/results/latest.{md,json}``.

Placement on this 2-core machine: the target alone on core 0; the upstream, the load generator
and this harness share core 1. Each target's CPU time is read from /proc, so CPU per request is
the target's own cost whatever else shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench import litellm_target, loadgen, micro, payloads, procs, report

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE = BENCH_DIR / "bordergate-bench.yaml.tmpl"
TARGET_CPU = 0
LOAD_CPU = 1


@dataclass(frozen=True)
class Mode:
    """How long and how often: quick is for every hot-path change, full for the record."""

    runs: int
    run_seconds: int
    warmup_seconds: int
    soak_seconds: float
    soak_warmup_seconds: float
    soak_rate: float
    micro_budget_s: float


MODES = {
    "quick": Mode(
        runs=1,
        run_seconds=4,
        warmup_seconds=1,
        soak_seconds=25,
        soak_warmup_seconds=5,
        soak_rate=100,
        micro_budget_s=0.3,
    ),
    "full": Mode(
        runs=3,
        run_seconds=10,
        warmup_seconds=2,
        soak_seconds=600,
        soak_warmup_seconds=60,
        soak_rate=200,
        micro_budget_s=2.0,
    ),
}

START_TIMEOUT = {"direct": 30.0, "floor": 30.0, "bordergate": 60.0, "litellm": 120.0}


@dataclass
class Target:
    """A running system under test: where to send requests and which process to watch."""

    name: str
    base_url: str  # ends in /v1
    api_key: str
    json_model: str
    sse_model: str
    proc: procs.Proc
    sse_frames: int | None = None

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}


@dataclass
class Bench:
    """State of one bench invocation."""

    mode: Mode
    workdir: Path
    cpus: tuple[int | None, int | None]
    use_wrk: bool
    pset: procs.ProcessSet
    upstream: procs.Proc | None = None
    upstream_port: int = 0
    upstream_sse_frames: int | None = None
    loadavg_max: float = 0.0
    template: Path = TEMPLATE

    def note_load(self) -> None:
        """Track the machine's 1-minute load average: high values mean others shared the CPUs."""
        self.loadavg_max = max(self.loadavg_max, os.getloadavg()[0])

    notes: list[str] = field(default_factory=list)

    @property
    def target_cpu(self) -> int | None:
        return self.cpus[0]

    @property
    def load_cpu(self) -> int | None:
        return self.cpus[1]


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float = 30.0
) -> tuple[int, bytes]:
    """One blocking POST (probes only, never under load): (status, body)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def count_sse_content_chunks(raw: bytes) -> tuple[int, bool]:
    """(number of data frames other than [DONE], whether [DONE] was seen) in an SSE body."""
    frames = [ln[5:].strip() for ln in raw.splitlines() if ln.startswith(b"data:")]
    done = b"[DONE]" in frames
    return len([f for f in frames if f != b"[DONE]"]), done


def _probe_error(what: str, status: int, body: bytes) -> str:
    """A probe failure; 4xx answers mark it permanent (a config or auth error won't heal)."""
    text = f"{what} probe got HTTP {status}: {body[:300].decode(errors='replace')}"
    return procs.PERMANENT + text if 400 <= status < 500 else text


def make_probe(
    url: str,
    headers: dict[str, str],
    json_model: str,
    sse_model: str,
    seen: dict[str, int] | None = None,
) -> Callable[[], str | None]:
    """A readiness probe: one real JSON completion and one real stream must succeed.

    The number of SSE data frames of the successful probe goes into ``seen["sse_frames"]``, so
    the report shows that a target really relayed the 50-chunk stream.
    """

    def probe() -> str | None:
        try:
            status, body = post(url, payloads.chat_body(json_model, False), headers)
            if status != 200 or b"choices" not in body:
                return _probe_error("JSON", status, body)
            status, body = post(url, payloads.chat_body(sse_model, True), headers)
            if status != 200:
                return _probe_error("SSE", status, body)
            chunks, done = count_sse_content_chunks(body)
            if not done:
                return f"SSE probe: stream did not end with [DONE] ({chunks} frames)"
            if seen is not None:
                seen["sse_frames"] = chunks
        except OSError as exc:
            return f"probe failed: {exc}"
        return None

    return probe


def start_upstream(b: Bench, kind: str) -> str | None:
    """Start the emulator (or dev upstream) on the load core; None when ready, else the error."""
    b.upstream_port = procs.free_port()
    port = str(b.upstream_port)
    if kind == "dev":
        cmd = [sys.executable, "-m", "bench._devupstream", "--host", "127.0.0.1", "--port", port]
    else:
        cmd = [sys.executable, "-m", "bordergate", "emulate", "--host", "127.0.0.1", "--port", port]
        cmd += ["--record", "0"]  # no request log: keep the upstream cheap
    b.upstream = b.pset.spawn(f"upstream-{kind}", cmd, cpu=b.load_cpu)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-emu"}
    seen: dict[str, int] = {}
    probe = make_probe(
        url, headers, payloads.UPSTREAM_JSON_MODEL, payloads.UPSTREAM_SSE_MODEL, seen
    )
    err = procs.wait_ready(b.upstream, b.upstream_port, probe, START_TIMEOUT["direct"])
    b.upstream_sse_frames = seen.get("sse_frames")
    return err


REPO_ROOT = BENCH_DIR.parent
# The bench client's key for Bordergate (not a secret: it only exists inside a bench run).
BENCH_KEY = "bg-bench-key-not-a-secret"


def bordergate_config(
    upstream_port: int, state_dir: Path, fingerprint_index: Path, template: Path = TEMPLATE
) -> str:
    """The bench config: the template with ports and paths filled in."""
    values = {
        "{UPSTREAM_PORT}": str(upstream_port),
        "{BENCH_KEY}": BENCH_KEY,
        "{STATE_DIR}": str(state_dir),
        "{REPO_ROOT}": str(REPO_ROOT),
        "{FINGERPRINT_INDEX}": str(fingerprint_index),
    }
    text = template.read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def build_fingerprint_index(b: Bench, out: Path) -> str | None:
    """Index this checkout's src/ for internal-code detection; None on success, else why not."""
    cmd = [sys.executable, "-m", "bordergate", "fingerprint", "build", str(REPO_ROOT / "src")]
    cmd += ["--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"`bordergate fingerprint build` failed ({done.returncode}): {' / '.join(tail)}"
    return None


def start_target(b: Bench, name: str) -> Target | str:
    """Start one target on the target core and wait for it; returns it, or the error text."""
    assert b.upstream is not None
    upstream_base = f"http://127.0.0.1:{b.upstream_port}/v1"
    if name == "direct":
        return Target(
            name,
            upstream_base,
            "sk-emu",
            payloads.UPSTREAM_JSON_MODEL,
            payloads.UPSTREAM_SSE_MODEL,
            b.upstream,
            sse_frames=b.upstream_sse_frames,
        )
    port = procs.free_port()
    base = f"http://127.0.0.1:{port}/v1"
    env: dict[str, str] | None = None
    if name == "floor":
        cmd = [
            sys.executable,
            "-m",
            "bench.floor",
            "--upstream",
            upstream_base,
            "--port",
            str(port),
        ]
        key, jm, sm = "none", payloads.UPSTREAM_JSON_MODEL, payloads.UPSTREAM_SSE_MODEL
    elif name == "bordergate":
        state = b.workdir / "bordergate-state"
        state.mkdir(exist_ok=True)
        index = state / "src.fpi"
        err = build_fingerprint_index(b, index)
        if err is not None:
            return err
        cfg = b.workdir / "bordergate-bench.yaml"
        cfg.write_text(bordergate_config(b.upstream_port, state, index, b.template))
        cmd = [
            sys.executable,
            "-m",
            "bordergate",
            "serve",
            "--config",
            str(cfg),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        key, jm, sm = BENCH_KEY, payloads.GATEWAY_JSON_MODEL, payloads.GATEWAY_SSE_MODEL
    elif name == "litellm":
        installed = litellm_target.ensure_installed()
        if not installed.ok:
            return f"LiteLLM {litellm_target.LITELLM_VERSION} unavailable: {installed.error}"
        if installed.installed_now:
            b.notes.append(f"LiteLLM {litellm_target.LITELLM_VERSION} was installed in this run.")
        if installed.unexpected_pth:
            b.notes.append(
                "WARNING: unexpected *.pth start-up files in the LiteLLM venv: "
                + ", ".join(installed.unexpected_pth)
            )
        key = litellm_target.new_master_key()
        cfg = b.workdir / "litellm.yaml"
        models = {
            payloads.GATEWAY_JSON_MODEL: payloads.UPSTREAM_JSON_MODEL,
            payloads.GATEWAY_SSE_MODEL: payloads.UPSTREAM_SSE_MODEL,
        }
        cfg.write_text(litellm_target.config_text(b.upstream_port, key, models))
        cmd = litellm_target.command(cfg, port)
        env = litellm_target.environment()
        jm, sm = payloads.GATEWAY_JSON_MODEL, payloads.GATEWAY_SSE_MODEL
    else:
        return f"unknown target {name!r}"
    proc = b.pset.spawn(name, cmd, env=env, cpu=b.target_cpu)
    t = Target(name, base, key, jm, sm, proc)
    seen: dict[str, int] = {}
    probe = make_probe(t.url, t.headers(), jm, sm, seen)
    err = procs.wait_ready(proc, port, probe, START_TIMEOUT[name])
    if err is not None:
        b.pset.stop(proc)
        return err
    t.sse_frames = seen.get("sse_frames")
    return t


def load(b: Bench, t: Target, body: bytes, connections: int, seconds: int) -> loadgen.LoadResult:
    """One load run with wrk, or the Python generator when wrk is unavailable."""
    if b.use_wrk:
        body_file = b.workdir / f"body-{hash(body) & 0xFFFFFFFF:x}.json"
        if not body_file.exists():
            body_file.write_bytes(body)
        return loadgen.run_wrk(
            t.url,
            body_file,
            t.headers(),
            connections,
            seconds,
            b.workdir / "wrk-script.lua",
            b.load_cpu,
        )
    return loadgen.run_python(t.url, body, t.headers(), connections, seconds)


SCENARIO_SHAPE = {"json_c1": (False, 1), "json_c32": (False, 32), "sse_c32": (True, 32)}


# wrk undercounts throughput by about (latency / run length): every run starts cold and
# in-flight requests at the end are dropped. Above this fraction the steady-state generator is
# used instead (in practice: LiteLLM at concurrency 32).
MAX_WRK_BIAS = 0.02


def needs_steady(warm: loadgen.LoadResult, run_seconds: float) -> bool:
    """True when the warm-up's p50 is too long for a wrk run of ``run_seconds`` to be fair."""
    return warm.p50_ms is None or warm.p50_ms > run_seconds * 1000.0 * MAX_WRK_BIAS


def measure(b: Bench, t: Target, scenario: str, slow: bool) -> dict[str, Any]:
    """One measured run of a scenario: load result plus the target's CPU per request and RSS."""
    stream, conns = SCENARIO_SHAPE[scenario]
    body = payloads.chat_body(t.sse_model if stream else t.json_model, stream)
    upstream = b.upstream
    assert upstream is not None
    cpu: dict[str, tuple[float, float]] = {}

    def sample(when: str) -> None:
        cpu[when] = (procs.cpu_seconds(t.proc.pid), procs.cpu_seconds(upstream.pid))

    if slow:
        res = loadgen.run_steady(
            t.url, body, t.headers(), conns, max(b.mode.run_seconds, 5), on_window=sample
        )
    else:
        sample("start")
        res = load(b, t, body, conns, b.mode.run_seconds)
        sample("end")
    out: dict[str, Any] = dict(res.as_dict())
    out["loadgen"] = "python-steady" if slow else ("wrk" if b.use_wrk else "python")
    n = res.requests
    (c0, u0), (c1, u1) = cpu["start"], cpu["end"]
    out["cpu_us_per_req"] = (c1 - c0) / n * 1e6 if n else None
    out["upstream_cpu_us_per_req"] = (u1 - u0) / n * 1e6 if n else None
    out["rss_kb"] = procs.rss_kb(t.proc.pid)
    b.note_load()
    return out


def run_target(b: Bench, t: Target) -> dict[str, Any]:
    """Every scenario against one target: a warm-up, then ``runs`` measured runs, medians."""
    scenarios: dict[str, Any] = {}
    for scenario in report.SCENARIOS:
        stream, conns = SCENARIO_SHAPE[scenario]
        body = payloads.chat_body(t.sse_model if stream else t.json_model, stream)
        try:
            warm = load(b, t, body, conns, b.mode.warmup_seconds)
            slow = needs_steady(warm, b.mode.run_seconds)
            runs = [measure(b, t, scenario, slow) for _ in range(b.mode.runs)]
        except (ValueError, OSError, TimeoutError, subprocess.SubprocessError) as exc:
            scenarios[scenario] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        scenarios[scenario] = s = report.aggregate(runs)
        print(
            f"  {t.name:<10} {scenario:<8} {_num(s['rps'], 1):>9} req/s  "
            f"p50 {_num(s['p50_ms'])} ms  p99 {_num(s['p99_ms'])} ms  errors {s['errors']}"
            + ("  (steady-state generator)" if slow else ""),
            flush=True,
        )
    return {"status": "ok", "error": None, "sse_frames": t.sse_frames, "scenarios": scenarios}


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def soak(b: Bench, t: Target) -> dict[str, Any]:
    """Fixed-rate mixed JSON/SSE load for the mode's soak time, sampling the target's RSS."""
    samples: list[tuple[float, int | None]] = []

    async def tick(elapsed: float) -> None:
        samples.append((round(elapsed, 1), procs.rss_kb(t.proc.pid)))

    json_body = payloads.chat_body(t.json_model, False)
    sse_body = payloads.chat_body(t.sse_model, True)
    bodies = [(json_body, t.headers())] * 3 + [(sse_body, t.headers())]
    res = asyncio.run(
        loadgen.fixed_rate(t.url, bodies, b.mode.soak_rate, b.mode.soak_seconds, on_tick=tick)
    )
    samples.append((round(res.duration_s, 1), procs.rss_kb(t.proc.pid)))
    after = next((kb for s, kb in samples if s >= b.mode.soak_warmup_seconds and kb), None)
    end = samples[-1][1]
    return {
        "status": "ok",
        "target": t.name,
        "rate": b.mode.soak_rate,
        "seconds": res.duration_s,
        "warmup_seconds": b.mode.soak_warmup_seconds,
        "requests": res.requests,
        "errors": res.errors,
        "p50_ms": res.p50_ms,
        "p99_ms": res.p99_ms,
        "rss_after_warmup_kb": after,
        "rss_end_kb": end,
        "rss_max_kb": max((kb for _, kb in samples if kb), default=None),
        "rss_growth_pct": report.rss_growth_pct(after, end),
        "rss_samples": samples,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--mode", choices=sorted(MODES), default="quick")
    p.add_argument(
        "--upstream",
        choices=("emulator", "dev"),
        default="emulator",
        help="emulator: `python -m bordergate emulate`; dev: the stand-in in bench/_devupstream.py",
    )
    p.add_argument(
        "--targets",
        default=",".join(report.TARGETS),
        help="comma-separated subset of " + ",".join(report.TARGETS),
    )
    p.add_argument(
        "--loadgen",
        choices=("wrk", "python"),
        default="wrk",
        help="python forces the fallback generator (wrk is used when available by default)",
    )
    p.add_argument("--soak-target", default="bordergate", help="target to soak, or 'none'")
    p.add_argument(
        "--bordergate-template",
        type=Path,
        default=TEMPLATE,
        help="config template for the Bordergate target (e.g. to measure one feature off)",
    )
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--runs", type=int, help="override the mode's runs per scenario")
    p.add_argument("--seconds", type=int, help="override the mode's seconds per run")
    p.add_argument("--soak-seconds", type=float, help="override the mode's soak length")
    p.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    p.add_argument("--keep-logs", action="store_true", help="keep the temp dir with server logs")
    return p.parse_args(argv)


def _mode(args: argparse.Namespace) -> Mode:
    m = MODES[args.mode]
    return Mode(
        runs=args.runs or m.runs,
        run_seconds=args.seconds or m.run_seconds,
        warmup_seconds=m.warmup_seconds,
        soak_seconds=args.soak_seconds or m.soak_seconds,
        soak_warmup_seconds=min(m.soak_warmup_seconds, (args.soak_seconds or m.soak_seconds) / 4),
        soak_rate=m.soak_rate,
        micro_budget_s=m.micro_budget_s,
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the finally that stops every process


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when a report was written (whatever it says), 2 on harness failure."""
    args = parse_args(argv)
    mode = _mode(args)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(report.TARGETS))
    if unknown:
        print(f"unknown targets: {', '.join(unknown)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    signal.signal(signal.SIGTERM, _on_sigterm)
    cpus: tuple[int | None, int | None] = (None, None)
    placement = "no pinning (taskset missing or fewer than 2 CPUs)"
    if procs.pinning_available():
        cpus = (TARGET_CPU, LOAD_CPU)
        os.sched_setaffinity(0, {LOAD_CPU})
        placement = (
            f"target on CPU {TARGET_CPU}; upstream, wrk (1 thread) and harness on CPU {LOAD_CPU}"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bordergate-bench-"))
    pset = procs.ProcessSet(workdir)
    notes: list[str] = []
    wrk_error = loadgen.ensure_wrk() if args.loadgen == "wrk" else "--loadgen python"
    if wrk_error:
        notes.append(f"wrk unavailable ({wrk_error}); used the Python aiohttp load generator.")
    b = Bench(mode, workdir, cpus, wrk_error is None, pset, notes=notes)
    b.template = args.bordergate_template
    if args.bordergate_template != TEMPLATE:
        notes.append(f"Bordergate config template: {args.bordergate_template}")
    rows: dict[str, dict[str, Any]] = {}
    soak_result: dict[str, Any] = {"status": "not run", "error": f"{args.soak_target} not run"}
    try:
        print(f"bench: {args.mode} mode, upstream {args.upstream}, logs in {workdir}", flush=True)
        err = start_upstream(b, args.upstream)
        if err is not None:
            print(f"bench: the upstream did not start: {err}", file=sys.stderr)
            if args.upstream == "emulator":
                print("bench: (try --upstream dev until the emulator lands)", file=sys.stderr)
            return 2
        for name in targets:
            print(f"bench: target {name}", flush=True)
            try:
                t = start_target(b, name)
            except Exception as exc:  # one broken target must not end the whole bench
                t = f"could not start {name}: {type(exc).__name__}: {exc}"
            if isinstance(t, str):
                print(f"  {name}: NOT RUN: {t}", flush=True)
                rows[name] = {"status": "error", "error": t, "scenarios": {}}
                if name == args.soak_target:
                    soak_result = {"status": "error", "error": f"{name} did not start"}
                continue
            try:
                rows[name] = run_target(b, t)
                if name == args.soak_target:
                    print(f"bench: soak {name} for {mode.soak_seconds:.0f} s", flush=True)
                    soak_result = soak(b, t)
            finally:
                if t.proc is not b.upstream:
                    pset.stop(t.proc)
        micro_rows = [] if args.no_micro else micro.run_all(mode.micro_budget_s)
        # The bench itself keeps about 2 runnable (target + emulator/wrk); much more means other
        # work competed for the two CPUs and req/s figures are depressed.
        if b.loadavg_max > (os.cpu_count() or 1) + 1:
            notes.append(
                f"The machine was busy: 1-minute load average up to {b.loadavg_max:.1f} on "
                f"{os.cpu_count()} CPUs during the runs. Other work competed with the targets, so "
                "req/s and latency are depressed and noisy; the CPU-based ratios are more reliable."
            )
        meta = {
            "mode": args.mode,
            "started_at": started_at,
            "elapsed_s": time.monotonic() - started,
            "upstream": args.upstream,
            "loadgen": "wrk -t1 (Debian package)" if b.use_wrk else "python aiohttp (fallback)",
            "placement": placement,
            "runs": mode.runs,
            "run_seconds": mode.run_seconds,
            "prompt_bytes": len(payloads.prompt()),
            "sse_chunks": payloads.SSE_CHUNKS,
            "litellm_version": litellm_target.LITELLM_VERSION,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "loadavg_max": round(b.loadavg_max, 2),
            "notes": notes,
        }
        rep = report.build_report(meta, rows, soak_result, micro_rows)
        json_path, md_path = report.write(rep, args.results_dir)
        print(report.render_markdown(rep))
        print(f"bench: wrote {json_path} and {md_path}")
        return 0
    except KeyboardInterrupt:
        print("bench: interrupted; stopping every process", file=sys.stderr)
        return 130
    finally:
        pset.close()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
