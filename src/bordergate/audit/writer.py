"""Group commit off the event loop: many requests' events, one transaction, one fsync.

`await writer.append(event)` hands the event to a background thread that drains a queue and
commits whatever has accumulated (up to `max_batch`) in one transaction. Under load, events
that arrive while one batch commits form the next batch, so throughput scales without adding
latency when idle; `max_delay_ms` optionally lingers to collect a fuller batch.

Durability modes:
- `strict` (default): `append` returns the sequence number only after the transaction that
  holds the event committed (SQLite `synchronous=FULL`, PostgreSQL commit). The server awaits
  it before completing the response, so a response the client received always has its event.
- `batched`: `append` returns None at once; the event is written with the next batch. Events
  accepted but not yet committed are lost if the process dies: at most one batch in flight
  plus whatever is queued (normally milliseconds' worth).

Failures are never silent: a failed commit is retried with back-off (reconnecting between
attempts); if every attempt fails, strict callers get `AuditWriteError` (so the request can be
failed rather than served unaudited) and the loss is logged at ERROR with the request ids and
counted in `stats.failed` in both modes. (If a PostgreSQL connection drops after the server
committed but before it acknowledged, the retry appends the batch again: a duplicate is
possible, a loss is not; duplicates share a request id.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from bordergate.audit.checkpoints import Checkpointer
from bordergate.audit.event import AuditEvent
from bordergate.audit.store import AuditStore, PreparedEvent

log = logging.getLogger("bordergate.audit")

Durability = Literal["strict", "batched"]


class AuditWriteError(RuntimeError):
    """The event could not be made durable; the request must not be reported as served."""


@dataclass
class WriterStats:
    """Counters for metrics and health checks."""

    appended: int = 0
    batches: int = 0
    retries: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Item:
    prepared: PreparedEvent
    request_id: str
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[int] | None = None  # strict: completed once durable


def _resolve(items: list[_Item], seqs: list[int] | None, error: BaseException | None) -> None:
    """Complete strict callers' futures: one thread-safe wake-up per event loop, not per event."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int]]] = {}
    for index, item in enumerate(items):
        if item.loop is not None and item.future is not None:
            seq = seqs[index] if seqs is not None else 0
            by_loop.setdefault(item.loop, []).append((item.future, seq))

    def settle(pending: list[tuple[asyncio.Future[int], int]]) -> None:
        for future, seq in pending:
            if future.done():
                continue  # caller was cancelled (client gone); the event is written regardless
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(seq)

    for loop, pending in by_loop.items():
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody is waiting
            loop.call_soon_threadsafe(settle, pending)


