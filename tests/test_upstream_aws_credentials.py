"""`aws_credentials: default`: which source the environment names, and reading its answers."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bordergate.config import ConfigError
from bordergate.upstream.aws_credentials import (
    AwsCredentialChain,
    CredentialError,
    choose_source,
    container_url,
    parse_credentials_json,
    parse_expiration,
    parse_sts_response,
    read_profile,
    refresh_time,
)
from bordergate.upstream.deployments import build_deployments
from bordergate.upstream.sigv4 import AwsCredentials
from tests.support import one_provider_config


@pytest.fixture(autouse=True)
def no_aws_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine's own ~/.aws must not choose the source for these tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}, "environment"),
        ({"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": ""}, "instance"),
        ({"AWS_ROLE_ARN": "arn", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, "web_identity"),
        ({"AWS_ROLE_ARN": "arn"}, "instance"),
        ({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}, "container"),
        ({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/x"}, "container"),
        ({}, "instance"),
        (
            {
                "AWS_ACCESS_KEY_ID": "AKIA",
                "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/x",
            },
            "environment",
        ),
    ],
)
def test_the_environment_names_the_source(env: dict[str, str], source: str) -> None:
    assert choose_source(env) == source


def test_credentials_json_is_read_with_its_expiry() -> None:
    body = (
        b'{"Code": "Success", "AccessKeyId": "ASIAX", "SecretAccessKey": "sec", '
        b'"Token": "tok", "Expiration": "2026-11-24T13:00:00Z"}'
    )
    credentials, expires = parse_credentials_json(body, "instance")
    assert (credentials.access_key_id, credentials.session_token) == ("ASIAX", "tok")
    one_pm = datetime.datetime(2026, 11, 24, 13, tzinfo=datetime.UTC).timestamp()
    assert expires == parse_expiration("2026-11-24T13:00:00+00:00", "x") == one_pm
    assert "sec" not in repr(credentials) and "tok" not in repr(credentials)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"Code": "AssumeRoleUnauthorizedAccess", "Message": "no"}', "AssumeRoleUnauthorized"),
        (b'{"AccessKeyId": "A", "Expiration": "2026-11-24T13:00:00Z"}', "no AccessKeyId"),
        (b'{"AccessKeyId": "A", "SecretAccessKey": "s"}', "without an Expiration"),
        (b'{"AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": "soon"}', "unreadable"),
    ],
)
def test_unusable_credentials_json_says_why(body: bytes, says: str) -> None:
    with pytest.raises(CredentialError, match=says) as info:
        parse_credentials_json(body, "container")
    assert str(info.value).startswith("container: ")


STS_OK = b"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAWEB</AccessKeyId>
      <SecretAccessKey>websecret</SecretAccessKey>
      <SessionToken>webtoken</SessionToken>
      <Expiration>2026-11-24T14:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"""

STS_ERROR = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>
  <Message>Couldn't retrieve verification key</Message></Error>
