"""AWS credentials for Bedrock from wherever AWS runs the gateway (`aws_credentials: default`).

On EC2, ECS or EKS the right credentials are the platform's temporary ones, not long-term keys
in a config file. The AWS SDKs find them through a default chain; this is the same chain, for
the one thing the gateway needs (signing Bedrock calls), chosen by what the environment names:

1. `environment`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`);
2. `web_identity` (EKS IAM roles for service accounts): `AWS_ROLE_ARN` and
   `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged with STS AssumeRoleWithWebIdentity (endpoint
   `AWS_ENDPOINT_URL_STS`, else the region's STS);
3. `container` (ECS task roles, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
   `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`;
4. `instance` (EC2 instance profiles): the instance metadata service, IMDSv2 only (endpoint
   `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else 169.254.169.254).

Temporary credentials are cached with their signer and replaced five minutes before they
expire (half-way for short-lived ones), one refresh at a time. Secrets never appear in a
`repr`, a log line or an error message: errors say which source failed and how.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from bordergate.upstream.expiry import refresh_time
from bordergate.upstream.sigv4 import AwsCredentials, SigV4Signer

IMDS_ENDPOINT = "http://169.254.169.254"
CONTAINER_ENDPOINT = "http://169.254.170.2"
_IMDS_TTL_S = "21600"
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# Hosts a container-credentials URL may name over plain http: loopback and the ECS / EKS Pod
# Identity agents' link-local addresses (what the AWS SDKs allow, so a stray env var cannot
# send the authorization token anywhere else in clear text).
_CONTAINER_HOSTS = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"}


class CredentialError(RuntimeError):
    """No AWS credentials could be obtained; the message names the source, never a secret."""


def choose_source(env: Mapping[str, str]) -> str:
    """Which source the environment points at (empty variables count as unset)."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "environment"
    if env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return "web_identity"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return "container"
    return "instance"


