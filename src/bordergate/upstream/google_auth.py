"""Google access tokens for Vertex AI: a service-account key, user credentials, or metadata.

Vertex AI takes `Authorization: Bearer <access token>`; tokens live an hour. A service-account
key file holds a private key: the gateway signs a short JWT with it (RS256, claims `iss`,
`scope`, `aud`, `iat`, `exp`) and posts it to the key's `token_uri` (the OAuth 2.0 JWT bearer
grant). On Google's own platforms (GCE, GKE with workload identity, Cloud Run) the metadata
server hands out tokens of the attached service account instead, with no key at all. On a
developer's machine, `gcloud auth application-default login` leaves user credentials (an OAuth
client and a refresh token) that are exchanged at Google's token endpoint the same way. Each
way the token is cached until five minutes before it expires (half its lifetime, for a
short-lived one). Requests only read the cache; one refresh at a time runs when it is due, so
a burst of requests at expiry makes one token call, not many.

The private key and the refresh token stay in this process: they are never logged, never in
a `repr`, and a failed token call reports the endpoint's error text, not what was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from bordergate.upstream.expiry import refresh_time

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ASSERTION_LIFETIME_S = 3600
#: Where GCE, GKE and Cloud Run serve the attached service account's tokens (`GCE_METADATA_HOST`
#: overrides the host, as in Google's client libraries).
METADATA_HOST = "metadata.google.internal"
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Where `gcloud auth application-default login` writes (under `CLOUDSDK_CONFIG`, else this).
ADC_FILE_NAME = "application_default_credentials.json"


class TokenError(RuntimeError):
    """No access token could be obtained; the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The fields of a service-account key file that signing a token request needs."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str
    token_uri: str
    project_id: str = ""

    @classmethod
    def from_info(cls, data: Any, source: str = "service account") -> ServiceAccount:
        """The same from parsed JSON (`source` names it in errors)."""
        if not isinstance(data, dict) or data.get("type") != "service_account":
            raise ValueError(f"{source} is not a service-account key (type service_account)")
        missing = [
            name
            for name in ("client_email", "private_key", "private_key_id", "token_uri")
            if not isinstance(data.get(name), str) or not data[name]
        ]
        if missing:
            raise ValueError(f"{source} lacks {', '.join(missing)}")
        if not data["token_uri"].startswith(("https://", "http://")):
            raise ValueError(f"{source}: token_uri must be an http(s) URL")
        account = cls(
            data["client_email"],
            data["private_key"],
            data["private_key_id"],
            data["token_uri"],
            str(data.get("project_id") or ""),
        )
        try:
            account.assertion(CLOUD_PLATFORM_SCOPE, 0)  # a bad key fails at start-up, not later
        except (ValueError, TypeError, jwt.PyJWTError):
            raise ValueError(f"{source}: private_key is not a usable RSA key") from None
        return account

    def assertion(self, scope: str, now: float) -> str:
        """The signed JWT that asks `token_uri` for an access token with `scope`."""
        issued = int(now)
        claims = {
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + _ASSERTION_LIFETIME_S,
        }
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.private_key_id}
        )


