"""The audit tables on SQLite or PostgreSQL: append a batch to the chain, read it back.

Multi-replica design (one chain, lock-assigned sequence): every batch is appended inside one
transaction that first locks the single row of `audit_head` (`SELECT ... FOR UPDATE` on
PostgreSQL; `BEGIN IMMEDIATE` already holds SQLite's one write lock). Under that lock the
batch takes the next dense sequence numbers and chains from the head's value, inserts its
events, moves the head, and commits. Replicas therefore interleave whole batches, never
individual sequence numbers, and the log stays a single verifiable chain whatever the number
of writers. The lock is held only for the inserts of one batch (group commit keeps the number
of transactions low), and the head row is a lock point and a cache, not a source of truth:
`verify` recomputes everything from the events themselves.

Append-only is enforced by triggers that reject UPDATE and DELETE (and TRUNCATE on
PostgreSQL) on the events and checkpoints tables. Triggers stop mistakes; an attacker with
DDL rights can drop them, which is what the hashes and signed checkpoints are for.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bordergate.audit.chain import GENESIS, chain_hash, leaf_hash
from bordergate.audit.event import EVENT_VERSION, AuditEvent, Finding
from bordergate.store.db import Database, migrate

APPEND_ONLY_MESSAGE = "bordergate audit log is append-only"

EVENT_COLUMNS = (
    "principal_id",
    "team",
    "vendor",
    "vendor_country",
    "host",
    "host_country",
    "decision",
    "error_kind",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_nanousd",
)

_INSERT_WIDTH = 5 + len(EVENT_COLUMNS)
# A whole default batch (256 events) in one statement; 4,352 bound values are well under
# SQLite's 32,766 (since 3.32) and PostgreSQL's 65,535.
_ROWS_PER_INSERT = 256
_STALE_HEAD_RETRIES = 5


def _rows(
    batch: Sequence[PreparedEvent], seq: int, previous: bytes
) -> tuple[list[int], list[object], bytes]:
    """Sequence numbers, flat INSERT parameters and the final chain value for a batch."""
    params: list[object] = []
    seqs: list[int] = []
    for item in batch:
        seq += 1
        previous = chain_hash(previous, item.leaf)
        seqs.append(seq)
        params += (
            seq,
            item.time,
            item.canonical.decode("utf-8"),
            item.leaf.hex(),
            previous.hex(),
            *item.columns,
        )
    return seqs, params, previous


@functools.cache
def _insert_sql(rows: int) -> str:
    """`INSERT ... VALUES (...), (...)` for `rows` events (cached: few distinct sizes)."""
    columns = ", ".join(EVENT_COLUMNS)
    one = "(" + ", ".join("?" * _INSERT_WIDTH) + ")"
    return (
        f"INSERT INTO audit_events (seq, time, event, leaf_hash, chain_hash, {columns}) "
        f"VALUES {', '.join([one] * rows)}"
    )


_TABLES = """
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    event TEXT NOT NULL,
    leaf_hash TEXT NOT NULL,
    chain_hash TEXT NOT NULL,
    principal_id TEXT,
    team TEXT,
    vendor TEXT,
    vendor_country TEXT,
    host TEXT,
    host_country TEXT,
    decision TEXT,
    error_kind TEXT,
    status INTEGER,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    cost_nanousd BIGINT
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    chain_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, chain_hash) VALUES (1, 0, '{genesis}');
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    head TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL
);
""".replace("{genesis}", GENESIS.hex())

_SQLITE_TRIGGERS = "\n".join(
    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END;"
    for table in ("audit_events", "audit_checkpoints")
    for verb in ("UPDATE", "DELETE")
)

_PG_TRIGGERS = (
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$;\n"
    + "\n".join(
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only();\n"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
        for table in ("audit_events", "audit_checkpoints")
    )
)

OUT_OF_SEQUENCE_MESSAGE = "bordergate audit append out of sequence"

# SQLite appends are one INSERT statement (see `AuditStore.append_batch`): the database itself
# keeps the sequence dense and moves the head, row by row, inside that statement.
_SQLITE_HEAD_TRIGGERS = f"""
CREATE TRIGGER audit_events_dense BEFORE INSERT ON audit_events
WHEN NEW.seq != (SELECT seq FROM audit_head WHERE id = 1) + 1
BEGIN SELECT RAISE(ABORT, '{OUT_OF_SEQUENCE_MESSAGE}'); END;
CREATE TRIGGER audit_events_head AFTER INSERT ON audit_events
BEGIN UPDATE audit_head SET seq = NEW.seq, chain_hash = NEW.chain_hash WHERE id = 1; END;
"""

MIGRATIONS: list[dict[str, str]] = [
    {"sqlite": _TABLES + _SQLITE_TRIGGERS, "postgresql": _TABLES + _PG_TRIGGERS},
    {"sqlite": _SQLITE_HEAD_TRIGGERS, "postgresql": ""},
]


def _sqlite_path(url: str) -> str | None:
    """The file behind a sqlite URL, spelled the way `Database` resolves it."""
    if not url.startswith("sqlite:"):
        return None
    path = url.split("sqlite://", 1)[1] if "sqlite://" in url else ""
    path = path[1:] if path.startswith("/") and not path.startswith("//") else path
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    return None if path in ("", ":memory:") else path


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event reduced to what the insert needs; computed before the lock is taken."""

    time: str
    canonical: bytes
    leaf: bytes
    columns: tuple[object, ...]

    @classmethod
    def of(cls, event: AuditEvent) -> PreparedEvent:
        canonical = event.canonical()
        columns = tuple(
            event.cost_nanousd if name == "cost_nanousd" else getattr(event, name)
            for name in EVENT_COLUMNS
        )
        return cls(event.time, canonical, leaf_hash(canonical), columns)


