from __future__ import annotations

from pathlib import Path

import pytest

from bordergate.store.db import Database, migrate

MIGRATIONS = [
    {
        "sqlite": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        "postgresql": "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL);",
    },
    {
        "sqlite": "ALTER TABLE t ADD COLUMN w TEXT;",
        "postgresql": "ALTER TABLE t ADD COLUMN w TEXT;",
    },
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path}/x.db")
    return Database(request.getfixturevalue("pg_url"))


def test_migrations_apply_once_and_in_order(db: Database) -> None:
    assert migrate(db, "demo", MIGRATIONS[:1]) == 1
    assert migrate(db, "demo", MIGRATIONS) == 2
    assert migrate(db, "demo", MIGRATIONS) == 2
    db.execute("INSERT INTO t (id, v, w) VALUES (?, ?, ?)", (1, "a", "b"))
    assert db.execute("SELECT v, w FROM t WHERE id = ?", (1,)) == [("a", "b")]


def test_transaction_rolls_back_on_error(db: Database) -> None:
    migrate(db, "demo", MIGRATIONS)
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO t (id, v) VALUES (?, ?)", (2, "x"))
        raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM t") == [(0,)]
