"""Google's OAuth 2.0 token endpoint, for the Vertex AI surface (JWT bearer and refresh grants).

A Vertex AI client holding a service-account key signs a short JWT (RS256; claims ``iss``,
``scope``, ``aud``, ``iat``, ``exp``) and posts it, form-encoded, to the key's ``token_uri``
(``https://oauth2.googleapis.com/token``) with ``grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer`` (RFC 7523). ``POST /token`` answers as Google does. The emulator knows no keys, so
the signature is not verified, but everything else Google checks is: the grant type, the JWT's
three base64url parts, ``alg: RS256``, a non-empty ``iss`` and ``scope``, ``aud`` naming this
endpoint, and a lifetime of at most an hour that has not ended and did not start far in the
future. User credentials (``gcloud auth application-default login``) use the refresh-token
grant instead: ``client_id``, ``client_secret`` and ``refresh_token`` are required, and the
refresh token ``revoked`` is refused as Google refuses a revoked one. Refusals are Google's
``{"error", "error_description"}`` bodies with status 400.

Issued tokens are ``ya29.emu-<24 hex>`` and remembered until they expire, so the Vertex routes
can refuse a ``ya29.emu-`` token this emulator never issued, or one that expired; other Bearer
tokens stay accepted there, as before. The token URL's query string holds knobs
(``expires_in``, ``status``, ``latency_ms``): a test puts them in the service account's
``token_uri``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

import orjson

from bordergate.emulator.content import auth_fingerprint
from bordergate.emulator.expiring import MEMORY, forget_expired

TOKEN_PATH = "/token"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN_GRANT = "refresh_token"
FORM_TYPE = "application/x-www-form-urlencoded"
TOKEN_PREFIX = "ya29.emu-"
DEFAULT_EXPIRES_IN = 3599
MAX_LIFETIME_S = 3600  # exp - iat
MAX_FUTURE_IAT_S = 300  # clock skew Google tolerates for iat

#: The 401 Google's front end gives Vertex AI requests with an invalid access token.
UNAUTHENTICATED_BODY = orjson.dumps(
    {
        "error": {
            "code": 401,
            "message": (
                "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                " login cookie or other valid authentication credential."
            ),
            "status": "UNAUTHENTICATED",
        }
    }
)

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_MAX_INT = 10_000_000


class GrantError(Exception):
    """A token request Google would refuse: its OAuth ``error`` code and description."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> bytes:
        return orjson.dumps({"error": self.error, "error_description": self.description})


@dataclass(frozen=True, slots=True)
class TokenKnobs:
    """What the token URL's query string asks for; ``status`` 0 means "no injected error"."""

    expires_in: int = DEFAULT_EXPIRES_IN
    status: int = 0
    latency_ms: int = 0


_KNOB_MINIMUM = {"expires_in": 1, "status": 400, "latency_ms": 0}
DEFAULT_TOKEN_KNOBS = TokenKnobs()


def parse_knobs(query: bytes) -> TokenKnobs:
    """The knobs in the token URL's query string; unknown keys and bad values are errors."""
    if not query:
        return DEFAULT_TOKEN_KNOBS
    values: dict[str, int] = {}
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        minimum = _KNOB_MINIMUM.get(key)
        if minimum is None:
            raise GrantError("invalid_request", f"emulator: unknown token knob {key!r}")
        try:
            number = int(value)
        except ValueError:
            raise GrantError(
                "invalid_request", f"emulator: knob {key!r} needs an integer, got {value!r}"
            ) from None
        top = 599 if key == "status" else _MAX_INT
        if not minimum <= number <= top:
            raise GrantError(
                "invalid_request", f"emulator: knob {key!r} must be between {minimum} and {top}"
            )
        values[key] = number
    return TokenKnobs(**values)


