"""The log on real SQLite and PostgreSQL: append, verify, triggers, and every kind of tampering.

To tamper, the tests do what an attacker with database rights would: drop or disable the
append-only triggers, then edit rows directly.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bordergate.audit.chain import chain_hash, leaf_hash
from bordergate.audit.checkpoints import (
    Checkpointer,
    checkpoint_from_file,
    make_checkpoint,
    write_checkpoint_file,
)
from bordergate.audit.event import AuditEvent, Finding
from bordergate.audit.store import EVENT_COLUMNS, AuditStore, PreparedEvent, columns_of
from bordergate.audit.verify import verify_log
from bordergate.store.db import Database

KEY = Ed25519PrivateKey.generate()


def make_event(i: int) -> AuditEvent:
    return AuditEvent(
        request_id=f"req-{i}",
        endpoint="/v1/chat/completions",
        decision="allow" if i % 3 else "deny",
        status=200 if i % 3 else 403,
        error_kind="served" if i % 3 else "policy_denied",
        principal_id=f"user-{i % 2}",
        team="red" if i % 2 else "blue",
        vendor="acme",
        vendor_country="US",
        findings=[Finding("secret", "aws_key", 1)] if i % 4 == 0 else [],
        prompt_tokens=i,
        completion_tokens=2 * i,
        cost_usd="0.001",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> AuditStore:
    return AuditStore(url)


def append(store: AuditStore, start: int, count: int) -> list[int]:
    return store.append_batch(
        [PreparedEvent.of(make_event(i)) for i in range(start, start + count)]
    )


def checkpoint(store: AuditStore) -> None:
    assert store.checkpoint(lambda s, h, prev: make_checkpoint(KEY, s, h, prev)) is not None


class Attacker:
    """Direct database access with the append-only triggers switched off."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        if self.db.kind == "sqlite":
            names = self.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            for (name,) in names:
                self.db.execute(f"DROP TRIGGER {name}")
        else:
            self.db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            self.db.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")

    def row(self, seq: int) -> tuple[str, str, str]:
        rows = self.db.execute(
            "SELECT event, leaf_hash, chain_hash FROM audit_events WHERE seq = ?", (seq,)
        )
        return rows[0][0], rows[0][1], rows[0][2]

    def set_event(
        self, seq: int, text: str, leaf: str | None = None, chain: str | None = None
    ) -> None:
        """Replace an event, keeping the row's indexed copies in step (a careful forger)."""
        _, old_leaf, old_chain = self.row(seq)
        data = json.loads(text)
        names = ", ".join(f"{name} = ?" for name in EVENT_COLUMNS)
        self.db.execute(
            f"UPDATE audit_events SET event = ?, leaf_hash = ?, chain_hash = ?, time = ?, {names} "
            "WHERE seq = ?",
            (text, leaf or old_leaf, chain or old_chain, data["time"], *columns_of(data), seq),
        )

    def insert(self, seq: int, text: str, leaf: str, chain: str) -> None:
        data = json.loads(text)
        names = ", ".join(EVENT_COLUMNS)
        marks = ", ".join("?" for _ in EVENT_COLUMNS)
        self.db.execute(
            f"INSERT INTO audit_events (seq, time, event, leaf_hash, chain_hash, {names}) "
            f"VALUES (?, ?, ?, ?, ?, {marks})",
            (seq, data["time"], text, leaf, chain, *columns_of(data)),
        )

    def move(self, old: int, new: int) -> None:
        self.db.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (new, old))

    def rehash_from(self, seq: int, last: int) -> None:
        """Recompute every hash from `seq` on, as a careful forger would."""
        previous = bytes.fromhex(self.row(seq - 1)[2]) if seq > 1 else bytes(32)
        for s in range(seq, last + 1):
            text = self.row(s)[0]
            leaf = leaf_hash(text.encode())
            previous = chain_hash(previous, leaf)
            self.set_event(s, text, leaf.hex(), previous.hex())
        self.db.execute("UPDATE audit_head SET chain_hash = ? WHERE id = 1", (previous.hex(),))