def prepare_event(
    *,
    request_id: str,
    endpoint: str,
    decision: str,
    status: int,
    error_kind: str,
    time: str,
    principal_id: str | None,
    team: str | None,
    model_requested: str | None,
    deployment: str | None,
    vendor: str | None,
    vendor_country: str | None,
    host: str | None,
    host_country: str | None,
    region: str | None,
    policy_ids: Sequence[str],
    findings: Sequence[Finding],
    prompt_tokens: int,
    completion_tokens: int,
    cost_nanousd: int,
    latency_us: int,
    prompt_enc: str | None = None,
    response_enc: str | None = None,
) -> PreparedEvent:
    """The request path's event, straight to its prepared form (no `AuditEvent` in between).

    Building and normalising an `AuditEvent` and then walking it again costs tens of
    microseconds per request; this takes values that are already normalised (a canonical
    `time`, ints for tokens, cost in nano-dollars, latency in microseconds) and produces the
    same canonical bytes and columns as `PreparedEvent.of(AuditEvent(...))` for the same
    event (a test holds the two paths equal).
    """
    if cost_nanousd < 0 or latency_us < 0:
        raise ValueError("cost and latency are never negative on the request path")
    cost = f"{cost_nanousd // 1_000_000_000}.{cost_nanousd % 1_000_000_000:09d}"
    data = {
        "completion_tokens": completion_tokens,
        "cost_usd": cost,
        "decision": decision,
        "deployment": deployment,
        "endpoint": endpoint,
        "error_kind": error_kind,
        "findings": [f.to_json() for f in findings],
        "host": host,
        "host_country": host_country,
        "latency_ms": f"{latency_us // 1000}.{latency_us % 1000:03d}",
        "model_requested": model_requested,
        "policy_ids": list(policy_ids),
        "principal_id": principal_id,
        "prompt_enc": prompt_enc,
        "prompt_tokens": prompt_tokens,
        "region": region,
        "request_id": request_id,
        "response_enc": response_enc,
        "status": status,
        "team": team,
        "time": time,
        "v": EVENT_VERSION,
        "vendor": vendor,
        "vendor_country": vendor_country,
    }
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    columns = tuple(
        cost_nanousd if name == "cost_nanousd" else data[name] for name in EVENT_COLUMNS
    )
    return PreparedEvent(time, canonical, leaf_hash(canonical), columns)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the log as read back (hashes as stored, not yet checked)."""

    seq: int
    time: str
    event: str
    leaf_hash: str
    chain_hash: str
    # The row's indexed copies of event fields (`EVENT_COLUMNS`), when asked for: reports
    # and time windows read these, so verify holds them against the hashed event.
    columns: tuple[object, ...] | None = None


def columns_of(event: dict[str, Any]) -> tuple[object, ...]:
    """The indexed columns as the writer derived them from this (parsed) event."""
    out: list[object] = []
    for name in EVENT_COLUMNS:
        if name == "cost_nanousd":
            # As `AuditEvent.cost_nanousd` reads the normalised string (sign included); a
            # string it could not have written gives None, which no stored copy equals.
            whole, _, frac = str(event.get("cost_usd", "0")).partition(".")
            try:
                out.append(int(whole + frac) if len(frac) == 9 else None)
            except ValueError:
                out.append(None)
        else:
            out.append(event.get(name))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """One checkpoint row: the canonical signed body and its base64 signature."""

    size: int
    time: str
    head: str
    body: str
    signature: str


# Builds a checkpoint for (size, head) given the previous stored checkpoint, if any.
CheckpointBuilder = Callable[[int, bytes, StoredCheckpoint | None], StoredCheckpoint]


class AuditStore:
    """The audit log in one database. Not thread-safe beyond `Database`'s own lock: give each
    writer thread its own store."""

    def __init__(self, url: str, create: bool = True) -> None:
        """Open the log; `create=False` (verify, export, report) refuses to conjure an empty
        log where none exists, so a wrong URL is an error rather than "0 events, intact"."""
        self.url = url
        self._head: tuple[int, bytes] | None = None  # SQLite: (size, chain) after our last append
        if not create:
            path = _sqlite_path(url)
            if path is not None and not Path(path).exists():
                raise ValueError(f"no audit log at {url}")
        self.db = self._connect()
        if create:
            migrate(self.db, "audit", MIGRATIONS)
            return
        try:
            self.db.execute("SELECT seq FROM audit_head WHERE id = 1")
        except Exception as exc:
            self.db.close()
            raise ValueError(f"no audit log at {url}") from exc

    def _connect(self) -> Database:
        db = Database(self.url)
        if db.kind == "postgresql":
            # A commit must mean durable, whatever the server default says.
            db.execute("SET synchronous_commit = on")
        return db

    @property
    def kind(self) -> str:
        return self.db.kind

    def reopen(self) -> None:
        """Drop and re-create the connection (after a lost PostgreSQL connection)."""
        with contextlib.suppress(Exception):  # the old connection may already be broken
            self.db.close()
        self.db = self._connect()
        self._head = None

    def close(self) -> None:
        self.db.close()

    def _lock_head(self) -> tuple[int, bytes]:  # inside a transaction
        lock = " FOR UPDATE" if self.db.kind == "postgresql" else ""
        rows = self.db.execute(f"SELECT seq, chain_hash FROM audit_head WHERE id = 1{lock}")
        return int(rows[0][0]), bytes.fromhex(rows[0][1])

    def append_batch(self, batch: Sequence[PreparedEvent]) -> list[int]:
        """Append events in order in one transaction; return their sequence numbers."""
        if not batch:
            return []
        if self.db.kind == "sqlite" and len(batch) <= _ROWS_PER_INSERT:
            return self._append_one_statement(batch)
        with self.db.transaction() as db:
            seq, previous = self._lock_head()
            seqs, params, previous = _rows(batch, seq, previous)
            # Multi-row INSERTs: one statement per slice of rows rather than one per row, so a
            # batch costs a few driver round trips (and GIL hand-offs) whatever its size.
            for first in range(0, len(batch), _ROWS_PER_INSERT):
                rows = min(_ROWS_PER_INSERT, len(batch) - first)
                lo = first * _INSERT_WIDTH
                db.execute(_insert_sql(rows), params[lo : lo + rows * _INSERT_WIDTH])
            db.execute(
                "UPDATE audit_head SET seq = ?, chain_hash = ? WHERE id = 1",
                (seqs[-1], previous.hex()),
            )
        self._head = (seqs[-1], previous)
        return seqs

    def _append_one_statement(self, batch: Sequence[PreparedEvent]) -> list[int]:
        """SQLite: the whole batch as one autocommitted INSERT, chained from a cached head.

        Every driver call lets go of the GIL and must win it back from the event loop, so the
        five statements of the locking path cost far more under load than their SQL does.
        Here the head is cached and checked by the database instead: the `audit_events_dense`
        trigger refuses any row whose sequence is not the head's successor (another process
        appended meanwhile), the statement rolls back as a whole, and the batch is re-chained
        from the real head. `audit_events_head` moves the head row by row in the same statement.
        """
        for _ in range(_STALE_HEAD_RETRIES):
            if self._head is None:
                self._head = self.head()
            seq, previous = self._head
            seqs, params, previous = _rows(batch, seq, previous)
            try:
                self.db.execute(_insert_sql(len(batch)), params)
            except sqlite3.IntegrityError as exc:
                if OUT_OF_SEQUENCE_MESSAGE not in str(exc):
                    raise
                self._head = None  # someone else appended: re-read the head and re-chain
                continue
            self._head = (seqs[-1], previous)
            return seqs
        raise RuntimeError("audit head kept moving under this writer; giving up this batch")

    def head(self) -> tuple[int, bytes]:
        """(size, chain value) as recorded by the last append."""
        rows = self.db.execute("SELECT seq, chain_hash FROM audit_head WHERE id = 1")
        return int(rows[0][0]), bytes.fromhex(rows[0][1])

    def iter_events(
        self,
        after_seq: int = -(2**62),
        since: str | None = None,
        until: str | None = None,
        chunk: int = 2000,
        with_columns: bool = False,
    ) -> Iterator[StoredEvent]:
        """Rows in sequence order, fetched in bounded chunks; optional [since, until) times."""
        where = ["seq > ?"]
        extra: list[object] = []
        if since is not None:
            where.append("time >= ?")
            extra.append(since)
        if until is not None:
            where.append("time < ?")
            extra.append(until)
        more = "".join(f", {name}" for name in EVENT_COLUMNS) if with_columns else ""
        query = (
            f"SELECT seq, time, event, leaf_hash, chain_hash{more} FROM audit_events "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT {int(chunk)}"
        )
        last = after_seq
        while True:
            rows = self.db.execute(query, (last, *extra))
            for row in rows:
                columns = tuple(row[5:]) if with_columns else None
                yield StoredEvent(int(row[0]), row[1], row[2], row[3], row[4], columns)
            if len(rows) < chunk:
                return
            last = int(rows[-1][0])

    def find_request(self, request_id: str) -> list[StoredEvent]:
        """The events of one request id (normally one; a retried PostgreSQL commit may leave a
        duplicate). A scan of the log, narrowed by text match: for forensics, not the hot path."""
        like = f'%"request_id":{orjson.dumps(request_id).decode()}%'
        rows = self.db.execute(
            "SELECT seq, time, event, leaf_hash, chain_hash FROM audit_events "
            "WHERE event LIKE ? ORDER BY seq",
            (like,),
        )
        found = [StoredEvent(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
        return [row for row in found if orjson.loads(row.event).get("request_id") == request_id]

    def chain_at(self, seq: int) -> str | None:
        """The stored chain value at one sequence number, if that row exists."""
        rows = self.db.execute("SELECT chain_hash FROM audit_events WHERE seq = ?", (seq,))
        return rows[0][0] if rows else None

    def checkpoint(self, build: CheckpointBuilder) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the current head unless the last one already covers
        it. Runs under the head lock so replicas agree on the checkpoint sequence."""
        with self.db.transaction() as db:
            size, head = self._lock_head()
            last = self._last_checkpoint()
            if size == 0 or (last is not None and last.size >= size):
                return None
            made = build(size, head, last)
            db.execute(
                "INSERT INTO audit_checkpoints (size, time, head, body, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (made.size, made.time, made.head, made.body, made.signature),
            )
            return made

    def _last_checkpoint(self) -> StoredCheckpoint | None:
        rows = self.db.execute(
            "SELECT size, time, head, body, signature FROM audit_checkpoints "
            "ORDER BY size DESC LIMIT 1"
        )
        return StoredCheckpoint(int(rows[0][0]), *rows[0][1:]) if rows else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, oldest first."""
        rows = self.db.execute(
            "SELECT size, time, head, body, signature FROM audit_checkpoints ORDER BY size"
        )
        return [StoredCheckpoint(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