def parse_form(raw: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (the first value of a repeated field wins)."""
    form: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    return form


#: Long-lived secrets a token request carries: recorded only as a fingerprint.
_SECRET_FIELDS = ("client_secret", "refresh_token")


def recorded_form(form: dict[str, str]) -> dict[str, str]:
    """The form as `/_emulator/requests` shows it: secrets reduced to a SHA-256 fingerprint."""
    return {
        key: f"sha256:{auth_fingerprint(value)}" if key in _SECRET_FIELDS else value
        for key, value in form.items()
    }


def _segment(part: str) -> Any:
    """One JWT part: base64url (unpadded) JSON, or GrantError."""
    if not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise GrantError("invalid_grant", "Invalid JWT: not base64url-encoded.")
    try:
        return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, orjson.JSONDecodeError):
        raise GrantError("invalid_grant", "Invalid JWT: not valid JSON.") from None


def _check_signature(part: str) -> None:
    """The signature part: non-empty base64url (its bytes cannot be checked without the key)."""
    if not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise GrantError("invalid_grant", "Invalid JWT Signature.")


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_grant(form: dict[str, str], audiences: tuple[str, ...], now: float) -> str:
    """Who asks, for a well-formed grant, or GrantError saying what Google would.

    The JWT bearer grant (a service-account key) gives its ``iss``; the refresh-token grant
    (user credentials from ``gcloud auth application-default login``) its ``client_id``.
    ``audiences`` are the ``aud`` values naming this endpoint; ``now`` is Unix time.
    """
    grant_type = form.get("grant_type", "")
    if grant_type == REFRESH_TOKEN_GRANT:
        return check_refresh_grant(form)
    if grant_type != JWT_BEARER_GRANT:
        raise GrantError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    assertion = form.get("assertion", "")
    if not assertion:
        raise GrantError("invalid_request", "Missing required parameter: assertion")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise GrantError("invalid_grant", "Invalid JWT: expected three base64url parts.")
    header, claims = _segment(parts[0]), _segment(parts[1])
    _check_signature(parts[2])
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise GrantError("invalid_grant", "Invalid JWT: the header's alg must be RS256.")
    if not isinstance(claims, dict):
        raise GrantError("invalid_grant", "Invalid JWT: the claim set is not a JSON object.")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise GrantError("invalid_grant", "Invalid JWT: No valid issuer (iss) claim.")
    scope = claims.get("scope")
    if not isinstance(scope, str) or not scope.split():
        raise GrantError("invalid_grant", "Invalid JWT: No valid scope claim.")
    if claims.get("aud") not in audiences:
        raise GrantError(
            "invalid_grant",
            f"Invalid JWT: Failed audience check. The right audience is {audiences[0]}",
        )
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _number(iat) or not _number(exp):
        raise GrantError("invalid_grant", _BAD_TIMES)
    if not (iat < exp and exp > now and exp - iat <= MAX_LIFETIME_S):
        raise GrantError("invalid_grant", _BAD_TIMES)
    if iat > now + MAX_FUTURE_IAT_S:
        raise GrantError("invalid_grant", _BAD_TIMES)
    return iss


def check_refresh_grant(form: dict[str, str]) -> str:
    """The ``client_id`` of a well-formed refresh-token grant (RFC 6749 section 6).

    Google needs the OAuth client's id and secret with the refresh token. The emulator knows no
    users, so any non-empty refresh token is accepted, except ``revoked``, which is answered as
    Google answers a revoked or expired one.
    """
    for name in ("client_id", "client_secret", "refresh_token"):
        if not form.get(name):
            raise GrantError("invalid_request", f"Missing required parameter: {name}")
    if form["refresh_token"] == "revoked":
        raise GrantError("invalid_grant", "Token has been expired or revoked.")
    return form["client_id"]


class TokenIssuer:
    """Issues ``ya29.emu-`` access tokens and remembers them until they expire."""

    def __init__(self) -> None:
        self._issued: dict[str, float] = {}  # token -> time.monotonic() it expires at
        self._count = 0

    def issue(self, iss: str, lifetime: int, now: float | None = None) -> str:
        """A new token for ``iss`` valid for ``lifetime`` seconds (each call gives another)."""
        now = time.monotonic() if now is None else now
        self._count += 1
        digest = hashlib.sha256(f"{iss}\n{self._count}".encode()).hexdigest()[:24]
        token = TOKEN_PREFIX + digest
        if len(self._issued) >= MEMORY:
            self._issued = forget_expired(self._issued, now, lambda at: at)
        self._issued[token] = now + lifetime
        return token

    def revoke(self) -> int:
        """Forget every issued token (as if revoked); returns how many."""
        count = len(self._issued)
        self._issued.clear()
        return count

    def accepts(self, token: str, now: float | None = None) -> bool:
        """False only for a ``ya29.emu-`` token not issued here or past its expiry."""
        if not token.startswith(TOKEN_PREFIX):
            return True
        expires = self._issued.get(token)
        if expires is None:
            return False
        return (time.monotonic() if now is None else now) < expires


def token_body(token: str, expires_in: int) -> bytes:
    """Google's success answer."""
    return orjson.dumps({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def error_status_body(status: int) -> bytes:
    """The answer of the ``status`` knob."""
    return orjson.dumps(
        {"error": "internal_failure", "error_description": f"emulated error status {status}"}
    )


def token_audiences(scheme: str, host: str, path: str, query: bytes) -> tuple[str, ...]:
    """The ``aud`` values that name this endpoint: its URL without the query string, the URL
    as posted (a client that uses its ``token_uri`` verbatim as ``aud`` keeps the knobs in it),
    and Google's own token URI (what google-auth always sends)."""
    url = f"{scheme}://{host}{path}"
    if query:
        return (url, f"{url}?{query.decode('latin-1')}", GOOGLE_TOKEN_URI)
    return (url, GOOGLE_TOKEN_URI)


#: The GCE / GKE / Cloud Run metadata server's token path for the attached service account.
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
#: The identity the emulated machine runs as.
METADATA_ACCOUNT = "emulated-vm@emulated-project.iam.gserviceaccount.com"
METADATA_FLAVOR_ERROR = b"Missing required header: Metadata-Flavor: Google"
