"""Micro-benchmarks: a registry other parts of Bordergate plug their hot-path functions into.

A provider module (``bench/micro_*.py``, or one listed in ``PROVIDERS``) registers functions::

    from bench.micro import register, timed

    @register("policy_cached", "Policy decision, cached")
    def policy_cached(budget_s: float) -> dict[str, float]:
        engine = ...                       # set up outside the timed part
        return timed(lambda: engine.decide(...), budget_s)

A function gets a time budget in seconds (smaller in quick mode) and returns named numbers.
It raises ``Unavailable("why")`` when the code it measures has not landed yet. Every benchmark
in ``EXPECTED`` appears in the report, either with numbers or with an explicit "not available"
and the reason -- a missing module is never silently skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import percentile

MicroFn = Callable[[float], dict[str, float]]


class Unavailable(Exception):
    """Raised by a micro-benchmark whose subject is not (yet) present."""


@dataclass(frozen=True)
class Expected:
    """A micro-benchmark the report always lists, and the module expected to provide it."""

    key: str
    label: str
    module: str


EXPECTED = (
    Expected("policy_cached", "Policy decision, cached", "bench.micro_policy"),
    Expected("policy_uncached", "Policy decision, uncached (Cedar)", "bench.micro_policy"),
    Expected("dlp_throughput", "DLP scan throughput", "bench.micro_dlp"),
    Expected("dlp_4kb", "DLP scan of a 4 KB prompt", "bench.micro_dlp"),
    Expected("dlp_4kb_mixed", "DLP scan of a 4 KB mixed prompt", "bench.micro_dlp"),
    Expected(
        "dlp_conversation",
        "DLP scan of one agent turn, history re-sent (cache on)",
        "bench.micro_dlp",
    ),
    Expected("audit_strict", "Audit commit, strict (per event)", "bench.micro_audit"),
    Expected("audit_batched", "Audit commit, batched (group commit)", "bench.micro_audit"),
)

# Extra provider modules outside the bench/micro_*.py naming (e.g. the DLP evaluation script).
PROVIDERS: tuple[str, ...] = ()

_REGISTRY: dict[str, tuple[str, MicroFn]] = {}


def register(key: str, label: str | None = None) -> Callable[[MicroFn], MicroFn]:
    """Decorator registering ``fn(budget_s) -> metrics`` under ``key``."""

    def deco(fn: MicroFn) -> MicroFn:
        known = {e.key: e.label for e in EXPECTED}
        _REGISTRY[key] = (label or known.get(key, key), fn)
        return fn

    return deco


def registered() -> dict[str, tuple[str, MicroFn]]:
    """A copy of the registry (for tests and listings)."""
    return dict(_REGISTRY)


def timed(call: Callable[[], object], budget_s: float, min_calls: int = 20) -> dict[str, float]:
    """Call ``call`` repeatedly for about ``budget_s`` seconds; per-call p50/p99 and calls/s."""
    samples: list[float] = []
    end = time.perf_counter() + budget_s
    while time.perf_counter() < end or len(samples) < min_calls:
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    total = sum(samples)
    return {
        "p50_us": percentile(samples, 50) * 1e6,
        "p99_us": percentile(samples, 99) * 1e6,
        "calls_per_s": len(samples) / total if total > 0 else 0.0,
    }


def discover() -> dict[str, str]:
    """Import every provider module; returns {module: error} for those that failed to import."""
    names = set(PROVIDERS) | {e.module for e in EXPECTED}
    here = Path(__file__).parent
    names |= {
        f"bench.{m.name}" for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("micro_")
    }
    failed: dict[str, str] = {}
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            failed[name] = f"module {exc.name} not present"
        except Exception as exc:  # a provider that crashes on import must not stop the bench
            failed[name] = f"{name} failed to import: {type(exc).__name__}: {exc}"
    return failed


def run_all(budget_s: float) -> list[dict[str, Any]]:
    """Run every registered benchmark and list every expected one, available or not."""
    failed = discover()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for exp in EXPECTED:
        seen.add(exp.key)
        if exp.key in _REGISTRY:
            rows.append(_run_one(exp.key, budget_s))
        else:
            why = failed.get(exp.module) or f"{exp.module} does not register {exp.key!r}"
            rows.append({"key": exp.key, "label": exp.label, "status": "unavailable", "error": why})
    for key in sorted(set(_REGISTRY) - seen):
        rows.append(_run_one(key, budget_s))
    return rows


def _run_one(key: str, budget_s: float) -> dict[str, Any]:
    label, fn = _REGISTRY[key]
    try:
        metrics = fn(budget_s)
    except Unavailable as exc:
        return {"key": key, "label": label, "status": "unavailable", "error": str(exc)}
    except Exception as exc:
        return {
            "key": key,
            "label": label,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
        }
    return {"key": key, "label": label, "status": "ok", "metrics": metrics}
