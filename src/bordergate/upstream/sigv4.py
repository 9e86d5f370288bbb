"""AWS Signature Version 4 request signing, for the Amazon Bedrock adapter.

Bedrock with IAM credentials authenticates every request with SigV4: an HMAC-SHA256 over a
canonical form of the request, keyed by a key derived from the secret and the date, region and
service. The gateway sends the bytes itself (aiohttp, yarl `encoded=True`), so this module only
computes the headers to add; it does no I/O and never imports botocore (that is a test oracle).

Written from the published algorithm (canonical request, string to sign, derived signing key,
signature). Choices that matter for getting the *same* signature AWS computes:

* The URL given to `SigV4Signer.sign` is the wire URL, already percent-encoded. For every
  service except S3 the canonical URI encodes each path segment a second time, so a model id's
  `%3A` is `%253A` in the canonical request. Dot segments and empty segments are removed first
  (the "normalize the path" step); `/` separators are kept as they are.
* The query string is decoded and re-encoded the way SigV4 wants it (RFC 3986 unreserved
  characters bare, everything else `%XX` upper case, space `%20`), then sorted by name and value.
  `+` is taken literally (`%2B`), never as a space. Bedrock sends no query; this is for
  correctness, not speed.
* The host header value is what the HTTP client sends: the host lower-cased, IPv6 in brackets,
  the port only when it is not the scheme's default (`127.0.0.1:9000` for the emulator).
* Signed headers: `content-type` (the gateway always sends one; signing it is what the AWS SDKs
  do, and `sign` returns it so the sent value cannot drift from the signed one), `host`,
  `x-amz-date`, and `x-amz-security-token` with temporary credentials. `x-amz-content-sha256`
  is not sent: only S3 requires it, and the payload hash is signed either way.

Per-request work is one SHA-256 of the payload, one of the canonical request and one HMAC. The
derived signing key depends only on the UTC date (region and service are fixed per signer), so
it is derived once a day; the URL-dependent part of the canonical request is cached per URL.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

__all__ = ["AwsCredentials", "SigV4Signer"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_TERMINATOR = "aws4_request"
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Bound on cached URL targets per signer: a deployment has two URLs per model, so this is only
#: reached if URLs are built per request (then the cache just restarts, it never grows).
_MAX_TARGETS = 512


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An IAM access key (and, for temporary credentials, the STS session token).

    The secret and the token are left out of `repr` (and so of `str`, logs and tracebacks that
    print the object); only the access key id, which AWS itself echoes in errors, is shown.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Fail at configuration time rather than with a SignatureDoesNotMatch per request.
        # The messages name the field, never its value.
        if not self.access_key_id:
            raise ValueError("AWS credentials need an access key id")
        if not self.secret_access_key:
            raise ValueError("AWS credentials need a secret access key")
        if self.session_token is not None and not self.session_token:
            raise ValueError("AWS session token is empty (use None for long-term keys)")


def _derive_signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").

    The chain scopes the key: a leaked signing key is only good for one day, region and service.
    """
    key = hmac.digest(("AWS4" + secret_access_key).encode(), date.encode(), "sha256")
    for part in (region, service, _TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _normalize_path(path: str) -> str:
    """Remove `.`, `..` and empty segments, as AWS does before encoding (S3 excepted).

    A trailing slash is kept when something is left of the path; an empty path is `/`.
    """
    if not path:
        return "/"
    if "/." not in path and "//" not in path:
        return path  # the usual case: nothing to remove
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    trailing = "/" if path.endswith("/") and kept else ""
    return "/" + "/".join(kept) + trailing


def _canonical_uri(path: str) -> str:
    """The path as it went on the wire, encoded once more (so `%3A` becomes `%253A`).

    `quote` leaves RFC 3986 unreserved characters and the `/` separators alone and encodes the
    rest, `%` included; that is exactly "URI-encode each segment" applied to the wire segments.
    """
    return quote(_normalize_path(path), safe="/")


def _canonical_query(query: str) -> str:
    """Parameters decoded, re-encoded per SigV4 (unreserved bare, `%XX` upper case), sorted.

    Decoding first makes the result independent of how the URL builder encoded the query
    (`%7e` vs `~`, lower-case hex); a parameter without `=` has an empty value.
    """
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe=""), quote(unquote(value), safe="")))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _host_header(scheme: str, host: str, port: int | None) -> str:
    """The Host header value the HTTP client sends for this URL (and AWS checks)."""
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return host


def _trim(value: str) -> str:
    """SigV4's Trimall: strip, and collapse runs of whitespace to one space."""
    return " ".join(value.split())


