"""The key-management admin API as server-agnostic handlers (`/admin/keys`).

The server passes method, path, headers and body and sends back the (status, JSON) it gets.
The admin credential is separate from user keys: it comes from config (`admin_key` or
`admin_key_sha256`) and is compared in constant time over SHA-256 digests, so its length does
not leak either. Without an admin credential configured the API is disabled (404).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from bordergate.identity.auth import AuthError, extract_credential
from bordergate.identity.config import IdentityConfig
from bordergate.identity.keys import KeyNotFound, KeyStore, parse_duration

_KEY_PATH = re.compile(r"^/admin/keys/([A-Za-z0-9_\-]+)$")
_ROTATE_PATH = re.compile(r"^/admin/keys/([A-Za-z0-9_\-]+)/rotate$")

_CREATE_FIELDS = {
    "user",
    "team",
    "groups",
    "country",
    "org",
    "org_country",
    "expires",
    "rpm",
    "tpm",
    "budget_usd",
    "budget_period",
}


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"status": status, "message": message}}


#: A read-only admin view: called per GET, returns the JSON-able body.
View = Callable[[], dict[str, Any]]


class AdminApi:
    """Handles `/admin/keys` requests against a KeyStore, and read-only `views` (e.g.
    `/admin/deployments`) that the server supplies, behind the same credential."""

    def __init__(
        self, config: IdentityConfig, store: KeyStore, views: Mapping[str, View] | None = None
    ) -> None:
        self.store = store
        self.views = dict(views or {})
        digest = config.admin_key_sha256
        if digest is None and config.admin_key:
            digest = hashlib.sha256(config.admin_key.encode()).hexdigest()
        self._admin_digest = bytes.fromhex(digest) if digest else None

    def _authorised(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        try:
            token = extract_credential(headers)
        except AuthError as exc:
            return _error(401, exc.reason)
        presented = hashlib.sha256(token.encode()).digest()
        assert self._admin_digest is not None
        if not hmac.compare_digest(presented, self._admin_digest):
            # A valid user key is still not an admin credential: same answer as a wrong one.
            return _error(403, "not an admin credential")
        return None

    async def handle_admin(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Route one admin request; returns (HTTP status, JSON-able body)."""
        if self._admin_digest is None:
            return _error(404, "admin API disabled (no identity.admin_key configured)")
        path = path.split("?", 1)[0].rstrip("/") or "/"
        denied = self._authorised(headers)
        if denied is not None:
            return denied
        method = method.upper()
        view = self.views.get(path)
        if view is not None:
            return (200, view()) if method == "GET" else _error(405, "method not allowed")
        try:
            if path == "/admin/keys":
                if method == "GET":
                    return await self._list()
                if method == "POST":
                    return await self._create(body)
                return _error(405, "method not allowed")
            m = _ROTATE_PATH.match(path)
            if m:
                if method != "POST":
                    return _error(405, "method not allowed")
                plaintext, record = await asyncio.to_thread(self.store.rotate, m.group(1))
                return 200, {"key": plaintext, "id": record.id, "record": record.public_dict()}
            m = _KEY_PATH.match(path)
            if m:
                if method == "DELETE":
                    record = await asyncio.to_thread(self.store.revoke, m.group(1))
                    return 200, {"id": record.id, "revoked": record.revoked}
                if method == "GET":
                    found = await asyncio.to_thread(self.store.get, m.group(1))
                    if found is None:
                        return _error(404, f"no key with id {m.group(1)}")
                    return 200, found.public_dict()
                return _error(405, "method not allowed")
        except KeyNotFound as exc:
            return _error(404, str(exc))
        return _error(404, "not found")

    async def _list(self) -> tuple[int, dict[str, Any]]:
        records = await asyncio.to_thread(self.store.list)
        return 200, {"keys": [r.public_dict() for r in records]}

    async def _create(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return _error(400, "body is not valid JSON")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object")
        unknown = set(data) - _CREATE_FIELDS
        if unknown:
            return _error(400, f"unknown fields: {', '.join(sorted(unknown))}")
        try:
            kwargs = _create_kwargs(data)
            plaintext, record = await asyncio.to_thread(self.store.create, **kwargs)
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        return 201, {"key": plaintext, "id": record.id, "record": record.public_dict()}


def _opt_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


def _create_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a create request body into KeyStore.create keyword arguments."""
    user = data.get("user")
    if not isinstance(user, str) or not user:
        raise ValueError("user is required")
    groups = data.get("groups") or []
    if isinstance(groups, str):
        groups = [g for g in groups.split(",") if g]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError("groups must be a list of strings")
    strings = {}
    for name in ("team", "country", "org", "org_country"):
        value = data.get(name, "") or ""
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        strings[name] = value
    expires = data.get("expires")
    expires_in_s: float | None = None
    if isinstance(expires, str):
        expires_in_s = parse_duration(expires)
    elif isinstance(expires, int | float) and not isinstance(expires, bool):
        expires_in_s = float(expires)
    elif expires is not None:
        raise ValueError("expires must be a duration like 90d or seconds")
    budget = data.get("budget_usd")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0
    ):
        raise ValueError("budget_usd must be a non-negative number")
    return {
        "user": user,
        "groups": groups,
        "expires_in_s": expires_in_s,
        "rpm": _opt_int(data, "rpm"),
        "tpm": _opt_int(data, "tpm"),
        "budget_usd": None if budget is None else float(budget),
        "budget_period": data.get("budget_period") or "month",
        **strings,
    }