def parse_expiration(value: Any, source: str) -> float:
    """An ISO 8601 UTC time (`2026-11-24T13:00:00Z`) as a Unix timestamp."""
    if not isinstance(value, str):
        raise CredentialError(f"{source}: credentials without an Expiration")
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(f"{source}: unreadable Expiration {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def parse_credentials_json(body: bytes, source: str) -> tuple[AwsCredentials, float]:
    """The JSON the container and instance endpoints answer: keys, token and expiry."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CredentialError(f"{source}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{source}: the answer is not a JSON object")
    if data.get("Code", "Success") != "Success":
        raise CredentialError(f"{source}: {data.get('Code')}: {data.get('Message', '')}")
    key_id, secret = data.get("AccessKeyId"), data.get("SecretAccessKey")
    token = data.get("Token")
    if not isinstance(key_id, str) or not key_id or not isinstance(secret, str) or not secret:
        raise CredentialError(f"{source}: the answer has no AccessKeyId / SecretAccessKey")
    credentials = AwsCredentials(
        key_id, secret, token if isinstance(token, str) and token else None
    )
    return credentials, parse_expiration(data.get("Expiration"), source)


def parse_sts_response(status: int, body: bytes) -> tuple[AwsCredentials, float]:
    """STS AssumeRoleWithWebIdentity's XML answer (or its error) as credentials and expiry."""
    source = "web identity (STS)"
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise CredentialError(f"{source}: HTTP {status}, not XML") from None
    if status != 200:
        code = root.findtext(f".//{_STS_NS}Code") or root.findtext(".//Code") or ""
        message = root.findtext(f".//{_STS_NS}Message") or root.findtext(".//Message") or ""
        raise CredentialError(f"{source}: HTTP {status} {code}: {message}".rstrip(": "))
    found = root.find(f".//{_STS_NS}Credentials")
    if found is None:
        found = root.find(".//Credentials")
    if found is None:
        raise CredentialError(f"{source}: no Credentials in the answer")

    def field(name: str) -> str:
        return (found.findtext(f"{_STS_NS}{name}") or found.findtext(name) or "").strip()

    key_id, secret, token = field("AccessKeyId"), field("SecretAccessKey"), field("SessionToken")
    if not key_id or not secret or not token:
        raise CredentialError(f"{source}: incomplete Credentials in the answer")
    return AwsCredentials(key_id, secret, token), parse_expiration(field("Expiration"), source)


def container_url(env: Mapping[str, str]) -> str:
    """The container-credentials URL, refusing plain http to any but the agents' hosts."""
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return CONTAINER_ENDPOINT + relative
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    parts = urlsplit(full)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https":
        return full
    if parts.scheme == "http":
        if host in _CONTAINER_HOSTS:
            return full
        try:
            if ipaddress.ip_address(host).is_loopback:
                return full
        except ValueError:
            pass
    raise CredentialError(
        "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback or "
        "the ECS / EKS agent address"
    )


class AwsCredentialChain:
    """The credentials (and a SigV4 signer) of the source the environment names."""

    def __init__(self, region: str, env: Mapping[str, str], service: str = "bedrock") -> None:
        self.region = region
        self.service = service
        self._env = dict(env)
        self.source = choose_source(self._env)
        self._signer: SigV4Signer | None = None
        self._refresh_at = 0.0  # Unix timestamp; inf for credentials that do not expire
        self._lock: asyncio.Lock | None = None
        self._current: AwsCredentials | None = None
        self._retiring: AwsCredentials | None = None  # requests may still hold these
        #: Told (retired, new) for the secret key and for the session token on each fetch, so
        #: the server can keep its secrets list (scrubbed from errors and logs) to live ones.
        self.on_rotate: Callable[[str | None, str | None], None] | None = None
        if self.source == "environment":
            token = self._env.get("AWS_SESSION_TOKEN") or None
            static = AwsCredentials(
                self._env["AWS_ACCESS_KEY_ID"], self._env["AWS_SECRET_ACCESS_KEY"], token
            )
            self._signer = SigV4Signer(static, region, service)
            self._refresh_at = float("inf")

    def __repr__(self) -> str:
        return f"AwsCredentialChain(source={self.source!r}, region={self.region!r})"

    async def signer(self, session: aiohttp.ClientSession, timeout_s: float = 10.0) -> SigV4Signer:
        """A signer with current credentials: cached, or fetched now (CredentialError if not)."""
        if self._signer is not None and time.time() < self._refresh_at:
            return self._signer
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._signer is None or time.time() >= self._refresh_at:
                credentials, expires_at = await self._fetch(session, timeout_s)
                self._signer = SigV4Signer(credentials, self.region, self.service)
                self._refresh_at = refresh_time(expires_at, time.time())
                self._rotated(credentials)
        return self._signer

    def _rotated(self, new: AwsCredentials) -> None:
        if self.on_rotate is not None:
            old = self._retiring
            self.on_rotate(old.secret_access_key if old else None, new.secret_access_key)
            self.on_rotate(old.session_token if old else None, new.session_token)
        self._retiring, self._current = self._current, new

    def invalidate(self) -> None:
        """Forget fetched credentials (the provider refused them): the next call fetches anew.

        Credentials from the environment stay: fetching again would give the same ones."""
        if self.source != "environment":
            self._refresh_at = 0.0

    async def _fetch(
        self, session: aiohttp.ClientSession, timeout_s: float
    ) -> tuple[AwsCredentials, float]:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        fetch = {
            "web_identity": self._web_identity,
            "container": self._container,
            "instance": self._instance,
        }[self.source]
        try:
            return await fetch(session, timeout)
        except TimeoutError:
            raise CredentialError(f"{self.source}: no answer within {timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise CredentialError(f"{self.source}: cannot connect ({type(exc).__name__})") from None

    async def _web_identity(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[AwsCredentials, float]:
        path = self._env["AWS_WEB_IDENTITY_TOKEN_FILE"]
        try:
            token = Path(path).read_text().strip()  # re-read: the platform rotates it
        except OSError as exc:
            raise CredentialError(
                f"web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE {path}: {exc.strerror}"
            ) from None
        endpoint = (
            self._env.get("AWS_ENDPOINT_URL_STS") or f"https://sts.{self.region}.amazonaws.com"
        )
        form = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": self._env["AWS_ROLE_ARN"],
            "RoleSessionName": self._env.get("AWS_ROLE_SESSION_NAME")
            or f"bordergate-{int(time.time())}",
            "WebIdentityToken": token,
        }
        async with session.post(endpoint.rstrip("/") + "/", data=form, timeout=timeout) as resp:
            return parse_sts_response(resp.status, await resp.read())

    async def _container(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[AwsCredentials, float]:
        url = container_url(self._env)
        headers = {}
        token_file = self._env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        if token_file:
            try:
                headers["authorization"] = Path(token_file).read_text().strip()
            except OSError as exc:
                raise CredentialError(
                    f"container: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {token_file}: "
                    f"{exc.strerror}"
                ) from None
        elif self._env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
            headers["authorization"] = self._env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        async with session.get(url, headers=headers, timeout=timeout) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise CredentialError(f"container: the credentials endpoint answered {resp.status}")
        return parse_credentials_json(body, "container")

    async def _instance(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[AwsCredentials, float]:
        base = (self._env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_ENDPOINT).rstrip("/")
        ttl = {"x-aws-ec2-metadata-token-ttl-seconds": _IMDS_TTL_S}
        async with session.put(f"{base}/latest/api/token", headers=ttl, timeout=timeout) as resp:
            if resp.status != 200:
                raise CredentialError(f"instance: IMDSv2 token request answered {resp.status}")
            session_token = (await resp.text()).strip()
        auth = {"x-aws-ec2-metadata-token": session_token}
        roles_url = f"{base}/latest/meta-data/iam/security-credentials/"
        async with session.get(roles_url, headers=auth, timeout=timeout) as resp:
            if resp.status != 200:
                raise CredentialError(
                    f"instance: no IAM role on this instance (metadata answered {resp.status})"
                )
            role = (await resp.text()).strip().splitlines()[0:1]
        if not role:
            raise CredentialError("instance: no IAM role attached to this instance")
        async with session.get(roles_url + role[0], headers=auth, timeout=timeout) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise CredentialError(f"instance: role credentials answered {resp.status}")
        return parse_credentials_json(body, "instance")