@dataclass(frozen=True, slots=True)
class AuthorizedUser:
    """User credentials (`gcloud auth application-default login`): an OAuth client and a
    refresh token, and the project that Google bills API use to (`quota_project_id`)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_uri: str = GOOGLE_TOKEN_URI
    quota_project_id: str = ""

    @classmethod
    def from_info(cls, data: Any, source: str = "user credentials") -> AuthorizedUser:
        """From the parsed file; ValueError naming `source` if a field is missing."""
        missing = [
            name
            for name in ("client_id", "client_secret", "refresh_token")
            if not isinstance(data.get(name), str) or not data[name]
        ]
        if missing:
            raise ValueError(f"{source} lacks {', '.join(missing)}")
        token_uri = data.get("token_uri") or GOOGLE_TOKEN_URI
        if not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://")):
            raise ValueError(f"{source}: token_uri must be an http(s) URL")
        quota = data.get("quota_project_id")
        return cls(
            data["client_id"],
            data["client_secret"],
            data["refresh_token"],
            token_uri,
            quota if isinstance(quota, str) else "",
        )


def adc_file(env: Mapping[str, str]) -> Path:
    """Where gcloud keeps Application Default Credentials for this user."""
    config_dir = env.get("CLOUDSDK_CONFIG")
    if config_dir:
        return Path(config_dir) / ADC_FILE_NAME
    home = Path(env.get("HOME") or Path.home())
    return home / ".config" / "gcloud" / ADC_FILE_NAME


def token_source_from_file(path: str | Path) -> GoogleTokenSource:
    """The token source for a credentials file, by its `type`; ValueError if unusable.

    `service_account` (a key) and `authorized_user` (gcloud's user login) are read. Workload
    identity federation (`external_account`) and impersonation are refused by name rather than
    misread.
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError(f"{path} is not JSON") from None
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "service_account":
        return ServiceAccountTokenSource(ServiceAccount.from_info(data, str(path)))
    if kind == "authorized_user":
        return UserTokenSource(AuthorizedUser.from_info(data, str(path)))
    if isinstance(kind, str) and kind:
        raise ValueError(
            f"{path}: credentials of type {kind} are not supported (use a service-account key, "
            "gcloud user credentials, or the metadata server)"
        )
    raise ValueError(f"{path} is not a Google credentials file (no type)")


def parse_token_response(
    status: int, body: bytes, now: float, where: str = "the token endpoint"
) -> tuple[str, float]:
    """(access token, when to replace it, as a `time.monotonic()`-style instant) or TokenError.

    That is `expiry.refresh_time`: five minutes before it expires, or half-way for a shorter life.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status != 200:
        detail = ""
        if isinstance(data, dict):
            detail = str(data.get("error_description") or data.get("error") or "")
        suffix = f": {detail}" if detail else ""
        raise TokenError(f"{where} answered HTTP {status}{suffix}")
    token = data.get("access_token") if isinstance(data, dict) else None
    lifetime = data.get("expires_in", 3600) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenError(f"{where} answered without an access_token")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        raise TokenError(f"{where} answered without a usable expires_in")
    return token, refresh_time(now + float(lifetime), now)


class GoogleTokenSource:
    """Access tokens, cached and refreshed ahead of expiry; subclasses say how to get one."""

    def __init__(self) -> None:
        self._token = ""
        self._refresh_at = 0.0  # time.monotonic() instant
        self._lock: asyncio.Lock | None = None
        self._retiring = ""  # the token before the current one: requests may still hold it
        #: Told (retired, new) on each new token, so the server can keep its secrets list
        #: (what is scrubbed from errors and logs) to the tokens alive now.
        self.on_rotate: Callable[[str | None, str | None], None] | None = None

    async def token(self, session: aiohttp.ClientSession, timeout_s: float = 10.0) -> str:
        """A valid access token: the cached one, or a fresh one (TokenError if none)."""
        if self._token and time.monotonic() < self._refresh_at:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._token or time.monotonic() >= self._refresh_at:
                try:
                    status, body = await self._request(
                        session, aiohttp.ClientTimeout(total=timeout_s)
                    )
                except TimeoutError:
                    raise TokenError(
                        f"{self.where} did not answer within {timeout_s:g} s"
                    ) from None
                except (aiohttp.ClientError, OSError) as exc:
                    raise TokenError(f"cannot reach {self.where}: {type(exc).__name__}") from None
                previous = self._token
                self._token, self._refresh_at = parse_token_response(
                    status, body, time.monotonic(), self.where
                )
                if self.on_rotate is not None:
                    self.on_rotate(self._retiring or None, self._token)
                self._retiring = previous
        return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the provider refused it): the next call fetches a new one."""
        self._refresh_at = 0.0

    @property
    def headers(self) -> dict[str, str]:
        """Headers that go with the token on every call (none, unless a subclass says so)."""
        return {}

    def secrets(self) -> tuple[str, ...]:
        """Long-lived secrets this source holds, for the server's scrub list."""
        return ()

    @property
    def where(self) -> str:
        """Who hands out the tokens, for error messages."""
        raise NotImplementedError

    async def _request(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        raise NotImplementedError


class ServiceAccountTokenSource(GoogleTokenSource):
    """Tokens for a service-account key: a signed JWT exchanged at the key's `token_uri`."""

    def __init__(self, account: ServiceAccount, scope: str = CLOUD_PLATFORM_SCOPE) -> None:
        super().__init__()
        self.account = account
        self.scope = scope

    def __repr__(self) -> str:
        return f"ServiceAccountTokenSource(client_email={self.account.client_email!r})"

    def secrets(self) -> tuple[str, ...]:
        return (self.account.private_key,)

    @property
    def where(self) -> str:
        return "the token endpoint"

    async def _request(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        form = {
            "grant_type": JWT_BEARER_GRANT,
            "assertion": self.account.assertion(self.scope, time.time()),
        }
        async with session.post(self.account.token_uri, data=form, timeout=timeout) as resp:
            return resp.status, await resp.read()


class MetadataTokenSource(GoogleTokenSource):
    """Tokens of the service account attached to the machine, from the metadata server."""

    def __init__(self, host: str = METADATA_HOST, fell_through: bool = False) -> None:
        """`fell_through`: chosen because no credentials file was found (Application Default
        Credentials' last resort), which error messages then say."""
        super().__init__()
        base = host if host.startswith(("http://", "https://")) else f"http://{host}"
        self.url = f"{base.rstrip('/')}{METADATA_TOKEN_PATH}"
        self.fell_through = fell_through

    def __repr__(self) -> str:
        return f"MetadataTokenSource(url={self.url!r})"

    @property
    def where(self) -> str:
        if self.fell_through:
            return (
                "the metadata server (no GOOGLE_APPLICATION_CREDENTIALS and no gcloud "
                "application-default login were found)"
            )
        return "the metadata server"

    async def _request(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        headers = {"metadata-flavor": "Google"}
        async with session.get(self.url, headers=headers, timeout=timeout) as resp:
            return resp.status, await resp.read()


class UserTokenSource(GoogleTokenSource):
    """Tokens for user credentials: the refresh token exchanged at the token endpoint."""

    def __init__(self, user: AuthorizedUser) -> None:
        super().__init__()
        self.user = user

    def __repr__(self) -> str:
        return f"UserTokenSource(client_id={self.user.client_id!r})"

    def secrets(self) -> tuple[str, ...]:
        return (self.user.client_secret, self.user.refresh_token)

    @property
    def where(self) -> str:
        return "the token endpoint (user credentials)"

    @property
    def headers(self) -> dict[str, str]:
        """User credentials bill a project of the user's choice, named in this header."""
        quota = self.user.quota_project_id
        return {"x-goog-user-project": quota} if quota else {}

    async def _request(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.user.client_id,
            "client_secret": self.user.client_secret,
            "refresh_token": self.user.refresh_token,
        }
        async with session.post(self.user.token_uri, data=form, timeout=timeout) as resp:
            return resp.status, await resp.read()
