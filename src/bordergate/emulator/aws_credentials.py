"""AWS's credential services, for the Bedrock surface: where SDKs get temporary credentials.

Off a developer's machine an AWS SDK's default credential chain finds no static keys; it asks
the platform for temporary ones (an access key id starting ``ASIA``, a secret and a session
token, with an expiry), and the emulator plays the three services it asks:

* **EC2 instance metadata, IMDSv2** (``AWS_EC2_METADATA_SERVICE_ENDPOINT``): ``PUT
  /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` opens a session; with its
  token in ``X-aws-ec2-metadata-token``, ``GET /latest/meta-data/iam/security-credentials/``
  names the instance's role and ``GET .../security-credentials/<role>`` gives its credentials.
  Only IMDSv2 is served (``HttpTokens: required``): no or a stale token is a 401.
* **ECS / EKS Pod Identity container credentials** (``AWS_CONTAINER_CREDENTIALS_FULL_URI``,
  optionally ``AWS_CONTAINER_AUTHORIZATION_TOKEN``): ``GET /v2/credentials/<id>``.
* **STS AssumeRoleWithWebIdentity** (EKS IRSA: ``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE``,
  ``AWS_ENDPOINT_URL_STS``): the query protocol's ``POST /`` (or ``GET /?Action=...``), answered
  in STS's XML. The web identity token is not verified; ``invalid`` is refused.

Issued credentials are remembered until they expire, so the Bedrock routes can refuse an
``ASIAEMU`` access key id this emulator never issued, one presented with another session token,
or one that expired (``refusal``): a served Bedrock request proves the caller signed with
credentials it obtained here. Other access key ids stay accepted there, as before.

Lifetimes (default 3600 s) can be shortened to test refreshing: ``?expires_in=N`` on the IMDS
role URL or the container URL, STS's own ``DurationSeconds``, or, for clients that only take an
endpoint (an SDK cannot add a query string to IMDS calls), a path prefix
``/_emulator/aws/expires_in=N`` before any of the three services' paths.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import orjson

from bordergate.emulator.expiring import MEMORY, forget_expired

ACCESS_KEY_PREFIX = "ASIAEMU"
ACCOUNT_ID = "123456789012"
ROLE_NAME = "bordergate-emulated-role"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 43200  # STS's longest DurationSeconds
MAX_IMDS_TTL = 21600

KNOB_PREFIX = "/_emulator/aws/"
IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
IMDS_TTL_HEADER = b"x-aws-ec2-metadata-token-ttl-seconds"
IMDS_TOKEN_HEADER = b"x-aws-ec2-metadata-token"
CONTAINER_PATH = "/v2/credentials/"
FORBIDDEN_CONTAINER_ID = "forbidden"

STS_ACTION = "AssumeRoleWithWebIdentity"
STS_VERSION = "2011-06-15"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
INVALID_WEB_IDENTITY_TOKEN = "invalid"
FORM_TYPE = "application/x-www-form-urlencoded"

#: What AWS's front door says about a temporary credential it does not accept.
INVALID_TOKEN = (
    "UnrecognizedClientException",
    "The security token included in the request is invalid.",
)
EXPIRED_TOKEN = ("ExpiredTokenException", "The security token included in the request is expired")


Service = Literal["imds-token", "imds-roles", "imds-role", "container", "sts"]

_ISO = "%Y-%m-%dT%H:%M:%SZ"
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: what real key ids look like
_ROLE_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})", re.ASCII
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,9}")


class CredentialError(Exception):
    """A request a credential service refuses; each service words it in its own shape."""

    def __init__(self, message: str, status: int = 400, code: str = "ValidationError") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class AwsRoute:
    """A credential service endpoint; ``rest`` is the IMDS role name or the container id, and
    ``knobs`` the ``/_emulator/aws/<knobs>/`` path segment ("" without the prefix)."""

    service: Service
    rest: str = ""
    knobs: str = ""


def match(path: str) -> AwsRoute | None:
    """The credential service a path addresses, or None.

    ``/`` is only a candidate for STS: whether it is one depends on its ``Action`` parameter.
    """
    knobs = ""
    if path.startswith(KNOB_PREFIX):
        knobs, slash, rest = path[len(KNOB_PREFIX) :].partition("/")
        if not slash:
            return None
        path = "/" + rest
    if path == "/":
        return AwsRoute("sts", knobs=knobs)
    if path == IMDS_TOKEN_PATH:
        return AwsRoute("imds-token", knobs=knobs)
    if path in (IMDS_ROLES_PATH, IMDS_ROLES_PATH[:-1]):
        return AwsRoute("imds-roles", knobs=knobs)
    if path.startswith(IMDS_ROLES_PATH):
        return AwsRoute("imds-role", path[len(IMDS_ROLES_PATH) :], knobs)
    if path.startswith(CONTAINER_PATH) and len(path) > len(CONTAINER_PATH):
        return AwsRoute("container", path[len(CONTAINER_PATH) :], knobs)
    return None


def _seconds(key: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise CredentialError(f"emulator: {key!r} needs an integer, got {value!r}") from None
    if not 1 <= number <= MAX_EXPIRES_IN:
        raise CredentialError(f"emulator: {key!r} must be between 1 and {MAX_EXPIRES_IN}")
    return number


def _expires_in(pairs: str) -> int | None:
    """``expires_in`` from ``key=value&...`` text; other keys are errors, so typos show."""
    found: int | None = None
    for key, value in parse_qsl(pairs, keep_blank_values=True):
        if key != "expires_in":
            raise CredentialError(f"emulator: unknown credential knob {key!r}")
        found = _seconds(key, value)
    return found


def lifetime(route: AwsRoute, query: bytes) -> int:
    """How long credentials issued for this request live: the query's ``expires_in``, else the
    path prefix's, else ``DEFAULT_EXPIRES_IN``."""
    asked = _expires_in(query.decode("latin-1"))
    if asked is None:
        asked = _expires_in(route.knobs)
    return DEFAULT_EXPIRES_IN if asked is None else asked


