"""End to end: the embedded set-up, two replicas sharing one SQLite key store and no Redis.

Revocation then reaches each replica only through the database change log it polls; the admin
API is off because no admin credential is configured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.support import derive_config, emulator, gateway
from tests.test_e2e_identity_support import (
    ADMIN_KEY,
    chat,
    cli_json,
    create_key,
    first_rejection,
    report,
)

REVOKE_DEADLINE_S = 3.0  # generous: the requirement is 1 s; the measured value is reported


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    tmp = tmp_path_factory.mktemp("sqlite-pair")
    with emulator() as emu:
        # The shipped example's identity section as is: SQLite store, generated secret file.
        config = derive_config(tmp, emu, drop=["policy"], dlp={"enabled": False})
        with gateway(config) as a, gateway(config) as b:
            yield config, [a, b]


def test_cli_key_revoked_on_both_replicas_by_database_poll(
    replicas: tuple[Path, list[str]],
) -> None:
    config, urls = replicas
    key = create_key(config, "sqlite-user@e2e", "--team", "apps", "--expires", "1d")
    for url in urls:
        assert chat(url, key["key"]).status_code == 200
    revoked = cli_json("keys", "revoke", key["id"], "--config", config)
    seen = first_rejection(urls, key["key"], REVOKE_DEADLINE_S, started=revoked["revoked"])
    delays = [seen[u] - revoked["revoked"] for u in urls]
    report("revocation propagation, SQLite store without Redis (s, per replica)", delays=delays)
    for url in urls:
        with pytest.raises(openai.AuthenticationError, match="key revoked"):
            openai.OpenAI(base_url=f"{url}/v1", api_key=key["key"], max_retries=0).models.list()
        claude = anthropic.Anthropic(base_url=url, api_key=key["key"], max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as exc:
            claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert "key revoked" in exc.value.message
        assert key["key"] not in json.dumps(exc.value.body)


def test_rotated_key_replaces_the_old_one(replicas: tuple[Path, list[str]]) -> None:
    config, urls = replicas
    old = create_key(config, "sqlite-rotor@e2e", "--rpm", "100")
    assert chat(urls[0], old["key"]).status_code == 200
    new = cli_json("keys", "rotate", old["id"], "--config", config)
    assert new["record"]["rpm"] == 100
    first_rejection(urls, old["key"], REVOKE_DEADLINE_S, started=time.time())
    for url in urls:
        assert chat(url, new["key"]).status_code == 200


def test_admin_api_is_off_without_an_admin_key(replicas: tuple[Path, list[str]]) -> None:
    _, urls = replicas
    for url in urls:
        for headers in ({"Authorization": f"Bearer {ADMIN_KEY}"}, {}):
            r = httpx.get(f"{url}/admin/keys", headers=headers, timeout=10)
            assert r.status_code == 404
            assert "admin_key" in r.json()["error"]["message"]
