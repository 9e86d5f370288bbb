"""The group-commit writer: strict and batched durability, flushing, failures, checkpoints."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bordergate.audit.checkpoints import Checkpointer
from bordergate.audit.event import AuditEvent
from bordergate.audit.store import AuditStore
from bordergate.audit.verify import verify_log
from bordergate.audit.writer import AuditWriteError, AuditWriter


def event(i: int) -> AuditEvent:
    return AuditEvent(f"req-{i}", "/v1/messages", "allow", 200, vendor="acme", prompt_tokens=i)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_url"))


def stored_request_ids(url: str) -> list[str]:
    """Read back through a separate connection: only committed rows are visible there."""
    reader = AuditStore(url)
    try:
        return [row.event.split('"request_id":"')[1].split('"')[0] for row in reader.iter_events()]
    finally:
        reader.close()


def test_strict_append_returns_after_commit(url: str) -> None:
    async def scenario() -> None:
        writer = AuditWriter(AuditStore(url), durability="strict")
        seq = await writer.append(event(1))
        assert seq == 1
        # Visible to another connection before close(): it is committed, not just queued.
        assert stored_request_ids(url) == ["req-1"]
        seqs = await asyncio.gather(*(writer.append(event(i)) for i in range(2, 42)))
        assert sorted(s for s in seqs if s is not None) == list(range(2, 42))
        assert writer.stats.appended == 41
        assert writer.stats.batches <= 41
        await writer.close()

    asyncio.run(scenario())
    assert len(stored_request_ids(url)) == 41
    assert verify_log(AuditStore(url)).ok


def test_batched_append_returns_at_once_and_close_flushes(url: str) -> None:
    async def scenario() -> None:
        writer = AuditWriter(AuditStore(url), durability="batched", max_delay_ms=5)
        results = [await writer.append(event(i)) for i in range(30)]
        assert results == [None] * 30
        await writer.close()
        with pytest.raises(AuditWriteError):
            await writer.append(event(99))

    asyncio.run(scenario())
    assert stored_request_ids(url) == [f"req-{i}" for i in range(30)]


def test_max_batch_bounds_each_transaction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"

    async def scenario() -> AuditWriter:
        writer = AuditWriter(AuditStore(url), durability="batched", max_batch=4)
        for i in range(20):
            await writer.append(event(i))
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert writer.stats.appended == 20
    assert writer.stats.batches >= 5  # never more than 4 events per transaction


def test_lost_connection_is_retried(pg_url: str) -> None:
    async def scenario() -> None:
        store = AuditStore(pg_url)
        writer = AuditWriter(store, retry_backoff_s=0.001)
        assert await writer.append(event(1)) == 1
        pid = store.db.execute("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await writer.append(event(2)) == 2
        assert writer.stats.retries >= 1
        await writer.close()

    asyncio.run(scenario())
    assert stored_request_ids(pg_url) == ["req-1", "req-2"]


def test_permanent_failure_is_reported_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    store = AuditStore(url)
    store.db.execute("DROP TABLE audit_events")  # the database is broken underneath us

    async def scenario() -> AuditWriter:
        writer = AuditWriter(store, retry_attempts=2, retry_backoff_s=0.001)
        with pytest.raises(AuditWriteError):
            await writer.append(event(7))
        await writer.close()
        return writer

    with caplog.at_level(logging.ERROR, logger="bordergate.audit"):
        writer = asyncio.run(scenario())
    assert writer.stats.failed == 1
    assert any("req-7" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_writer_checkpoints_every_n_events_and_on_close(url: str, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    offbox = tmp_path / "checkpoints"

    async def scenario() -> None:
        checkpointer = Checkpointer(key, every_events=5, every_seconds=3600, directory=offbox)
        writer = AuditWriter(AuditStore(url), checkpointer=checkpointer, max_batch=1)
        for i in range(12):
            await writer.append(event(i))
        await writer.close()

    asyncio.run(scenario())
    store = AuditStore(url)
    sizes = [cp.size for cp in store.checkpoints()]
    assert sizes[-1] == 12  # the final checkpoint on close
    assert 5 in sizes and 10 in sizes
    assert len(list(offbox.glob("checkpoint-*.json"))) == len(sizes)
    report = verify_log(store, key.public_key())
    assert report.ok, report.problems
    assert report.checkpoints_checked == len(sizes)


def test_cancelled_caller_still_gets_its_event_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"

    async def scenario() -> None:
        writer = AuditWriter(AuditStore(url))
        task = asyncio.ensure_future(writer.append(event(1)))
        await asyncio.sleep(0)
        task.cancel()  # the client went away while the event was being committed
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await writer.append(event(2)) == 2
        assert writer.healthy
        await writer.close()

    asyncio.run(scenario())
    assert stored_request_ids(url) == ["req-1", "req-2"]


def test_idle_writer_checkpoints_after_the_time_limit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    key = Ed25519PrivateKey.generate()

    async def scenario() -> list[int]:
        checkpointer = Checkpointer(key, every_events=1000, every_seconds=0.05)
        writer = AuditWriter(AuditStore(url), checkpointer=checkpointer, tick_seconds=0.02)
        for i in range(3):
            await writer.append(event(i))
        reader = AuditStore(url)
        sizes: list[int] = []
        for _ in range(500):  # no new events: only the timer can produce this checkpoint
            sizes = [cp.size for cp in reader.checkpoints()]
            if 3 in sizes:
                break
            await asyncio.sleep(0.02)
        await writer.close()
        return sizes

    assert 3 in asyncio.run(scenario())  # signed before close(), so by the timer