class SigV4Signer:
    """Signs requests for one set of credentials, region and service.

    Build one per provider and reuse it: everything that does not depend on the request is
    computed here, and the signing key is derived once per UTC day, not per request.
    """

    __slots__ = (
        "_auth_prefix",
        "_auth_suffix",
        "_clock",
        "_content_type",
        "_credentials",
        "_day_key",
        "_headers_tail",
        "_region",
        "_scope_suffix",
        "_service",
        "_signed_headers",
        "_targets",
    )

    def __init__(
        self,
        credentials: AwsCredentials,
        region: str,
        service: str = "bedrock",
        *,
        content_type: str | None = "application/json",
    ) -> None:
        """`content_type`: the Content-Type sent with every request, signed and returned by
        `sign`; None signs no content type (the request may then carry any, or none)."""
        for name, value in (("region", region), ("service", service)):
            # They go into the credential scope `date/region/service/aws4_request`.
            if (
                not value
                or value != value.strip()
                or "/" in value
                or any(c.isspace() for c in value)
            ):
                raise ValueError(f"SigV4 {name} must be a non-empty name without '/' or spaces")
        self._credentials = credentials
        self._region = region
        self._service = service
        self._content_type = _trim(content_type) if content_type is not None else None

        names = ["host", "x-amz-date"]
        if self._content_type is not None:
            names.insert(0, "content-type")
        token = credentials.session_token
        if token is not None:
            names.append("x-amz-security-token")
        self._signed_headers = ";".join(names)  # already in sorted order
        # The canonical headers after `x-amz-date:<date>`: the token line (if any), the blank
        # line that ends the block, and the signed-headers line.
        token_line = f"\nx-amz-security-token:{_trim(token)}" if token is not None else ""
        self._headers_tail = f"{token_line}\n\n{self._signed_headers}\n"
        self._scope_suffix = f"/{region}/{service}/{_TERMINATOR}"
        self._auth_prefix = f"{_ALGORITHM} Credential={credentials.access_key_id}/"
        self._auth_suffix = (
            f"{self._scope_suffix}, SignedHeaders={self._signed_headers}, Signature="
        )
        #: (date stamp, HMAC keyed with that day's signing key): one slot, replaced atomically.
        self._day_key: tuple[str, hmac.HMAC] | None = None
        #: (second since the epoch, x-amz-date, date stamp) for the default clock.
        self._clock: tuple[int, str, str] = (-1, "", "")
        #: (method, url) -> canonical request up to and including "x-amz-date:".
        self._targets: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return (
            f"SigV4Signer(access_key_id={self._credentials.access_key_id!r}, "
            f"region={self._region!r}, service={self._service!r})"
        )

    @property
    def region(self) -> str:
        return self._region

    @property
    def service(self) -> str:
        return self._service

    def sign(
        self, method: str, url: str, payload: bytes, now: datetime | None = None
    ) -> dict[str, str]:
        """Headers to add to the request, names in lower case.

        Always `authorization` and `x-amz-date`; `content-type` when the signer signs one (the
        value it signed, so merging these headers last keeps the request consistent); and
        `x-amz-security-token` with temporary credentials. `url` must be the exact wire URL
        (already percent-encoded); `payload` the exact body bytes. `now` defaults to the current
        time; a naive datetime is taken as UTC.
        """
        amz_date, date_stamp = self._timestamp(now)
        canonical = self._canonical_request(method, url, payload, amz_date)
        string_to_sign = (
            f"{_ALGORITHM}\n{amz_date}\n{date_stamp}{self._scope_suffix}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        mac = self._signing_hmac(date_stamp).copy()
        mac.update(string_to_sign.encode())
        headers = {
            "authorization": f"{self._auth_prefix}{date_stamp}{self._auth_suffix}{mac.hexdigest()}",
            "x-amz-date": amz_date,
        }
        if self._content_type is not None:
            headers["content-type"] = self._content_type
        token = self._credentials.session_token
        if token is not None:
            headers["x-amz-security-token"] = token
        return headers

    def canonical_request(
        self, method: str, url: str, payload: bytes, now: datetime | None = None
    ) -> str:
        """The canonical request `sign` signs at `now`, for debugging a SignatureDoesNotMatch.

        AWS's error for a bad signature quotes the canonical request it computed; comparing
        the two shows which part (path encoding, a header, the body) differs.
        """
        return self._canonical_request(method, url, payload, self._timestamp(now)[0])

    def _canonical_request(self, method: str, url: str, payload: bytes, amz_date: str) -> str:
        head = self._targets.get((method, url))
        if head is None:
            head = self._target(method, url)
        body_hash = hashlib.sha256(payload).hexdigest()
        return f"{head}{amz_date}{self._headers_tail}{body_hash}"

    def _target(self, method: str, url: str) -> str:
        """Method, canonical URI, query and the headers before `x-amz-date`; cached per URL."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            # No URL in the message: it is not secret, but it may carry userinfo.
            raise ValueError("SigV4 signing needs an absolute http(s) URL with a host")
        host = _host_header(parts.scheme, parts.hostname, parts.port)
        content_type = (
            f"content-type:{self._content_type}\n" if self._content_type is not None else ""
        )
        head = (
            f"{method.upper()}\n{_canonical_uri(parts.path)}\n{_canonical_query(parts.query)}\n"
            f"{content_type}host:{host}\nx-amz-date:"
        )
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[(method, url)] = head
        return head

    def _timestamp(self, now: datetime | None) -> tuple[str, str]:
        """(x-amz-date `YYYYMMDD'T'HHMMSS'Z'`, date stamp `YYYYMMDD`), in UTC."""
        if now is None:
            second = int(time.time())
            clock = self._clock
            if clock[0] == second:
                return clock[1], clock[2]
            t = time.gmtime(second)
            date_stamp = f"{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}"
            amz_date = f"{date_stamp}T{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}Z"
            self._clock = (second, amz_date, date_stamp)
            return amz_date, date_stamp
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        date_stamp = f"{now.year:04d}{now.month:02d}{now.day:02d}"
        return f"{date_stamp}T{now.hour:02d}{now.minute:02d}{now.second:02d}Z", date_stamp

    def _signing_hmac(self, date_stamp: str) -> hmac.HMAC:
        """HMAC keyed with the day's signing key; derived again only when the UTC date changes.

        One slot, not a map: requests are signed at the current time, so the date only moves
        forward (the rare request signed for another day just derives its key again).
        """
        day_key = self._day_key
        if day_key is not None and day_key[0] == date_stamp:
            return day_key[1]
        key = _derive_signing_key(
            self._credentials.secret_access_key, date_stamp, self._region, self._service
        )
        mac = hmac.new(key, digestmod=hashlib.sha256)
        self._day_key = (date_stamp, mac)
        return mac
