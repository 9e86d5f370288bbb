"""Admin API handlers for /admin/keys: auth, create, list, revoke, rotate."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bordergate.identity.admin import AdminApi
from bordergate.identity.auth import Authenticator, AuthError
from bordergate.identity.config import IdentityConfig
from bordergate.identity.keys import KeyStore
from bordergate.store.db import Database

SECRET = "test-server-secret-0123456789"
ADMIN = "admin-credential-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[AdminApi, Authenticator]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/keys.db"
    else:
        url = request.getfixturevalue("pg_url")
    config = IdentityConfig(server_secret=SECRET, database_url=url, admin_key=ADMIN)
    store = KeyStore(Database(url), SECRET)
    store.upgrade()
    yield AdminApi(config, store), Authenticator(config, KeyStore(Database(url), SECRET))
    store.db.close()


def call(
    api: AdminApi, method: str, path: str, body: Any = None, token: str | None = ADMIN
) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    raw = b"" if body is None else orjson.dumps(body)
    return asyncio.run(api.handle_admin(method, path, headers, raw))


def test_admin_key_lifecycle(env: tuple[AdminApi, Authenticator]) -> None:
    api, auth = env
    status, created = call(
        api,
        "POST",
        "/admin/keys",
        {"user": "alice", "team": "ml", "groups": ["eng"], "expires": "30d", "rpm": 5},
    )
    assert status == 201 and created["key"].startswith("bg-")
    assert created["record"]["rpm"] == 5 and created["record"]["expires"] is not None
    ident = asyncio.run(auth.authenticate({"x-api-key": created["key"]}))
    assert ident.principal.key_id == created["id"]

    status, listing = call(api, "GET", "/admin/keys")
    assert status == 200 and [k["id"] for k in listing["keys"]] == [created["id"]]
    assert created["key"] not in orjson.dumps(listing).decode()

    status, one = call(api, "GET", f"/admin/keys/{created['id']}")
    assert status == 200 and one["user"] == "alice"

    status, rotated = call(api, "POST", f"/admin/keys/{created['id']}/rotate")
    assert status == 200 and rotated["id"] != created["id"]
    assert rotated["record"]["rotated_from"] == created["id"]

    status, revoked = call(api, "DELETE", f"/admin/keys/{rotated['id']}")
    assert status == 200 and revoked["revoked"] is not None
    assert call(api, "DELETE", f"/admin/keys/{rotated['id']}")[0] == 404
    assert call(api, "DELETE", "/admin/keys/key_nope")[0] == 404
    assert call(api, "POST", "/admin/keys/key_nope/rotate")[0] == 404

    fresh = Authenticator(auth.config, auth.store)
    with pytest.raises(AuthError, match="revoked"):
        asyncio.run(fresh.authenticate({"x-api-key": rotated["key"]}))


def test_admin_requires_admin_credential(env: tuple[AdminApi, Authenticator]) -> None:
    api, _ = env
    status, created = call(api, "POST", "/admin/keys", {"user": "mallory"})
    assert status == 201
    assert call(api, "GET", "/admin/keys", token=None)[0] == 401
    # A valid user key is not an admin credential.
    assert call(api, "GET", "/admin/keys", token=created["key"])[0] == 403
    assert call(api, "POST", "/admin/keys", {"user": "x"}, token=created["key"])[0] == 403
    assert call(api, "GET", "/admin/keys", token=ADMIN + "x")[0] == 403


def test_admin_validation(env: tuple[AdminApi, Authenticator]) -> None:
    api, _ = env
    assert call(api, "POST", "/admin/keys", {})[0] == 400
    assert call(api, "POST", "/admin/keys", {"user": "u", "rpm": -1})[0] == 400
    assert call(api, "POST", "/admin/keys", {"user": "u", "budget_period": "year"})[0] == 400
    assert call(api, "POST", "/admin/keys", {"user": "u", "colour": "red"})[0] == 400
    assert call(api, "POST", "/admin/keys", [1, 2])[0] == 400
    status, body = asyncio.run(
        api.handle_admin("POST", "/admin/keys", {"x-api-key": ADMIN}, b"{not json")
    )
    assert status == 400 and "JSON" in body["error"]["message"]
    assert call(api, "PUT", "/admin/keys")[0] == 405
    assert call(api, "GET", "/admin/other")[0] == 404


def test_admin_disabled_without_credential_and_sha256_form(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    store = KeyStore(Database(url), SECRET)
    store.upgrade()
    disabled = AdminApi(IdentityConfig(server_secret=SECRET, database_url=url), store)
    assert call(disabled, "GET", "/admin/keys")[0] == 404
    digest = hashlib.sha256(ADMIN.encode()).hexdigest().upper()
    api = AdminApi(IdentityConfig(server_secret=SECRET, admin_key_sha256=digest), store)
    assert call(api, "GET", "/admin/keys")[0] == 200
    store.db.close()
