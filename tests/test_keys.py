"""Key store lifecycle on real SQLite and PostgreSQL, and the `bordergate keys` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bordergate.cli import main
from bordergate.identity.keys import (
    KEY_PREFIX,
    KeyNotFound,
    KeyStore,
    hash_key,
    parse_duration,
)
from bordergate.store.db import Database

SECRET = "test-server-secret-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/keys.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[KeyStore]:
    s = KeyStore(Database(db_url), SECRET)
    s.upgrade()
    yield s
    s.db.close()


def test_create_lookup_and_attributes(store: KeyStore) -> None:
    plaintext, rec = store.create(
        "alice",
        team="ml",
        groups=["eng", "oncall"],
        country="de",
        org="Acme GmbH",
        org_country="us",
        expires_in_s=3600,
        rpm=10,
        tpm=1000,
        budget_usd=5.0,
        budget_period="day",
    )
    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) == len(KEY_PREFIX) + 32
    found = store.lookup(plaintext)
    assert found == rec
    assert found is not None
    p = found.principal()
    assert (p.id, p.team, p.groups, p.country, p.org, p.org_country, p.key_id) == (
        "alice",
        "ml",
        ("eng", "oncall"),
        "DE",
        "Acme GmbH",
        "US",
        rec.id,
    )
    assert found.limits().rpm == 10 and found.limits().budget_period == "day"
    assert rec.expires is not None and rec.expires - rec.created == pytest.approx(3600)
    assert store.lookup(plaintext + "x") is None


def test_no_plaintext_in_database(store: KeyStore) -> None:
    plaintext, rec = store.create("bob")
    rows = store.db.execute("SELECT * FROM bg_keys")
    flat = " ".join(str(v) for row in rows for v in row)
    assert plaintext not in flat
    assert plaintext[len(KEY_PREFIX) :] not in flat
    assert rec.key_hash == hash_key(SECRET, plaintext)
    # The hash depends on the server secret: another secret cannot find the key.
    other = KeyStore(store.db, "another-secret-0123456789")
    assert other.lookup(plaintext) is None


def test_revoke_and_rotate(store: KeyStore) -> None:
    p1, r1 = store.create("carol", team="t", rpm=7)
    start = store.last_event_seq()
    revoked = store.revoke(r1.id)
    assert revoked.revoked is not None
    assert store.lookup(p1) is not None and store.lookup(p1).revoked is not None  # type: ignore[union-attr]
    with pytest.raises(KeyNotFound):
        store.revoke(r1.id)
    with pytest.raises(KeyNotFound):
        store.rotate(r1.id)
    with pytest.raises(KeyNotFound):
        store.revoke("key_missing")

    p2, r2 = store.create("dave", team="t2", tpm=99, expires_in_s=100)
    p3, r3 = store.rotate(r2.id)
    assert p3 != p2 and r3.id != r2.id
    assert (r3.user, r3.team, r3.tpm, r3.rotated_from) == ("dave", "t2", 99, r2.id)
    assert r3.expires == r2.expires  # rotation does not extend the lifetime
    assert store.lookup(p2).revoked is not None  # type: ignore[union-attr]
    assert store.lookup(p3).revoked is None  # type: ignore[union-attr]

    kinds = [(h, k) for _, h, k in store.events_since(start)]
    assert kinds == [
        (r1.key_hash, "revoke"),
        (r2.key_hash, "create"),
        (r2.key_hash, "revoke"),
        (r3.key_hash, "create"),
    ]
    ids = [r.id for r in store.list()]
    assert set(ids) == {r1.id, r2.id, r3.id}
    assert {r.id for r in store.list(include_revoked=False)} == {r3.id}


def test_upgrade_is_idempotent(store: KeyStore) -> None:
    assert store.upgrade() == 1
    assert store.upgrade() == 1


def test_validation() -> None:
    assert parse_duration("90d") == 90 * 86400
    assert parse_duration("12h") == 12 * 3600
    with pytest.raises(ValueError):
        parse_duration("soon")
    with pytest.raises(ValueError):
        KeyStore(Database("sqlite:///:memory:"), "")


def _write_config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(
        "server: {port: 8080}\n"  # other sections are tolerated
        "identity:\n"
        "  server_secret: ${BG_TEST_SECRET}\n"
        f"  database_url: '{db_url}'\n"
        "limits:\n"
        "  backend: memory\n"
    )
    return cfg


def test_cli_lifecycle(
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BG_TEST_SECRET", SECRET)
    cfg = str(_write_config(tmp_path, db_url))
    assert main(["db", "upgrade", "--config", cfg]) == 0
    assert "keys: schema version 1" in capsys.readouterr().out

    args = ["keys", "create", "--config", cfg, "--user", "erin", "--team", "sec"]
    args += ["--groups", "a,b", "--country", "fr", "--expires", "90d", "--rpm", "5"]
    args += ["--budget", "12.5", "--budget-period", "day", "--json"]
    assert main(args) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith(KEY_PREFIX)
    rec = created["record"]
    assert (rec["user"], rec["groups"], rec["country"], rec["rpm"]) == ("erin", ["a", "b"], "FR", 5)
    assert (rec["budget_usd"], rec["budget_period"]) == (12.5, "day")

    assert main(["keys", "list", "--config", cfg]) == 0
    listing = capsys.readouterr().out
    assert created["id"] in listing and created["key"] not in listing

    assert main(["keys", "rotate", created["id"], "--config", cfg, "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["id"] != created["id"] and rotated["key"] != created["key"]

    assert main(["keys", "revoke", rotated["id"], "--config", cfg]) == 0
    assert main(["keys", "revoke", rotated["id"], "--config", cfg]) == 1
    assert "already revoked" in capsys.readouterr().err

    assert main(["keys", "list", "--config", cfg, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(r["revoked"] is not None for r in rows) and len(rows) == 2
    assert main(["keys", "list", "--config", cfg]) == 0
    assert capsys.readouterr().out.count(" revoked") == 2


def test_cli_refuses_missing_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BG_TEST_SECRET", raising=False)
    cfg = str(_write_config(tmp_path, f"sqlite:///{tmp_path}/k.db"))
    assert main(["keys", "list", "--config", cfg]) == 2
    assert "BG_TEST_SECRET is not set" in capsys.readouterr().err
