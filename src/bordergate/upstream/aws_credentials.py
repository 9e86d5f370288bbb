"""AWS credentials for Bedrock from wherever AWS runs the gateway (`aws_credentials: default`).

On EC2, ECS or EKS the right credentials are the platform's temporary ones, not long-term keys
in a config file. The AWS SDKs find them through a default chain; this is the same chain, for
the one thing the gateway needs (signing Bedrock calls), chosen by what the environment names:

1. `environment`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`);
2. `web_identity` (EKS IAM roles for service accounts): `AWS_ROLE_ARN` and
   `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged with STS AssumeRoleWithWebIdentity (endpoint
   `AWS_ENDPOINT_URL_STS`, else the region's STS);
3. `profile` (a developer's machine, or keys an operator placed in a file): static keys of the
   profile `AWS_PROFILE` names (else `default`) in the shared credentials file
   (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`) or the config file
   (`AWS_CONFIG_FILE`, else `~/.aws/config`). The file is read again whenever Bedrock refuses
   the keys, so keys that a tool refreshes in the file are picked up. Profiles that get their
   credentials another way (SSO, `credential_process`, `role_arn`) are refused at start-up,
   naming the key, rather than silently skipped;
4. `container` (ECS task roles, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
   `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`;
5. `instance` (EC2 instance profiles): the instance metadata service, IMDSv2 only (endpoint
   `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else 169.254.169.254).

Temporary credentials are cached with their signer and replaced five minutes before they
expire (half-way for short-lived ones), one refresh at a time. Secrets never appear in a
`repr`, a log line or an error message: errors say which source failed and how.
"""

from __future__ import annotations

import asyncio
import configparser
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


#: What an instance-source failure means off EC2: every source before it was missing.
FELL_THROUGH = (
    "no keys in the environment, no web identity, no ~/.aws profile and no container endpoint "
    "were found, so EC2's instance metadata was the last source tried"
)


class CredentialError(RuntimeError):
    """No AWS credentials could be obtained; the message names the source, never a secret."""


def choose_source(env: Mapping[str, str], profile: bool = False) -> str:
    """Which source the environment points at (empty variables count as unset).

    `profile`: whether the shared files hold the profile in use (see `read_profile`).
    """
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "environment"
    if env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return "web_identity"
    if profile:
        return "profile"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return "container"
    return "instance"


#: Profile keys with which the AWS SDKs take credentials from elsewhere (a role, SSO, a login
#: session) even when the profile also holds static keys: using those keys instead would act
#: with other permissions than the operator expects.
_OVERRIDING_PROFILE_KEYS = (
    "role_arn",
    "source_profile",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "login_session",
)


def profile_name(env: Mapping[str, str]) -> tuple[str, bool]:
    """The profile in use, and whether the environment named it (rather than the default)."""
    named = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or ""
    return (named or "default"), bool(named)


def _profile_files(env: Mapping[str, str]) -> tuple[Path, Path]:
    home = Path(env.get("HOME") or Path.home())
    credentials = env.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials")
    config = env.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config")
    return Path(credentials).expanduser(), Path(config).expanduser()


def _read_ini(path: Path) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser(default_section="\0none")  # no implicit defaults
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"profile: cannot read {path}: {exc.strerror}") from None
    try:
        parser.read_string(text, str(path))
    except configparser.Error as exc:
        raise CredentialError(f"profile: {path} is not a valid AWS file ({exc.message})") from None
    return parser


def parse_profile(
    name: str,
    credentials: configparser.RawConfigParser | None,
    config: configparser.RawConfigParser | None,
) -> AwsCredentials | None:
    """Static keys of profile `name` from the two files (the credentials file wins), or None
    if neither file has the profile. CredentialError if it has one but no usable keys."""
    sections: list[tuple[str, dict[str, str]]] = []
    if credentials is not None and credentials.has_section(name):
        sections.append(("credentials file", dict(credentials.items(name))))
    if config is not None:
        header = name if name == "default" and config.has_section(name) else f"profile {name}"
        if config.has_section(header):
            sections.append(("config file", dict(config.items(header))))
    if not sections:
        return None
    overriding = [k for _, values in sections for k in _OVERRIDING_PROFILE_KEYS if k in values]
    if not overriding:
        for where, values in sections:
            key_id, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
            if key_id and secret:
                return AwsCredentials(key_id, secret, values.get("aws_session_token") or None)
            if key_id or secret:
                raise CredentialError(
                    f"profile {name} ({where}): aws_access_key_id and aws_secret_access_key "
                    "must both be set"
                )
    indirect = overriding or [k for _, v in sections for k in ("credential_process",) if k in v]
    if indirect:
        raise CredentialError(
            f"profile {name} gets its credentials through {indirect[0]}, which Bordergate does "
            "not read; give the profile static keys (e.g. from `aws configure "
            "export-credentials`), or run where the platform provides credentials"
        )
    raise CredentialError(f"profile {name} has no aws_access_key_id / aws_secret_access_key")


def read_profile(env: Mapping[str, str]) -> AwsCredentials | None:
    """The profile's static keys from the shared files; None when they do not have it.

    A profile the environment names (`AWS_PROFILE`) must exist: a typo is an error, not a
    silent fall-through to the instance's role.
    """
    name, named = profile_name(env)
    credentials_path, config_path = _profile_files(env)
    found = parse_profile(name, _read_ini(credentials_path), _read_ini(config_path))
    if found is None and named:
        raise CredentialError(
            f"AWS_PROFILE names profile {name}, which is in neither {credentials_path} "
            f"nor {config_path}"
        )
    return found


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
        environment_first = choose_source(self._env) in ("environment", "web_identity")
        profile = None if environment_first else read_profile(self._env)
        self.source = choose_source(self._env, profile=profile is not None)
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

    @property
    def where(self) -> str:
        """The source, for the start-up log line (the profile's name, not its keys)."""
        if self.source == "profile":
            return f"the profile source (profile {profile_name(self._env)[0]})"
        return f"the {self.source} source"

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
            "profile": self._profile,
            "web_identity": self._web_identity,
            "container": self._container,
            "instance": self._instance,
        }[self.source]
        try:
            return await fetch(session, timeout)
        except TimeoutError:
            problem = f"{self.source}: no answer within {timeout_s:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            problem = f"{self.source}: cannot connect ({type(exc).__name__})"
        except CredentialError as exc:
            problem = str(exc)
        if self.source == "instance":
            # The last resort of the chain: off EC2 this fails, and the reason is what was
            # missing earlier in the chain, not the metadata service itself.
            problem += f"; {FELL_THROUGH}"
        raise CredentialError(problem)

    async def _profile(
        self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> tuple[AwsCredentials, float]:
        """Read the files (again: a tool may have refreshed them); valid until refused."""
        found = await asyncio.to_thread(read_profile, self._env)
        if found is None:
            raise CredentialError(f"profile {profile_name(self._env)[0]}: no longer in the files")
        return found, float("inf")

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
