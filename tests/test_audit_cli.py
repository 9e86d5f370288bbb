"""`bordergate audit keygen|verify|export` end to end, and the audit config loader."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from bordergate.audit.bodies import BodyCipher
from bordergate.audit.chain import chain_hash, leaf_hash
from bordergate.audit.config import AuditConfig, interpolate_env, load_audit_config
from bordergate.audit.event import AuditEvent, canonical_json
from bordergate.audit.service import AuditLog
from bordergate.audit.store import AuditStore, PreparedEvent
from bordergate.cli import main
from bordergate.store.db import Database

BODY_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def write_config(tmp_path: Path, url: str, keys: Path, **extra: object) -> Path:
    audit = {
        "database": url,
        "signing_key": str(keys / "audit-signing.key"),
        "public_key": str(keys / "audit-signing.pub"),
        "checkpoint_dir": str(tmp_path / "offbox"),
        "checkpoint_every_events": 4,
        **extra,
    }
    config = tmp_path / "gateway.yaml"
    # Other top-level keys belong to the rest of the gateway and must be tolerated.
    config.write_text(json.dumps({"server": {"port": 8080}, "audit": audit}))
    return config


def fill(config_path: Path, count: int, **event_fields: Any) -> None:
    async def run() -> None:
        log = AuditLog.open(load_audit_config(config_path))
        for i in range(count):
            await log.append(AuditEvent(f"r{i}", "/v1/chat", "allow", 200, **event_fields))
        await log.close()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "keys"
    assert main(["audit", "keygen", "--out-dir", str(out)]) == 0
    capsys.readouterr()
    return out


def test_keygen_makes_a_private_key_only_the_owner_can_read(
    keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mode = stat.S_IMODE((keys / "audit-signing.key").stat().st_mode)
    assert mode == 0o600
    assert (keys / "audit-signing.pub").read_text().startswith("-----BEGIN PUBLIC KEY")
    assert main(["audit", "keygen", "--out-dir", str(keys)]) == 2  # never overwrites
    assert "refusing" in capsys.readouterr().err


def test_verify_exit_status_follows_integrity(
    tmp_path: Path, url: str, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, url, keys)
    fill(config, 10)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 10 events")
    db = Database(url)
    if db.kind == "sqlite":
        db.execute("DROP TRIGGER audit_events_no_update")
    else:
        db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
    db.execute("UPDATE audit_events SET event = replace(event, 'r3', 'zz') WHERE seq = 4")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert "first bad seq 4" in capsys.readouterr().out


def test_verify_against_an_explicit_checkpoint_file(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    config = write_config(tmp_path, url, keys, checkpoint_dir=None)
    fill(config, 6)
    # Keep the final checkpoint "off-box", then wipe the log and start over.
    first = Database(url).execute("SELECT body, signature FROM audit_checkpoints ORDER BY size")
    body, signature = first[-1]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"body": json.loads(body), "signature": signature}))
    (tmp_path / "audit.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"audit.db{suffix}").unlink(missing_ok=True)
    fill(config, 6)  # a different log of the same length (different times)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--config", str(config), "--checkpoint", str(saved)]) == 1
    assert "TAMPERED" in capsys.readouterr().out


def test_a_planted_file_in_the_checkpoint_directory_is_reported_not_a_crash(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/audit.db", keys)
    fill(config, 6)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    capsys.readouterr()
    for planted in (
        '{"body": [1], "signature": "x"}',
        "not json",
        '{"body": {"size": "x"}}',
        "[" * 100_000,  # nested past the parser's recursion limit
    ):
        (tmp_path / "offbox" / "checkpoint-000000000099.json").write_text(planted)
        assert main(["audit", "verify", "--config", str(config)]) == 1
        out = capsys.readouterr().out
        assert out.startswith("TAMPERED: the checkpoints") and "not a valid checkpoint" in out
    (tmp_path / "offbox" / "checkpoint-000000000099.json").unlink()
    (tmp_path / "offbox" / "checkpoint-000000000098.json").mkdir()  # a directory so named
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert "(a directory)" in capsys.readouterr().out


def test_verify_reports_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("audit:\n  durability: sometimes\n")
    assert main(["audit", "verify", "--config", str(config)]) == 2
    assert "durability" in capsys.readouterr().err


def test_export_jsonl_reproduces_the_chain(
    tmp_path: Path, url: str, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, url, keys)
    fill(config, 5, vendor="acme")
    assert main(["audit", "export", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    previous = bytes(32)
    for expected_seq, line in enumerate(lines, start=1):
        record = json.loads(line)
        assert record.pop("seq") == expected_seq
        stored_chain = record.pop("chain_hash")
        previous = chain_hash(previous, leaf_hash(canonical_json(record)))
        assert previous.hex() == stored_chain
    assert main(["audit", "export", "--config", str(config), "--after-seq", "3"]) == 0
    assert [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()] == [4, 5]
    assert main(["audit", "export", "--config", str(config), "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""


def test_audit_config_interpolates_and_ignores_other_sections_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BG_BODY_KEY", BODY_KEY)
    path = tmp_path / "g.yaml"
    path.write_text(
        "providers:\n  p: {base_url: 'http://x', api_key: '${BG_UNSET_PROVIDER_KEY}'}\n"
        "audit:\n"
        "  database: ${BG_DB:-sqlite:///x.db}\n"
        "  store_bodies: true\n"
        "  body_encryption_key: ${BG_BODY_KEY}\n"
    )
    config = load_audit_config(path)
    assert config.database == "sqlite:///x.db"
    assert config.encryption_key() == bytes.fromhex(BODY_KEY)
    assert "aabb" not in repr(config)  # the secret is not printed
    with pytest.raises(ValueError, match="NOPE"):
        interpolate_env("${NOPE}", {})
    with pytest.raises(ValueError, match="body_encryption_key"):
        AuditConfig(store_bodies=True)
    assert AuditConfig().durability == "strict"


def test_bodies_are_stored_encrypted_and_bound_to_their_request(tmp_path: Path) -> None:
    config = AuditConfig(
        database=f"sqlite:///{tmp_path}/a.db", store_bodies=True, body_encryption_key=BODY_KEY
    )

    async def run() -> None:
        log = AuditLog.open(config)
        sealed = log.seal_body("r1", "prompt", b"the secret prompt")
        assert sealed is not None
        await log.append(AuditEvent("r1", "/v1/chat", "allow", 200, prompt_enc=sealed))
        await log.close()

    asyncio.run(run())
    raw = Database(config.database).execute("SELECT event FROM audit_events")[0][0]
    assert "secret prompt" not in raw
    token = json.loads(raw)["prompt_enc"]
    cipher = BodyCipher(bytes.fromhex(BODY_KEY))
    assert cipher.open("r1", "prompt", token) == b"the secret prompt"
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag: moved to another request
        cipher.open("r2", "prompt", token)


def test_bodies_are_not_stored_unless_configured(tmp_path: Path) -> None:
    log = AuditLog.open(AuditConfig(database=f"sqlite:///{tmp_path}/a.db"))
    assert log.seal_body("r1", "prompt", b"x") is None
    asyncio.run(log.close())


def test_checkpoint_command_signs_the_current_head(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    config = write_config(tmp_path, url, keys, checkpoint_every_events=1000)
    fill(config, 3)  # close() already signs size 3
    assert main(["audit", "checkpoint", "--config", str(config)]) == 0
    assert "no new events" in capsys.readouterr().out
    AuditStore(url).append_batch([PreparedEvent.of(AuditEvent("r4", "/v1/chat", "allow", 200))])
    assert main(["audit", "checkpoint", "--config", str(config)]) == 0
    assert "size 4" in capsys.readouterr().out
    assert (tmp_path / "offbox" / "checkpoint-000000000004.json").exists()
    assert main(["audit", "verify", "--config", str(config)]) == 0


def test_commands_refuse_a_log_that_does_not_exist(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (f"sqlite:///{tmp_path}/nowhere.db", pg_url):
        config = tmp_path / "g.yaml"
        config.write_text(json.dumps({"audit": {"database": url}}))
        assert main(["audit", "verify", "--config", str(config)]) == 2
        assert main(["audit", "export", "--config", str(config)]) == 2
        assert main(["report", "--config", str(config)]) == 2
        assert "no audit log" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.db").exists()
