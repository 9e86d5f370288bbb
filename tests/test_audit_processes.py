"""Real processes: two replicas appending to one PostgreSQL chain, and kill -9 durability.

The child side of each test is this module run as a script (see the bottom).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bordergate.audit.checkpoints import (
    Checkpointer,
    generate_keypair,
    load_private_key,
    load_public_key,
)
from bordergate.audit.event import AuditEvent
from bordergate.audit.store import AuditStore
from bordergate.audit.verify import verify_log
from bordergate.audit.writer import AuditWriter

CONCURRENCY = 8


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )


def _request_ids(store: AuditStore) -> dict[int, str]:
    return {row.seq: json.loads(row.event)["request_id"] for row in store.iter_events()}


def test_two_replicas_append_to_one_postgresql_chain(pg_url: str, tmp_path: Path) -> None:
    private, public = generate_keypair(tmp_path / "keys")
    AuditStore(pg_url).close()  # migrate once, before the replicas start
    go = tmp_path / "go"
    per_replica = 150
    children = [
        _spawn("append", pg_url, str(per_replica), name, str(go), str(private))
        for name in ("a", "b")
    ]
    go.touch()  # release both at once so their batches interleave
    for child in children:
        _, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
    store = AuditStore(pg_url)
    ids = _request_ids(store)
    assert sorted(ids) == list(range(1, 2 * per_replica + 1))  # dense, no duplicates
    expected = {f"{name}-{i}" for name in ("a", "b") for i in range(per_replica)}
    assert set(ids.values()) == expected
    report = verify_log(store, load_public_key(public))
    assert report.ok, report.problems
    assert report.checkpoints_checked >= 2  # both replicas checkpoint into one sequence
    assert store.checkpoints()[-1].size == 2 * per_replica


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_url"))


def test_kill_9_loses_no_acknowledged_event(url: str) -> None:
    AuditStore(url).close()
    child = _spawn("stream", url)
    acknowledged: dict[int, str] = {}
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seq, request_id = line.split()
            acknowledged[int(seq)] = request_id
        assert len(acknowledged) >= 200, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    for line in rest.splitlines():  # acknowledgements written just before the kill
        seq, request_id = line.split()
        acknowledged[int(seq)] = request_id
    store = AuditStore(url)
    stored = _request_ids(store)
    missing = {seq for seq, rid in acknowledged.items() if stored.get(seq) != rid}
    assert not missing
    report = verify_log(store)
    assert report.ok, report.problems


# --- child processes -------------------------------------------------------------------


async def _append_child(url: str, count: int, name: str, go: Path, key: Path) -> None:
    while not go.exists():
        await asyncio.sleep(0.01)
    checkpointer = Checkpointer(load_private_key(key), every_events=40, every_seconds=3600)
    writer = AuditWriter(AuditStore(url), checkpointer=checkpointer)
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop(0)
            await writer.append(AuditEvent(f"{name}-{i}", "/v1/messages", "allow", 200))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await writer.close()


async def _stream_child(url: str) -> None:
    writer = AuditWriter(AuditStore(url), durability="strict")
    counter = iter(range(10**9))

    async def worker() -> None:
        while True:
            request_id = f"req-{next(counter)}"
            seq = await writer.append(AuditEvent(request_id, "/v1/chat", "allow", 200))
            # Printed only after append returned: this is "the client got its response".
            print(seq, request_id, flush=True)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "append":
        asyncio.run(
            _append_child(
                sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]), Path(sys.argv[6])
            )
        )
    elif mode == "stream":
        asyncio.run(_stream_child(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
