"""Vertex AI providers: config, URLs, bodies, and the service-account token source."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from bordergate.config import ConfigError
from bordergate.upstream.deployments import build_deployments, cross_region_note
from bordergate.upstream.dispatch import _native_bytes, request_bytes
from bordergate.upstream.google_auth import (
    CLOUD_PLATFORM_SCOPE,
    JWT_BEARER_GRANT,
    MetadataTokenSource,
    ServiceAccount,
    ServiceAccountTokenSource,
    TokenError,
    UserTokenSource,
    adc_file,
    parse_token_response,
    token_source_from_file,
)
from tests.support import one_provider_config, service_account_info


@pytest.fixture(autouse=True)
def no_gcloud_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine's own gcloud login must not choose the credentials for these tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_info(
    key: rsa.RSAPrivateKey, token_uri: str = "https://oauth2.example/token"
) -> dict[str, str]:
    return service_account_info(key, token_uri, "acme-prod")


@pytest.fixture
def key_file(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(key_info(private_key)))
    return path


def config(provider: str) -> Any:
    return one_provider_config(provider, name="gcp", model="claude-sonnet-4-5@20250929")


def test_service_account_provider_gets_model_urls_and_a_token_source(key_file: Path) -> None:
    cfg = config(
        f"preset: vertex\nproject: acme-prod\nregion: europe-west1\ncredentials_file: {key_file}"
    )
    (dep,) = build_deployments(cfg)["claude"]
    root = (
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/acme-prod/locations/"
        "europe-west1/publishers/anthropic/models"
    )
    assert dep.url == f"{root}/claude-sonnet-4-5@20250929:rawPredict"
    assert dep.stream_url == f"{root}/claude-sonnet-4-5@20250929:streamRawPredict"
    assert dep.provider.count_url == f"{root}/count-tokens:rawPredict"
    assert dep.provider.token_source is not None and dep.provider.host == "google-vertex"
    assert "BEGIN PRIVATE KEY" not in repr(dep.provider) + repr(dep.provider.token_source)
    assert "authorization" not in dep.provider.headers


@pytest.mark.parametrize(
    ("region", "root"),
    [
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/v1"),
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1"),
    ],
)
def test_access_token_provider_and_regional_roots(region: str, root: str) -> None:
    cfg = config(f"preset: vertex\nproject: p\nregion: {region}\napi_key: ya29.static")
    (dep,) = build_deployments(cfg)["claude"]
    assert dep.url.startswith(f"{root}/projects/p/locations/{region}/publishers/anthropic/")
    assert dep.provider.headers["authorization"] == "Bearer ya29.static"
    assert dep.provider.token_source is None
    note = cross_region_note("vertex", "claude-sonnet-4-5@20250929", region)
    assert (note is not None) == (region == "global")


@pytest.mark.parametrize(
    ("provider", "reason"),
    [
        ("preset: vertex\nregion: europe-west1\napi_key: t", "project is required"),
        ("preset: vertex\nproject: p\napi_key: t", "region is required"),
        ("preset: vertex\nproject: p\nregion: eu", "takes one of"),
        (
            "preset: vertex\nproject: p\nregion: eu\napi_key: t\ncredentials_file: x.json",
            "takes one of",
        ),
        ("preset: openai\napi_key: k\nproject: p", "are for kind: vertex only"),
    ],
)
def test_invalid_vertex_config_says_why(provider: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(provider)
    assert reason in str(info.value) and "providers.gcp" in str(info.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("not json", "is not JSON"),
        ('{"type": "authorized_user"}', "lacks client_id, client_secret, refresh_token"),
        ('{"type": "external_account"}', "type external_account are not supported"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key"),
    ],
)
def test_an_unusable_key_file_stops_start_up_naming_it(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    cfg = config(f"preset: vertex\nproject: p\nregion: eu\ncredentials_file: {path}")
    with pytest.raises(ValueError) as info:
        build_deployments(cfg)
    assert "providers.gcp.credentials_file" in str(info.value) and reason in str(info.value)


def test_a_key_that_is_not_rsa_is_refused(private_key: rsa.RSAPrivateKey) -> None:
    info = {**key_info(private_key), "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"}
    with pytest.raises(ValueError, match="not a usable RSA key"):
        ServiceAccount.from_info(info)


def test_the_assertion_is_a_signed_jwt_bearer_request(private_key: rsa.RSAPrivateKey) -> None:
    account = ServiceAccount.from_info(key_info(private_key))
    token = account.assertion(CLOUD_PLATFORM_SCOPE, 1_800_000_000)
    claims = jwt.decode(
        token,
        private_key.public_key(),
        algorithms=["RS256"],
        audience="https://oauth2.example/token",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": "gateway@acme-prod.iam.gserviceaccount.com",
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": "https://oauth2.example/token",
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }
    assert jwt.get_unverified_header(token)["kid"] == "kid-1"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, b'{"error": "invalid_grant", "error_description": "Invalid JWT"}', "Invalid JWT"),
        (500, b"oops", "HTTP 500"),
        (200, b'{"expires_in": 3599}', "without an access_token"),
        (200, b'{"access_token": "t", "expires_in": -1}', "expires_in"),
    ],
)
def test_token_responses_that_are_not_tokens_say_why(status: int, body: bytes, error: str) -> None:
    with pytest.raises(TokenError, match=error):
        parse_token_response(status, body, 0.0)
    # Replaced 300 s before it expires, or half-way through a shorter life.
    assert parse_token_response(200, b'{"access_token": "t", "expires_in": 3600}', 5.0) == (
        "t",
        3305.0,
    )
    assert parse_token_response(200, b'{"access_token": "t", "expires_in": 60}', 5.0) == ("t", 35.0)


@pytest.fixture
def token_server(private_key: rsa.RSAPrivateKey) -> Iterator[dict[str, Any]]:
    """A token endpoint on a real socket: counts calls, issues tokens with a set lifetime."""
    state: dict[str, Any] = {
        "calls": 0,
        "expires_in": 3599,
        "status": 200,
        "assertions": [],
        "forms": [],
    }

    async def issue(request: web.Request) -> web.Response:
        form = await request.post()
        state["calls"] += 1
        state["assertions"].append(form.get("assertion"))
        state["forms"].append(dict(form))
        assert form.get("grant_type") in (JWT_BEARER_GRANT, "refresh_token")
        if state["status"] != 200:
            return web.json_response({"error": "internal_failure"}, status=state["status"])
        body = {"access_token": f"ya29.test-{state['calls']}", "expires_in": state["expires_in"]}
        return web.json_response(body)

    async def metadata(request: web.Request) -> web.Response:
        state["calls"] += 1
        if request.headers.get("Metadata-Flavor") != "Google":
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.")
        return web.json_response({"access_token": f"ya29.md-{state['calls']}", "expires_in": 3599})

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/token", issue)
    app.router.add_get("/computeMetadata/v1/instance/service-accounts/default/token", metadata)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state["url"], state["loop"] = f"http://127.0.0.1:{port}/token", loop
    yield state
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_tokens_are_cached_refreshed_ahead_of_expiry_and_fetched_once_per_burst(
    token_server: dict[str, Any], private_key: rsa.RSAPrivateKey
) -> None:
    source = ServiceAccountTokenSource(
        ServiceAccount.from_info(key_info(private_key, token_server["url"]))
    )

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            burst = await asyncio.gather(*(source.token(session) for _ in range(20)))
            assert set(burst) == {"ya29.test-1"} and token_server["calls"] == 1
            assert await source.token(session) == "ya29.test-1"  # cached
            # A token within the refresh margin of its expiry is replaced before it is used.
            token_server["expires_in"] = 2
            source._refresh_at = time.monotonic()  # as if the first one were about to expire
            assert await source.token(session) == "ya29.test-2"
            assert await source.token(session) == "ya29.test-2"  # lives 2 s: good for 1 s
            await asyncio.sleep(1.05)
            assert await source.token(session) == "ya29.test-3"
            token_server["status"] = 500
            source._refresh_at = 0.0
            with pytest.raises(TokenError, match="HTTP 500"):
                await source.token(session)

    token_server["loop"].run_until_complete(run())
    assert token_server["calls"] == 4
    claims = jwt.decode(
        token_server["assertions"][0],
        private_key.public_key(),
        algorithms=["RS256"],
        audience=token_server["url"],
    )
    assert claims["scope"] == CLOUD_PLATFORM_SCOPE


def test_vertex_bodies_keep_stream_and_carry_the_version() -> None:
    cfg = config("preset: vertex\nproject: p\nregion: eu\napi_key: t")
    (dep,) = build_deployments(cfg)["claude"]
    body = {"model": "claude", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    sent = orjson.loads(request_bytes(dep, body, orjson.dumps(body)))
    assert sent["anthropic_version"] == "vertex-2023-10-16" and sent["stream"] is True
    assert "model" not in sent and sent["messages"] == [{"role": "user", "content": "hi"}]
    original = {**body, "max_tokens": 9, "top_k": 2, "container": "x"}
    native = orjson.loads(_native_bytes(dep, original, "beta-1"))
    assert native == {
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "top_k": 2,
        "anthropic_version": "vertex-2023-10-16",
    }


def test_default_credentials_use_the_key_file_or_else_the_metadata_server(
    key_file: Path, tmp_path: Path
) -> None:
    cfg = config("preset: vertex\nproject: p\nregion: eu\ngoogle_credentials: default")
    from_file = build_deployments(cfg, env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    source = from_file["claude"][0].provider.token_source
    assert isinstance(source, ServiceAccountTokenSource) and source.where == "the token endpoint"
    on_gce = build_deployments(cfg, env={})["claude"][0].provider.token_source
    assert isinstance(on_gce, MetadataTokenSource)
    assert "no GOOGLE_APPLICATION_CREDENTIALS and no gcloud" in on_gce.where
    assert on_gce.url == (
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
    )
    moved = build_deployments(cfg, env={"GCE_METADATA_HOST": "127.0.0.1:8080"})
    assert moved["claude"][0].provider.token_source.url.startswith("http://127.0.0.1:8080/")  # type: ignore[union-attr]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(
        ValueError, match=r"providers\.gcp\.google_credentials: .* not a Google credentials file"
    ):
        build_deployments(cfg, env={"GOOGLE_APPLICATION_CREDENTIALS": str(bad)})


def test_metadata_server_tokens_are_asked_with_the_flavor_header(
    token_server: dict[str, Any],
) -> None:
    host = token_server["url"].removesuffix("/token")
    source = MetadataTokenSource(host)

    async def run() -> list[str]:
        async with aiohttp.ClientSession() as session:
            return [await source.token(session), await source.token(session)]

    assert token_server["loop"].run_until_complete(run()) == ["ya29.md-1", "ya29.md-1"]
    assert token_server["calls"] == 1
    unreachable = MetadataTokenSource("127.0.0.1:9")

    async def fail() -> None:
        async with aiohttp.ClientSession() as session:
            await unreachable.token(session, 2)

    with pytest.raises(TokenError, match="cannot reach the metadata server"):
        token_server["loop"].run_until_complete(fail())


def test_the_server_keeps_live_tokens_on_its_scrub_list(
    token_server: dict[str, Any], private_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    from bordergate.server.app import build_gateway
    from bordergate.server.errors import rotate_secret, scrub

    path = tmp_path / "sa.json"
    path.write_text(json.dumps(key_info(private_key, token_server["url"])))
    cfg = config(f"preset: vertex\nproject: p\nregion: eu\ncredentials_file: {path}")
    gateway = build_gateway(cfg, "test.yaml")
    source = gateway.deployments["claude"][0].provider.token_source
    assert source is not None and source.on_rotate is rotate_secret

    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            return await source.token(session)

    token = token_server["loop"].run_until_complete(run())
    assert scrub(f"echoed {token} back") == "echoed [redacted] back"


USER = {
    "type": "authorized_user",
    "client_id": "764086051850-x.apps.googleusercontent.com",
    "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty-secret",
    "refresh_token": "1//0g-refresh-token-of-a-developer",
    "quota_project_id": "acme-dev",
}


def test_gcloud_user_login_is_found_where_gcloud_writes_it(tmp_path: Path, key_file: Path) -> None:
    cfg = config("preset: vertex\nproject: p\nregion: eu\ngoogle_credentials: default")
    home = tmp_path / "dev"
    (home / ".config" / "gcloud").mkdir(parents=True)
    adc_file({"HOME": str(home)}).write_text(json.dumps(USER))
    assert (
        adc_file({"HOME": str(home)})
        == home / ".config/gcloud/application_default_credentials.json"
    )
    source = build_deployments(cfg, env={"HOME": str(home)})["claude"][0].provider.token_source
    assert isinstance(source, UserTokenSource)
    assert source.headers == {"x-goog-user-project": "acme-dev"}
    assert source.user.token_uri == "https://oauth2.googleapis.com/token"
    assert USER["refresh_token"] not in repr(source) and USER["client_secret"] not in repr(source)
    assert set(source.secrets()) == {USER["refresh_token"], USER["client_secret"]}
    # CLOUDSDK_CONFIG moves gcloud's directory; GOOGLE_APPLICATION_CREDENTIALS wins over both.
    moved = tmp_path / "gcloud"
    moved.mkdir()
    (moved / "application_default_credentials.json").write_text(json.dumps(USER))
    env = {"CLOUDSDK_CONFIG": str(moved)}
    assert isinstance(
        build_deployments(cfg, env=env)["claude"][0].provider.token_source, UserTokenSource
    )
    env = {"HOME": str(home), "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
    first = build_deployments(cfg, env=env)["claude"][0].provider.token_source
    assert isinstance(first, ServiceAccountTokenSource)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({**USER, "refresh_token": ""}, "lacks refresh_token"),
        ({k: v for k, v in USER.items() if k != "client_secret"}, "lacks client_secret"),
        ({**USER, "token_uri": "ftp://x"}, "token_uri must be an http"),
        ({"type": "external_account", "audience": "//iam"}, "type external_account are not supp"),
        ({"type": "impersonated_service_account"}, "impersonated_service_account are not"),
        ([1, 2], "not a Google credentials file"),
    ],
)
def test_unusable_credentials_files_say_why(tmp_path: Path, data: Any, says: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=says):
        token_source_from_file(path)


def test_user_credentials_refresh_with_the_refresh_token_grant(
    token_server: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({**USER, "token_uri": token_server["url"]}))
    source = token_source_from_file(path)

    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            return await source.token(session)

    assert token_server["loop"].run_until_complete(run()).startswith("ya29.")
    form = token_server["forms"][-1]
    assert form == {
        "grant_type": "refresh_token",
        "client_id": USER["client_id"],
        "client_secret": USER["client_secret"],
        "refresh_token": USER["refresh_token"],
    }