def edited(text: str, **changes: object) -> str:
    data = json.loads(text)
    data.update(changes)
    return AuditEvent.from_json(data).canonical().decode()


def test_append_assigns_dense_seqs_and_verifies(store: AuditStore) -> None:
    assert append(store, 1, 5) == [1, 2, 3, 4, 5]
    checkpoint(store)
    assert append(store, 6, 3) == [6, 7, 8]
    report = verify_log(store, KEY.public_key())
    assert report.ok, report.problems
    assert report.size == 8
    assert report.checkpoints_checked == 1
    assert store.head() == (8, bytes.fromhex(report.head))


def test_find_request_returns_exactly_that_requests_events(store: AuditStore) -> None:
    append(store, 1, 12)
    # "req-1" is a prefix of "req-10".."req-12" and "_"/"%" are LIKE wildcards: neither may
    # widen the match.
    assert [row.seq for row in store.find_request("req-1")] == [1]
    assert [row.seq for row in store.find_request("req-12")] == [12]
    assert store.find_request("req-%") == [] and store.find_request("req_1") == []
    assert json.loads(store.find_request("req-7")[0].event)["request_id"] == "req-7"


def test_empty_log_verifies(store: AuditStore) -> None:
    assert verify_log(store).ok


def test_triggers_block_update_and_delete(store: AuditStore) -> None:
    append(store, 1, 3)
    checkpoint(store)
    for statement in (
        "UPDATE audit_events SET team = 'x' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
        "UPDATE audit_checkpoints SET head = 'x'",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(Exception, match="append-only"):
            store.db.execute(statement)
    if store.kind == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            store.db.execute("TRUNCATE audit_events")
    assert verify_log(store, KEY.public_key()).ok


def test_changed_field_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    attacker.set_event(4, edited(attacker.row(4)[0], vendor="someone-else"))
    report = verify_log(store)
    assert not report.ok
    assert report.first_bad_seq == 4


def test_changed_field_with_leaf_rehashed_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    text = edited(attacker.row(6)[0], decision="allow", error_kind="served")
    attacker.set_event(6, text, leaf_hash(text.encode()).hex())
    report = verify_log(store)
    assert report.first_bad_seq == 6


def test_non_canonical_edit_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 5)
    attacker = Attacker(url)
    attacker.set_event(2, attacker.row(2)[0].replace(",", ", ", 1))
    assert verify_log(store).first_bad_seq == 2


def test_full_rewrite_is_caught_by_the_signed_checkpoint(store: AuditStore, url: str) -> None:
    append(store, 1, 5)
    checkpoint(store)  # size 5
    append(store, 6, 5)
    checkpoint(store)  # size 10
    append(store, 11, 2)
    attacker = Attacker(url)
    attacker.set_event(7, edited(attacker.row(7)[0], team="nobody"))
    attacker.rehash_from(7, 12)
    report = verify_log(store, KEY.public_key())
    assert not report.ok
    # Seqs 1..5 are proven by the first checkpoint; the rewrite lies in 6..10.
    assert report.first_bad_seq == 6
    assert "6..10" in report.problems[0]


@pytest.mark.parametrize(
    ("column", "value"),
    [("time", "2001-01-01T00:00:00.000000Z"), ("decision", "forged"), ("cost_nanousd", 7)],
)
def test_an_edited_indexed_copy_is_named(
    store: AuditStore, url: str, column: str, value: object
) -> None:
    """Reports and time windows read the row's indexed copies of event fields: an insider who
    changes only a copy (an event moved out of `--since 1h`) leaves the chain intact, so the
    copies are held against the hashed event."""
    append(store, 1, 6)
    attacker = Attacker(url)
    attacker.db.execute(f"UPDATE audit_events SET {column} = ? WHERE seq = 4", (value,))
    report = verify_log(store)
    assert report.first_bad_seq == 4
    assert report.problems == ["seq 4: indexed columns differ from the event (edited)"]