</ErrorResponse>"""


def test_sts_answers_are_read() -> None:
    credentials, expires = parse_sts_response(200, STS_OK)
    assert (credentials.access_key_id, credentials.session_token) == ("ASIAWEB", "webtoken")
    assert expires == datetime.datetime(2026, 11, 24, 14, tzinfo=datetime.UTC).timestamp()
    with pytest.raises(CredentialError, match="HTTP 400 InvalidIdentityToken: Couldn't"):
        parse_sts_response(400, STS_ERROR)
    with pytest.raises(CredentialError, match="not XML"):
        parse_sts_response(503, b"Service Unavailable")
    with pytest.raises(CredentialError, match="incomplete"):
        parse_sts_response(200, STS_OK.replace(b"webtoken", b""))


def test_container_urls_stay_on_the_agents_hosts_unless_https() -> None:
    assert container_url({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/ab"}) == (
        "http://169.254.170.2/v2/credentials/ab"
    )
    for ok in (
        "http://127.0.0.1:51679/creds",
        "http://169.254.170.23/v1/credentials",
        "http://[::1]:8080/c",
        "https://creds.example.com/c",
    ):
        assert container_url({"AWS_CONTAINER_CREDENTIALS_FULL_URI": ok}) == ok
    for bad in ("http://evil.example.com/c", "http://10.0.0.5/c", "ftp://127.0.0.1/c"):
        with pytest.raises(CredentialError, match="must be https"):
            container_url({"AWS_CONTAINER_CREDENTIALS_FULL_URI": bad})


def test_refresh_is_five_minutes_early_or_half_way() -> None:
    assert refresh_time(10_000.0, 6_400.0) == 9_700.0
    assert refresh_time(1_060.0, 1_000.0) == 1_030.0
    assert refresh_time(1_000.0, 2_000.0) == 1_000.0  # already expired: now


def test_environment_credentials_sign_without_any_call() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    chain = AwsCredentialChain("eu-west-1", env)

    async def run() -> Any:
        async with aiohttp.ClientSession() as session:
            return await chain.signer(session)

    signer = asyncio.run(run())
    headers = signer.sign(
        "POST", "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/invoke", b"{}"
    )
    assert (
        "Credential=AKIAENV/" in headers["authorization"]
        and "/eu-west-1/bedrock/" in headers["authorization"]
    )
    assert "envsecret" not in repr(chain) + repr(signer)


def test_an_unreachable_source_is_a_clear_error() -> None:
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}  # discard port: refused
    chain = AwsCredentialChain("eu-west-1", env)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            await chain.signer(session, timeout_s=2)

    with pytest.raises(CredentialError, match="instance: cannot connect") as failure:
        asyncio.run(run())
    # Off EC2 the real cause is that every earlier source was missing: the message says so.
    assert "no ~/.aws profile and no container endpoint were found" in str(failure.value)


def config(provider: str) -> Any:
    return one_provider_config(
        provider, name="aws", model="anthropic.claude-3-5-haiku-20241022-v1:0"
    )


def test_default_credentials_are_a_chain_on_the_provider() -> None:
    cfg = config("preset: bedrock\nregion: eu-central-1\naws_credentials: default")
    env = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}
    (dep,) = build_deployments(cfg, env=env)["claude"]
    assert dep.provider.aws_chain is not None and dep.provider.aws_chain.source == "container"
    assert dep.provider.signer is None and "authorization" not in dep.provider.headers


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        (
            "preset: bedrock\nregion: eu-central-1\naws_credentials: default\napi_key: k",
            "finds credentials itself",
        ),
        (
            "preset: bedrock\nregion: eu-central-1\naws_credentials: default\n"
            "aws_access_key_id: A\naws_secret_access_key: S",
            "finds credentials itself",
        ),
        ("preset: openai\napi_key: k\naws_credentials: default", "for kind: bedrock only"),
        ("preset: bedrock\nregion: eu-central-1\naws_credentials: always", "aws_credentials"),
    ],
)
def test_default_credentials_do_not_mix_with_others(provider: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        config(provider)


def test_invalidate_forgets_fetched_credentials_but_not_environment_ones() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    static = AwsCredentialChain("eu-west-1", env)
    static.invalidate()
    assert static._refresh_at == float("inf")  # nothing to fetch again
    fetched = AwsCredentialChain("eu-west-1", {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://x"})
    fetched._refresh_at = 1e12
    fetched.invalidate()
    assert fetched._refresh_at == 0.0


def test_rotated_credentials_reach_the_scrub_list_and_leave_it_two_turns_later() -> None:
    from bordergate.server.errors import rotate_secret, scrub
    from bordergate.upstream.sigv4 import AwsCredentials

    chain = AwsCredentialChain("eu-west-1", {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://x"})
    calls: list[tuple[str | None, str | None]] = []
    chain.on_rotate = lambda old, new: (calls.append((old, new)), rotate_secret(old, new))[-1]
    issued = iter(
        AwsCredentials(f"ASIA{n}", f"secret-number-{n}-xxxxxxxx", f"token-number-{n}-xxxxxxxx")
        for n in range(1, 4)
    )

    async def fetch(session: Any, timeout: Any) -> tuple[AwsCredentials, float]:
        return next(issued), 0.0  # already due: every call fetches

    chain._fetch = fetch  # type: ignore[method-assign]

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                await chain.signer(session)

    asyncio.run(run())
    assert calls[:2] == [(None, "secret-number-1-xxxxxxxx"), (None, "token-number-1-xxxxxxxx")]
    assert calls[-2:] == [
        ("secret-number-1-xxxxxxxx", "secret-number-3-xxxxxxxx"),
        ("token-number-1-xxxxxxxx", "token-number-3-xxxxxxxx"),
    ]
    # Alive now: the current credentials and the ones before (requests may still hold them).
    text = "secret-number-1-xxxxxxxx secret-number-2-xxxxxxxx token-number-3-xxxxxxxx"
    assert scrub(text) == "secret-number-1-xxxxxxxx [redacted] [redacted]"


def files(tmp_path: Path, credentials: str = "", config: str = "", **extra: str) -> dict[str, str]:
    """An environment pointing at shared files with the given contents."""
    (tmp_path / "credentials").write_text(credentials)
    (tmp_path / "config").write_text(config)
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        **extra,
    }


KEYS = "aws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n"


def test_profiles_are_read_from_either_file_and_the_credentials_file_wins(tmp_path: Path) -> None:
    env = files(
        tmp_path,
        credentials=f"[default]\n{KEYS}",
        config="[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = c\n"
        "[profile dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = d\n"
        "aws_session_token = devtoken\nregion = eu-west-1\n",
    )
    assert read_profile(env) == AwsCredentials("AKIAFILE", "filesecret", None)
    dev = read_profile({**env, "AWS_PROFILE": "dev"})
    assert dev == AwsCredentials("AKIADEV", "d", "devtoken")
    # The legacy variable names a profile too.
    assert read_profile({**env, "AWS_DEFAULT_PROFILE": "dev"}) == dev


def test_home_is_where_the_files_are_by_default(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(f"[default]\n{KEYS}")
    assert read_profile({"HOME": str(tmp_path)}) == AwsCredentials("AKIAFILE", "filesecret")
    assert read_profile({"HOME": str(tmp_path / "elsewhere")}) is None  # no files: next source


@pytest.mark.parametrize(
    ("credentials", "config", "says"),
    [
        ("", "[profile dev]\nsso_session = corp\nsso_account_id = 1\n", "through sso_session"),
        ("[dev]\ncredential_process = /bin/helper\n", "", "through credential_process"),
        ("", "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n", "role_arn"),
        (f"[dev]\n{KEYS}", "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\n", "role_arn"),
        ("[dev]\naws_access_key_id = AKIAONLY\n", "", "must both be set"),
        ("[dev]\nregion = eu-west-1\n", "", "has no aws_access_key_id"),
        ("[dev\nbroken", "", "is not a valid AWS file"),
    ],
)
def test_profiles_without_static_keys_say_why(
    tmp_path: Path, credentials: str, config: str, says: str
) -> None:
    with pytest.raises(CredentialError, match=says):
        read_profile(files(tmp_path, credentials, config, AWS_PROFILE="dev"))


def test_a_named_profile_must_exist_but_the_default_may_be_absent(tmp_path: Path) -> None:
    env = files(tmp_path, credentials=f"[other]\n{KEYS}")
    assert read_profile(env) is None
    with pytest.raises(CredentialError, match="AWS_PROFILE names profile dev, which is in neither"):
        read_profile({**env, "AWS_PROFILE": "dev"})


def test_the_profile_comes_after_the_environment_and_before_the_platform(tmp_path: Path) -> None:
    env = files(tmp_path, credentials=f"[default]\n{KEYS}")
    container = {**env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}
    chain = AwsCredentialChain("eu-west-1", container)
    assert chain.source == "profile" and "profile default" in chain.where
    environment = {**env, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"}
    assert AwsCredentialChain("eu-west-1", environment).source == "environment"
    assert choose_source(container) == "container"  # without the files


def test_profile_keys_are_read_again_once_refused(tmp_path: Path) -> None:
    env = files(tmp_path, credentials=f"[default]\n{KEYS}")
    chain = AwsCredentialChain("eu-west-1", env)

    async def key_ids() -> list[str]:
        seen = []
        url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/invoke"

        async def signed_with(session: aiohttp.ClientSession) -> None:
            auth = (await chain.signer(session)).sign("POST", url, b"{}")["authorization"]
            seen.append(auth.split("Credential=", 1)[1].split("/", 1)[0])

        async with aiohttp.ClientSession() as session:
            await signed_with(session)
            (tmp_path / "credentials").write_text(
                "[default]\naws_access_key_id = AKIANEW\naws_secret_access_key = n\n"
            )
            await signed_with(session)  # cached: the file is not polled
            chain.invalidate()  # Bedrock refused them
            await signed_with(session)
        return seen

    assert asyncio.run(key_ids()) == ["AKIAFILE", "AKIAFILE", "AKIANEW"]
    assert "filesecret" not in repr(chain)


def test_an_unusable_profile_stops_start_up_naming_the_provider(tmp_path: Path) -> None:
    cfg = config("preset: bedrock\nregion: eu-central-1\naws_credentials: default")
    env = files(tmp_path, config="[profile dev]\nsso_session = corp\n", AWS_PROFILE="dev")
    with pytest.raises(ValueError, match=r"providers\.aws\.aws_credentials: profile dev gets"):
        build_deployments(cfg, env=env)
