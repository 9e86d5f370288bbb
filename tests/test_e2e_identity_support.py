"""Helpers shared by the identity and limits end-to-end tests (no tests in this module).

They drive real `bordergate serve` processes: the `bordergate keys` CLI as a subprocess, the
admin API and chat endpoints over HTTP, and read what the gateways wrote (audit events,
Redis counters) to check the numbers the limiter claims.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

from tests.conftest import PG_ADMIN_URL
from tests.support import ROOT

T = TypeVar("T")
ADMIN_KEY = "bg-admin-e2e-0123456789abcdef"
WINDOW_S = 60


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for a whole test module (like the `pg_url` fixture).

    Module-scoped gateways need a database that outlives one test, which the function-scoped
    `pg_url` fixture cannot give; the URL selects the schema through search_path, so it works
    as identity.database_url and audit.database alike.
    """
    schema = f"bgtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run `bordergate ARGS` as a subprocess (the way an operator does), capturing output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bordergate", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli_json(*args: str | Path) -> Any:
    """Run a `bordergate ... --json` command that must succeed; its parsed JSON output."""
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def create_key(config: Path, user: str, *flags: str) -> dict[str, Any]:
    """`bordergate keys create --config F --user U FLAGS --json` -> {"key", "id", "record"}."""
    out: dict[str, Any] = cli_json("keys", "create", "--config", config, "--user", user, *flags)
    assert out["key"].startswith("bg-") and out["id"].startswith("key_")
    return out


def admin_create(gw: str, **fields: Any) -> dict[str, Any]:
    """Issue a key through `POST /admin/keys` (fast: no CLI start-up per key)."""
    r = httpx.post(
        f"{gw}/admin/keys",
        json=fields,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def chat(gw: str, key: str, model: str = "gpt-4o-mini", **extra: Any) -> httpx.Response:
    """One small chat completion over plain HTTP (for tight polling loops)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return httpx.post(
        f"{gw}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def burst(
    urls: list[str], key: str, n: int, bodies: list[dict[str, Any]] | None = None
) -> list[httpx.Response]:
    """`n` chat requests sent at once, spread round-robin over `urls` (one connection each).

    `bodies` (cycled) replaces the default tiny completion, e.g. to mix in streams.
    """
    default = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}]
    todo = bodies or default
    auth = {"Authorization": f"Bearer {key}"}

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            # Warm every replica's key cache (authentication only, no limit is counted), so
            # the burst contends on the limiter, not on who loads the key first.
            for url in urls:
                warm = await client.get(f"{url}/v1/models", headers=auth)
                assert warm.status_code == 200, warm.text
            return await asyncio.gather(
                *(
                    client.post(
                        f"{urls[i % len(urls)]}/v1/chat/completions",
                        json=todo[i % len(todo)],
                        headers=auth,
                    )
                    for i in range(n)
                )
            )

    return asyncio.run(run())


def first_rejection(
    urls: list[str], key: str, deadline_s: float, started: float | None = None
) -> dict[str, float]:
    """Poll every gateway with `key` until each answers 401; {url: wall time of its first 401}.

    Fails (AssertionError) if a gateway still accepts the key after `deadline_s`.
    """
    seen: dict[str, float] = {}
    stop = (started or time.time()) + deadline_s
    with httpx.Client(timeout=5) as client:
        while len(seen) < len(urls):
            for url in urls:
                if url in seen:
                    continue
                r = client.post(
                    f"{url}/v1/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "p"}]},
                    headers={"Authorization": f"Bearer {key}"},
                )
                if r.status_code == 401:
                    seen[url] = time.time()
                else:
                    assert r.status_code == 200, r.text
            if time.time() > stop:
                missing = [u for u in urls if u not in seen]
                raise AssertionError(f"still accepted after {deadline_s} s by {missing}")
            time.sleep(0.01)
    return seen


def in_one_window(attempt: Callable[[], T], tries: int = 3, margin_s: float = 8.0) -> T:
    """Run `attempt` so that it starts and ends in the same fixed calendar minute.

    Rate windows are calendar minutes; a burst split by a minute boundary would legitimately
    see two windows' allowances. If too little of the minute is left, wait for the next one;
    if the burst still crossed a boundary, run it again (each attempt must use fresh keys).
    """
    for _ in range(tries):
        left = WINDOW_S - time.time() % WINDOW_S
        if left < margin_s:
            time.sleep(left + 0.05)
        window = int(time.time() // WINDOW_S)
        result = attempt()
        if int(time.time() // WINDOW_S) == window:
            return result
    raise AssertionError(f"could not fit the attempt into one {WINDOW_S} s window")


def audit_spend(database: str, user: str) -> tuple[int, int, float]:
    """(events, events with cost, total USD) the audit log holds for one principal."""
    sql = (
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE cost_nanousd > 0), "
        "COALESCE(SUM(cost_nanousd), 0) FROM audit_events WHERE principal_id = %s"
    )
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            row = conn.execute(sql.replace("%s", "?"), (user,)).fetchone()
    else:
        with psycopg.connect(database) as conn:
            row = conn.execute(sql, (user,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]) / 1e9


def audit_outcomes(database: str, user: str) -> dict[str, int]:
    """How many audit events of one principal ended in each error_kind ("served", ...)."""
    sql = "SELECT error_kind, COUNT(*) FROM audit_events WHERE principal_id = %s GROUP BY 1"
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(sql.replace("%s", "?"), (user,)).fetchall()
    else:
        with psycopg.connect(database) as conn:
            rows = conn.execute(sql, (user,)).fetchall()
    return {str(k): int(n) for k, n in rows}


def report(name: str, **values: Any) -> None:
    """Print a measurement so `pytest -s` (and the test log) shows what was observed."""
    print(f"[measured] {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
