"""Strict durability through the real gateway: kill -9 under load, then every response a client
received in full has its audit event and the chain verifies (SQLite and PostgreSQL).

Several SDK clients send JSON and streamed requests concurrently; a request counts as received
in full only when the JSON parsed or the stream reached its end ([DONE]). The gateway is then
killed with SIGKILL — no shutdown hook runs — and the log is read back.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import psycopg
import pytest

from tests.support import emulator, free_port, run_process
from tests.test_e2e_audit import DEMO_KEY, audit_config, bordergate

CLIENTS = 6
KILL_AFTER = 40  # completed requests before the kill


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def completed_ids(database: str) -> set[str]:
    """Request ids of every event in the log (SQLite path or PostgreSQL URL)."""
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT event FROM audit_events").fetchall()
    else:
        with psycopg.connect(database) as conn:
            rows = conn.execute("SELECT event FROM audit_events").fetchall()
    return {json.loads(r[0])["request_id"] for r in rows}


def load(url: str, done: list[str], stop: threading.Event, worker: int) -> None:
    """Alternate JSON and streamed requests until told to stop or the gateway dies."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=10)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if n % 2:
                raw = client.chat.completions.with_raw_response.create(
                    model="deepseek-chat",
                    messages=[{"role": "user", "content": f"w{worker} n{n}"}],
                )
                raw.parse()  # parsed in full
                done.append(raw.headers["x-request-id"])
            else:
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"w{worker} n{n}\n@emulator chunks=6"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                usage = None
                for chunk in stream:  # ends without error only after [DONE]
                    usage = chunk.usage or usage
                if usage is not None:
                    done.append(stream.response.headers["x-request-id"])
        except (openai.APIError, OSError):
            if stop.is_set():
                return
            time.sleep(0.01)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_answered_request(
    emu: str, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    database = (
        f"sqlite:///{tmp_path}/audit.db" if store == "sqlite" else request.getfixturevalue("pg_url")
    )
    config = audit_config(tmp_path, emu, {"database": database, "durability": "strict"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    done: list[str] = []
    stop = threading.Event()
    serve = ["serve", "--config", str(config), "--port", str(port)]
    with run_process(serve, f"{url}/healthz") as proc:
        threads = [
            threading.Thread(target=load, args=(url, done, stop, i), daemon=True)
            for i in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(done) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(15)
    answered = set(done)
    assert len(answered) >= KILL_AFTER
    missing = answered - completed_ids(database)
    assert not missing, f"{len(missing)} answered requests have no audit event"
    verify = bordergate("audit", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # A restarted gateway continues the same chain.
    with run_process(serve, f"{url}/healthz"):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=DEMO_KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "after restart"}]
        )
        after = raw.headers["x-request-id"]
    assert after in completed_ids(database)
    verify = bordergate("audit", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