def test_the_column_check_reads_costs_as_the_writer_wrote_them() -> None:
    """A negative cost (a credit) is a genuine event, and a cost string the writer could not
    have produced is a mismatch, never a crash of verify."""
    position = EVENT_COLUMNS.index("cost_nanousd")
    credit = AuditEvent("r", "chat", "allow", 200, cost_usd=Decimal("-0.25"))
    assert columns_of(credit.to_json())[position] == credit.cost_nanousd == -250_000_000
    assert columns_of({"cost_usd": "1e5"})[position] is None
    assert columns_of({"cost_usd": "x.123456789"})[position] is None


def test_deleted_row_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    Attacker(url).db.execute("DELETE FROM audit_events WHERE seq = 7")
    report = verify_log(store)
    assert report.first_bad_seq == 7


def test_deleted_tail_is_caught_by_the_head(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    Attacker(url).db.execute("DELETE FROM audit_events WHERE seq > 8")
    report = verify_log(store)
    assert report.first_bad_seq == 9


def test_inserted_row_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    for seq in range(10, 4, -1):  # make room at seq 5, highest first (unique key)
        attacker.move(seq, seq + 1)
    forged = make_event(99).canonical().decode()
    attacker.insert(5, forged, leaf_hash(forged.encode()).hex(), "00" * 32)
    assert verify_log(store).first_bad_seq == 5


def test_carefully_hashed_insertion_breaks_the_next_link(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    for seq in range(10, 4, -1):
        attacker.move(seq, seq + 1)
    forged = make_event(99).canonical().decode()
    leaf = leaf_hash(forged.encode())
    chain = chain_hash(bytes.fromhex(attacker.row(4)[2]), leaf)
    attacker.insert(5, forged, leaf.hex(), chain.hex())
    # The forged row itself chains correctly; the genuine event after it no longer does.
    assert verify_log(store).first_bad_seq == 6


def test_swapped_rows_are_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    attacker.move(3, -1)
    attacker.move(4, 3)
    attacker.move(-1, 4)
    report = verify_log(store)
    assert report.first_bad_seq == 3


def test_swapped_event_texts_are_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    attacker = Attacker(url)
    three, four = attacker.row(3)[0], attacker.row(4)[0]
    attacker.set_event(3, four)
    attacker.set_event(4, three)
    assert verify_log(store).first_bad_seq == 3


def test_truncation_after_checkpoint_is_named(store: AuditStore, url: str) -> None:
    append(store, 1, 10)
    checkpoint(store)
    append(store, 11, 2)
    attacker = Attacker(url)
    attacker.db.execute("DELETE FROM audit_events WHERE seq >= 8")
    # A careful attacker also rolls the head back so the head check does not fire.
    attacker.db.execute(
        "UPDATE audit_head SET seq = 7, chain_hash = ? WHERE id = 1", (attacker.row(7)[2],)
    )
    report = verify_log(store, KEY.public_key())
    assert not report.ok
    assert report.first_bad_seq == 8


def test_truncation_with_checkpoint_deleted_is_caught_by_the_offbox_copy(
    store: AuditStore, url: str, tmp_path: Path
) -> None:
    append(store, 1, 10)
    checkpointer = Checkpointer(KEY, every_events=10, directory=tmp_path / "offbox")
    assert checkpointer.maybe_checkpoint(store, 10) is not None
    files = sorted((tmp_path / "offbox").glob("checkpoint-*.json"))
    assert [f.name for f in files] == ["checkpoint-000000000010.json"]
    attacker = Attacker(url)
    attacker.db.execute("DELETE FROM audit_events WHERE seq >= 6")
    attacker.db.execute("DELETE FROM audit_checkpoints")
    attacker.db.execute(
        "UPDATE audit_head SET seq = 5, chain_hash = ? WHERE id = 1", (attacker.row(5)[2],)
    )
    assert verify_log(store, KEY.public_key()).ok  # the database alone looks consistent
    external = [(str(f), checkpoint_from_file(f)) for f in files]
    report = verify_log(store, KEY.public_key(), external)
    assert not report.ok
    assert report.first_bad_seq == 6


def test_a_rollback_past_a_written_checkpoint_never_overwrites_its_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restored backup reuses sizes already signed: the new checkpoint for such a size goes
    beside the old file, so an off-box sync keeps the evidence and verify sees both."""
    offbox = tmp_path / "offbox"
    first = make_checkpoint(KEY, 10, bytes(32), None)
    again = write_checkpoint_file(offbox, first)
    assert write_checkpoint_file(offbox, first) == again  # the same one twice: no copy
    original = again.read_text()
    other = make_checkpoint(KEY, 10, b"\x01" * 32, None)  # size 10 signed over other events
    beside = write_checkpoint_file(offbox, other)
    assert beside.name == "checkpoint-000000000010-2.json"
    assert again.read_text() == original
    assert "rolled back or rewritten past a signed checkpoint" in caplog.text
    assert checkpoint_from_file(beside).head == other.head


def test_forged_checkpoint_is_rejected(store: AuditStore, url: str, tmp_path: Path) -> None:
    append(store, 1, 4)
    checkpoint(store)
    # A checkpoint signed with some other key, claiming a different head.
    other = Ed25519PrivateKey.generate()
    fake = make_checkpoint(other, 4, bytes(32), None)
    path = write_checkpoint_file(tmp_path, fake)
    report = verify_log(store, KEY.public_key(), [(str(path), checkpoint_from_file(path))])
    assert not report.ok
    assert any("bad signature" in p for p in report.problems)
    # Altering the stored checkpoint's head in place also breaks its signature.
    attacker = Attacker(url)
    attacker.db.execute("UPDATE audit_checkpoints SET head = ?", ("11" * 32,))
    report = verify_log(store, KEY.public_key())
    assert any("size 4" in p and "bad signature" in p for p in report.problems)


def test_deleted_middle_checkpoint_breaks_the_checkpoint_chain(store: AuditStore, url: str) -> None:
    for start in (1, 4, 7):
        append(store, start, 3)
        checkpoint(store)
    Attacker(url).db.execute("DELETE FROM audit_checkpoints WHERE size = 6")
    report = verify_log(store, KEY.public_key())
    assert any("size 9" in p and "previous checkpoint" in p for p in report.problems)


def test_checkpoints_without_public_key_do_not_pass(store: AuditStore) -> None:
    append(store, 1, 2)
    checkpoint(store)
    assert not verify_log(store, None).ok


def test_two_sqlite_writers_interleave_into_one_dense_chain(tmp_path: Path) -> None:
    """Each store caches the head it last wrote; the other's appends make it stale, the
    database refuses the stale batch as a whole, and the batch is re-chained."""
    url = f"sqlite:///{tmp_path}/audit.db"
    first, second = AuditStore(url), AuditStore(url)
    seqs: list[int] = []
    for round_ in range(6):
        writer = first if round_ % 2 == 0 else second
        seqs += append(writer, 10 * round_, 3)
    assert seqs == list(range(1, 19))
    report = verify_log(first)
    assert report.ok and report.size == 18
    assert first.head()[0] == 18


def test_out_of_sequence_rows_are_refused_by_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    store = AuditStore(url)
    append(store, 1, 2)
    db = Database(url)
    with pytest.raises(sqlite3.IntegrityError, match="out of sequence"):
        db.execute(
            "INSERT INTO audit_events (seq, time, event, leaf_hash, chain_hash) VALUES (?,?,?,?,?)",
            (7, "2026-01-01T00:00:00.000000Z", "{}", "00" * 32, "00" * 32),
        )
    assert store.head()[0] == 2 and verify_log(store).ok