def imds_ttl(value: bytes | None) -> int:
    """The IMDS session lifetime a token PUT asks for (1..21600 s)."""
    if value is None:
        raise CredentialError("X-aws-ec2-metadata-token-ttl-seconds header is required")
    text = value.decode("latin-1").strip()
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_IMDS_TTL:
        raise CredentialError(
            f"X-aws-ec2-metadata-token-ttl-seconds must be between 1 and {MAX_IMDS_TTL}"
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class Issued:
    """One set of temporary credentials; ``expiration`` is as reported (ISO 8601, UTC)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: str


def iso8601(unix: float) -> str:
    """A Unix time as AWS writes it, whole seconds rounded down: ``2026-11-24T13:00:00Z``."""
    return time.strftime(_ISO, time.gmtime(unix))


def _access_key_id() -> str:
    tail = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20 - len(ACCESS_KEY_PREFIX)))
    return ACCESS_KEY_PREFIX + tail


class CredentialIssuer:
    """Issues ``ASIAEMU`` credentials and IMDS session tokens; remembers both until expiry."""

    def __init__(self) -> None:
        # access key id -> (secret, session token, time.monotonic() it expires at)
        self._issued: dict[str, tuple[str, str, float]] = {}
        self._sessions: dict[str, float] = {}  # IMDS session token -> monotonic expiry

    def revoke(self) -> int:
        """Forget every issued credential (as if revoked upstream); returns how many."""
        count = len(self._issued)
        self._issued.clear()
        return count

    def issue(self, lifetime: int, now: float | None = None) -> Issued:
        """New credentials valid for ``lifetime`` seconds.

        The reported expiry is rounded down to the second, so it never lies past the real one.
        """
        now = time.monotonic() if now is None else now
        key = _access_key_id()
        secret = secrets.token_urlsafe(30)
        token = secrets.token_urlsafe(96)
        if len(self._issued) >= MEMORY:
            self._issued = forget_expired(self._issued, now, lambda item: item[2])
        self._issued[key] = (secret, token, now + lifetime)
        return Issued(key, secret, token, iso8601(time.time() + lifetime))

    def open_session(self, ttl: int, now: float | None = None) -> str:
        """A new IMDSv2 session token valid for ``ttl`` seconds."""
        now = time.monotonic() if now is None else now
        token = "AQAEAEmu" + secrets.token_urlsafe(36)
        if len(self._sessions) >= MEMORY:
            self._sessions = forget_expired(self._sessions, now, lambda at: at)
        self._sessions[token] = now + ttl
        return token

    def session_open(self, token: bytes | None, now: float | None = None) -> bool:
        """Whether an ``X-aws-ec2-metadata-token`` names a session that has not ended."""
        if not token:
            return False
        expires = self._sessions.get(token.decode("latin-1").strip())
        return expires is not None and (time.monotonic() if now is None else now) < expires

    def refusal(
        self, access_key_id: str, session_token: bytes | None, now: float | None = None
    ) -> tuple[str, str] | None:
        """Why AWS would refuse a SigV4 request by this key, as (exception, message).

        None for keys that do not start with ``ASIAEMU`` (the emulator checks only its own),
        and for an issued key presented with its session token before it expires.
        """
        if not access_key_id.startswith(ACCESS_KEY_PREFIX):
            return None
        issued = self._issued.get(access_key_id)
        presented = session_token.decode("latin-1").strip() if session_token else ""
        if issued is None or not hmac.compare_digest(presented, issued[1]):
            return INVALID_TOKEN
        if (time.monotonic() if now is None else now) >= issued[2]:
            return EXPIRED_TOKEN
        return None


# --- IMDS and container answers -----------------------------------------------------------------


def imds_body(issued: Issued, now: float | None = None) -> bytes:
    """The IMDS role document."""
    return orjson.dumps(
        {
            "Code": "Success",
            "LastUpdated": iso8601(time.time() if now is None else now),
            "Type": "AWS-HMAC",
            "AccessKeyId": issued.access_key_id,
            "SecretAccessKey": issued.secret_access_key,
            "Token": issued.session_token,
            "Expiration": issued.expiration,
        }
    )


def container_body(issued: Issued) -> bytes:
    """The container credentials endpoint's answer (ECS's fields, plus Pod Identity's
    ``AccountId``)."""
    return orjson.dumps(
        {
            "AccessKeyId": issued.access_key_id,
            "SecretAccessKey": issued.secret_access_key,
            "Token": issued.session_token,
            "Expiration": issued.expiration,
            "RoleArn": ROLE_ARN,
            "AccountId": ACCOUNT_ID,
        }
    )


def container_error(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


# --- STS ----------------------------------------------------------------------------------------


def sts_params(query: bytes, form: bytes | None) -> dict[str, str]:
    """The query protocol's parameters: the query string's, then a form body's on top (the
    first value of a repeated parameter wins within each)."""
    params: dict[str, str] = {}
    for raw in (query, form):
        if not raw:
            continue
        found: dict[str, str] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            found.setdefault(key, value)
        params.update(found)
    return params


def is_sts_call(params: dict[str, str]) -> bool:
    return params.get("Action") == STS_ACTION


def redacted(params: dict[str, str], fingerprint: Callable[[str], str]) -> dict[str, str]:
    """The parameters as recorded: the web identity token only as ``sha256:<fingerprint>``."""
    token = params.get("WebIdentityToken")
    if token is None:
        return dict(params)
    return {**params, "WebIdentityToken": f"sha256:{fingerprint(token)}"}


@dataclass(frozen=True, slots=True)
class Assumption:
    """A valid AssumeRoleWithWebIdentity request."""

    account: str
    role_name: str
    session_name: str
    duration: int | None
    claims: dict[str, Any]


def _jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified; {} when the token is no JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def check_assumption(params: dict[str, str]) -> Assumption:
    """The request, or the CredentialError STS would answer (with STS's messages)."""
    missing = [
        f"Value null at '{field}' failed to satisfy constraint: Member must not be null"
        for name, field in (
            ("RoleArn", "roleArn"),
            ("RoleSessionName", "roleSessionName"),
            ("WebIdentityToken", "webIdentityToken"),
        )
        if not params.get(name)
    ]
    if missing:
        count = len(missing)
        plural = "s" if count > 1 else ""
        raise CredentialError(f"{count} validation error{plural} detected: " + "; ".join(missing))
    if params.get("Version") != STS_VERSION:
        raise CredentialError(f"Version must be {STS_VERSION}")
    arn = _ROLE_ARN.fullmatch(params["RoleArn"])
    if arn is None:
        raise CredentialError("Request ARN is invalid")
    session = params["RoleSessionName"]
    if not _SESSION_NAME.fullmatch(session):
        raise CredentialError(
            f"1 validation error detected: Value '{session}' at 'roleSessionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* "
            "and have length between 2 and 64"
        )
    duration = None
    if "DurationSeconds" in params:
        value = params["DurationSeconds"]
        if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_EXPIRES_IN:
            raise CredentialError(
                f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to "
                f"satisfy constraint: Member must be between 1 and {MAX_EXPIRES_IN}"
            )
        duration = int(value)
    token = params["WebIdentityToken"]
    if token == INVALID_WEB_IDENTITY_TOKEN:
        raise CredentialError(
            "The web identity token that was passed could not be validated by AWS. Get a new "
            "identity token from the identity provider and then retry the request.",
            code="InvalidIdentityToken",
        )
    return Assumption(arn.group(1), arn.group(2), session, duration, _jwt_claims(token))


def request_id() -> str:
    return str(uuid.uuid4())


def sts_error_body(error: CredentialError, rid: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}">\n'
        f"  <Error>\n    <Type>Sender</Type>\n    <Code>{error.code}</Code>\n"
        f"    <Message>{escape(error.message)}</Message>\n  </Error>\n"
        f"  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n"
    ).encode()