@dataclass
class AuditWriter:
    """The single writer of one process; owns `store` from its background thread."""

    store: AuditStore
    durability: Durability = "strict"
    max_batch: int = 256
    max_delay_ms: float = 0.0
    checkpointer: Checkpointer | None = None
    retry_attempts: int = 5
    retry_backoff_s: float = 0.05
    tick_seconds: float = 1.0
    stats: WriterStats = field(default_factory=WriterStats)

    def __post_init__(self) -> None:
        if self.durability not in ("strict", "batched"):
            raise ValueError(f"durability must be strict or batched, not {self.durability!r}")
        # Items travel in groups: everything one loop iteration appended, in one `put`.
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._open: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        self._buffer: list[_Item] = []  # taken off the queue, not yet committed
        self._closed = False
        self._crashed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bordergate-audit", daemon=True)
        self._thread.start()

    async def append(self, event: AuditEvent) -> int | None:
        """Queue one event. Strict: return its sequence number once durable. Batched: None."""
        # Canonicalise now, so later mutation of `event` cannot change what was accepted.
        return await self.append_prepared(PreparedEvent.of(event), event.request_id)

    async def append_prepared(self, prepared: PreparedEvent, request_id: str) -> int | None:
        """`append` for an event already in its prepared form (the request path's way).

        Events appended during one turn of the event loop are handed to the writer thread
        together, after that turn: one queue operation and at most one thread wake-up for
        the lot, rather than one per request.
        """
        if self._closed or self._crashed is not None:
            raise AuditWriteError("audit writer is closed or stopped")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] | None = None
        if self.durability == "strict":
            future = loop.create_future()
        item = _Item(prepared, request_id, loop, future)
        group = self._open.get(loop)
        if group is None:
            self._open[loop] = [item]
            loop.call_soon(self._hand_off, loop)
        else:
            group.append(item)
        return None if future is None else await future

    def _hand_off(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._open.pop(loop, None)
        if group:
            self._queue.put(group)

    @property
    def healthy(self) -> bool:
        """False once any accepted event could not be written (see `stats.last_error`)."""
        return self.stats.failed == 0 and self._crashed is None

    async def close(self) -> None:
        """Flush everything accepted so far, take a final checkpoint, stop the thread."""
        if self._closed:
            return
        self._closed = True
        for loop in list(self._open):
            self._hand_off(loop)  # groups whose hand-off callback has not run yet
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # --- background thread -------------------------------------------------------------

    def _run(self) -> None:
        """Thread body. A bug here must not leave strict callers waiting forever."""
        try:
            self._drain()
        except BaseException as exc:
            log.exception("audit writer stopped unexpectedly")
            self._crashed = exc
            self.stats.last_error = repr(exc)
            leftovers, self._buffer = self._buffer, []
            while True:
                try:
                    group = self._queue.get_nowait()
                except queue.Empty:
                    break
                if group is not None:
                    leftovers.extend(group)
            self.stats.failed += len(leftovers)
            _resolve(leftovers, None, AuditWriteError(f"audit writer stopped: {exc!r}"))

    def _drain(self) -> None:
        stopping = False
        buffer = self._buffer
        while not stopping:
            if not buffer:
                try:
                    first = self._queue.get(timeout=self.tick_seconds)
                except queue.Empty:
                    self._checkpoint_tick()
                    continue
                if first is None:
                    break
                buffer.extend(first)
            deadline = time.monotonic() + self.max_delay_ms / 1000.0
            while len(buffer) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                buffer.extend(nxt)
            # Removed from the buffer only once handled: if `_commit` itself blew up, `_run`
            # still finds these events and fails their callers instead of leaving them hanging.
            self._commit(buffer[: self.max_batch])
            del buffer[: self.max_batch]
        while buffer:  # closing: what is left, still in bounded transactions
            self._commit(buffer[: self.max_batch])
            del buffer[: self.max_batch]
        self._checkpoint_tick(final=True)
        log.info(
            "audit writer stopped: %d events in %d transactions, %d retries, %d failed",
            self.stats.appended,
            self.stats.batches,
            self.stats.retries,
            self.stats.failed,
        )

    def _commit(self, batch: list[_Item]) -> None:
        prepared = [item.prepared for item in batch]
        error: BaseException | None = None
        for attempt in range(max(1, self.retry_attempts)):
            try:
                seqs = self.store.append_batch(prepared)
            except Exception as exc:  # any DB failure: retry, then report
                error = exc
                self.stats.retries += 1
                self.stats.last_error = repr(exc)
                log.warning("audit commit failed (attempt %d): %r", attempt + 1, exc)
                time.sleep(self.retry_backoff_s * (2**attempt))
                try:
                    self.store.reopen()
                except Exception as reopen_exc:
                    log.warning("audit store reconnect failed: %r", reopen_exc)
                continue
            self.stats.appended += len(seqs)
            self.stats.batches += 1
            _resolve(batch, seqs, None)
            if self.checkpointer is not None:
                try:
                    self.checkpointer.maybe_checkpoint(self.store, seqs[-1])
                except Exception as exc:  # events are safe; checkpoint later
                    log.warning("audit checkpoint failed: %r", exc)
            return
        self.stats.failed += len(batch)
        log.error(
            "audit: %d events NOT written after %d attempts (%r); request ids: %s",
            len(batch),
            self.retry_attempts,
            error,
            ", ".join(item.request_id for item in batch),
        )
        failure = AuditWriteError(f"audit event not durable: {error!r}")
        _resolve(batch, None, failure)

    def _checkpoint_tick(self, final: bool = False) -> None:
        if self.checkpointer is None:
            return
        try:
            size, _ = self.store.head()
            if final:
                self.checkpointer.checkpoint_now(self.store)
            else:
                self.checkpointer.maybe_checkpoint(self.store, size)
        except Exception as exc:
            log.warning("audit checkpoint failed: %r", exc)