def sts_body(assumption: Assumption, issued: Issued, rid: str) -> bytes:
    """STS's success answer, with the JWT's ``sub``, ``aud`` and ``iss`` when it has them."""
    claims = assumption.claims
    sub = claims.get("sub")
    subject = sub if isinstance(sub, str) and sub else "emulated-subject"
    role_id = (
        "AROAEMU"
        + "".join(
            _KEY_ALPHABET[b % 32]
            for b in uuid.uuid5(uuid.NAMESPACE_URL, assumption.role_name).bytes
        )[:14]
    )
    session = assumption.session_name
    extra = "".join(
        f"    <{tag}>{escape(claims[claim])}</{tag}>\n"
        for tag, claim in (("Audience", "aud"), ("Provider", "iss"))
        if isinstance(claims.get(claim), str)
    )
    return (
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}">\n'
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <Credentials>\n"
        f"      <AccessKeyId>{issued.access_key_id}</AccessKeyId>\n"
        f"      <SecretAccessKey>{issued.secret_access_key}</SecretAccessKey>\n"
        f"      <SessionToken>{issued.session_token}</SessionToken>\n"
        f"      <Expiration>{issued.expiration}</Expiration>\n"
        "    </Credentials>\n"
        f"    <SubjectFromWebIdentityToken>{escape(subject)}</SubjectFromWebIdentityToken>\n"
        f"{extra}"
        "    <AssumedRoleUser>\n"
        f"      <Arn>arn:aws:sts::{assumption.account}:assumed-role/"
        f"{assumption.role_name}/{session}</Arn>\n"
        f"      <AssumedRoleId>{role_id}:{session}</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        f"  <ResponseMetadata>\n    <RequestId>{rid}</RequestId>\n  </ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n"
    ).encode()
