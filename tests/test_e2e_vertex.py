"""End to end: official SDKs -> `bordergate serve` -> Claude on Google Vertex AI (emulated).

The gateway holds a service-account key, gets access tokens from the emulator's OAuth token
endpoint (the JWT bearer grant, as Google's), and calls the Vertex rawPredict routes with them;
the emulator refuses `ya29.emu-` tokens it did not issue, so a served request proves the
gateway used a token it obtained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bordergate.emulator.content import auth_fingerprint, digest_of
from tests.support import (
    audit_event,
    build_fingerprints,
    derive_config,
    emulator,
    gateway,
    service_account_info,
)

DEMO_KEY = "bg-demo-key"
MODEL = "claude-sonnet-4-5@20250929"
PROJECT = "acme-prod"
REGION = "europe-west1"
MODELS_PATH = f"/v1/projects/{PROJECT}/locations/{REGION}/publishers/anthropic/models"


def key_file(path: Path, token_uri: str, key: rsa.RSAPrivateKey) -> Path:
    path.write_text(json.dumps(service_account_info(key, token_uri, PROJECT)))
    return path


def _config(tmp: Path, emu: str, key: rsa.RSAPrivateKey, token_query: str = "") -> Path:
    def vertex(name: str, query: str) -> dict[str, Any]:
        sa = key_file(tmp / f"{name}.json", f"{emu}/token{query}", key)
        return {
            "preset": "vertex",
            "project": PROJECT,
            "region": REGION,
            "base_url": f"{emu}/v1",
            "credentials_file": str(sa),
        }

    providers = {
        "vertex": vertex("vertex", token_query),
        "vertex-broken": vertex("broken", "?status=500"),
    }
    models = {
        "claude-vertex": [{"provider": "vertex", "model": MODEL}],
        "claude-broken": [{"provider": "vertex-broken", "model": MODEL}],
    }
    build_fingerprints(tmp / "bordergate-src.fpi")
    return derive_config(tmp, emu, drop=["policy"], providers=providers, models=models)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


@pytest.fixture(scope="module")
def served(
    emu: str, signing_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("vertex-gw")
    with gateway(_config(tmp, emu, signing_key)) as url:
        yield url, tmp


@pytest.fixture
def oai(served: tuple[str, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[0] + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)


@pytest.fixture
def ant(served: tuple[str, Path]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served[0], api_key=DEMO_KEY, max_retries=0, timeout=20)


def requests_seen(emu: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
    return seen


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_client_gets_claude_on_vertex(
    oai: openai.OpenAI, emu: str, served: tuple[str, Path], stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": "hello vertex\n@emulator chunks=4"}]
    if stream:
        chunks = list(
            oai.chat.completions.create(model="claude-vertex", messages=messages, stream=True)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        raw = oai.chat.completions.with_raw_response.create(
            model="claude-vertex", messages=messages
        )
        text = raw.parse().choices[0].message.content or ""
        event = audit_event(served[1], raw.headers["x-request-id"])
        assert (event["vendor"], event["host"], event["region"]) == (
            "anthropic",
            "google-vertex",
            REGION,
        )
    assert digest_of("hello vertex") in text
    sent = requests_seen(emu)[-1]
    verb = "streamRawPredict" if stream else "rawPredict"
    assert sent["path"] == f"{MODELS_PATH}/{MODEL}:{verb}"
    assert "model" not in sent["body"] and sent["body"]["anthropic_version"] == "vertex-2023-10-16"
    assert sent["body"].get("stream", False) is stream


def test_the_gateway_signs_for_its_own_token_and_uses_it(
    oai: openai.OpenAI, emu: str, signing_key: rsa.RSAPrivateKey
) -> None:
    oai.chat.completions.create(model="claude-vertex", messages=[{"role": "user", "content": "t"}])
    seen = requests_seen(emu)
    grants = [r for r in seen if r["path"] == "/token"]
    assert grants, "the gateway never asked for a token"
    assertion = grants[-1]["body"]["assertion"]
    claims = jwt.decode(
        assertion, signing_key.public_key(), algorithms=["RS256"], audience=f"{emu}/token"
    )
    assert claims["iss"] == f"gateway@{PROJECT}.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    call = seen[-1]
    assert call["path"].endswith(":rawPredict") and call["auth"]["header"] == "authorization"
    # One token serves many requests: no token call between these two.
    oai.chat.completions.create(model="claude-vertex", messages=[{"role": "user", "content": "u"}])
    again = requests_seen(emu)
    assert again[-1]["seq"] == call["seq"] + 1 and again[-1]["auth"] == call["auth"]
    assert call["auth"]["sha256"] != auth_fingerprint(assertion)


def test_anthropic_client_body_goes_to_vertex_as_written(
    ant: anthropic.Anthropic, emu: str
) -> None:
    messages: list[Any] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    with ant.messages.stream(
        model="claude-vertex",
        max_tokens=100,
        messages=messages,
        extra_body={"top_k": 4},
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    ) as events:
        message = events.get_final_message()
    assert digest_of("c") in "".join(b.text for b in message.content if b.type == "text")
    sent = requests_seen(emu)[-1]
    assert sent["path"] == f"{MODELS_PATH}/{MODEL}:streamRawPredict"
    assert sent["body"] == {
        "max_tokens": 100,
        "messages": messages,
        "top_k": 4,
        "stream": True,
        "anthropic_version": "vertex-2023-10-16",
    }
    assert sent["headers"]["anthropic-beta"] == "context-1m-2025-08-07"


def test_count_tokens_asks_vertex(ant: anthropic.Anthropic, emu: str) -> None:
    counted = ant.messages.count_tokens(
        model="claude-vertex", messages=[{"role": "user", "content": "how many tokens is this"}]
    )
    assert counted.input_tokens > 0
    sent = requests_seen(emu)[-1]
    assert sent["path"] == f"{MODELS_PATH}/count-tokens:rawPredict"
    assert sent["body"]["model"] == MODEL


def test_no_token_means_a_clear_502_and_nothing_sent(oai: openai.OpenAI, emu: str) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(
            model="claude-broken", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 502
    assert "vertex-broken" in info.value.message and "access token" in info.value.message
    assert requests_seen(emu)[-1]["path"] == "/token"  # the model route was never called


def test_an_expiring_token_is_replaced(
    emu: str, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    with gateway(_config(tmp_path, emu, signing_key, "?expires_in=6")) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=DEMO_KEY, max_retries=0)

        def ask() -> dict[str, Any]:
            client.chat.completions.create(
                model="claude-vertex", messages=[{"role": "user", "content": "tick"}]
            )
            auth: dict[str, Any] = requests_seen(emu)[-1]["auth"]
            return auth

        first = ask()
        assert ask() == first  # good for half its 6 s life
        time.sleep(3.2)
        assert ask() != first  # replaced past half-way, before it expires


def default_credentials_config(tmp_path: Path, emu: str) -> Path:
    """A gateway whose Vertex provider takes Application Default Credentials."""
    provider = {
        "preset": "vertex",
        "project": PROJECT,
        "region": REGION,
        "base_url": f"{emu}/v1",
        "google_credentials": "default",
    }
    build_fingerprints(tmp_path / "bordergate-src.fpi")
    return derive_config(
        tmp_path,
        emu,
        drop=["policy"],
        providers={"vertex": provider},
        models={"claude-vertex": [{"provider": "vertex", "model": MODEL}]},
    )


def test_default_credentials_on_google_cloud_come_from_the_metadata_server(
    emu: str, tmp_path: Path
) -> None:
    config = default_credentials_config(tmp_path, emu)
    env = {
        "GCE_METADATA_HOST": emu.removeprefix("http://"),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),  # no user login on this machine
    }
    with gateway(config, env=env) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=DEMO_KEY, max_retries=0)
        reply = client.chat.completions.create(
            model="claude-vertex", messages=[{"role": "user", "content": "on gke"}]
        )
        assert digest_of("on gke") in (reply.choices[0].message.content or "")
        seen = requests_seen(emu)
        asked = seen[-2]
        assert asked["path"] == "/computeMetadata/v1/instance/service-accounts/default/token"
        assert asked["headers"]["metadata-flavor"] == "Google" and asked["status"] == 200
        assert seen[-1]["path"].endswith(":rawPredict")


def test_a_revoked_token_fails_one_request_and_the_next_gets_a_fresh_one(
    oai: openai.OpenAI, emu: str
) -> None:
    oai.chat.completions.create(model="claude-vertex", messages=[{"role": "user", "content": "a"}])
    assert httpx.delete(f"{emu}/_emulator/credentials").json()["revoked"] >= 1
    with pytest.raises(openai.InternalServerError, match="rejected the gateway's credentials"):
        oai.chat.completions.create(
            model="claude-vertex", messages=[{"role": "user", "content": "b"}]
        )
    reply = oai.chat.completions.create(
        model="claude-vertex", messages=[{"role": "user", "content": "c"}]
    )
    assert digest_of("c") in (reply.choices[0].message.content or "")
    seen = requests_seen(emu)
    assert [r["path"] for r in seen[-2:]] == ["/token", f"{MODELS_PATH}/{MODEL}:rawPredict"]


def test_default_credentials_on_a_laptop_come_from_the_gcloud_login(
    emu: str, tmp_path: Path
) -> None:
    """`gcloud auth application-default login` left user credentials: the gateway exchanges
    the refresh token at the token endpoint and bills the user's quota project."""
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    (gcloud / "application_default_credentials.json").write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "764086051850-emulated.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "refresh_token": "1//0g-developer-refresh-token",
                "token_uri": f"{emu}/token",
                "quota_project_id": "acme-dev",
            }
        )
    )
    config = default_credentials_config(tmp_path, emu)
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "CLOUDSDK_CONFIG": str(gcloud),
        "GCE_METADATA_HOST": "127.0.0.1:9",  # must not be asked
    }
    with gateway(config, env=env) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=DEMO_KEY, max_retries=0)
        reply = client.chat.completions.create(
            model="claude-vertex", messages=[{"role": "user", "content": "on my laptop"}]
        )
        assert digest_of("on my laptop") in (reply.choices[0].message.content or "")
        asked, served = requests_seen(emu)[-2:]
        assert asked["path"] == "/token" and asked["body"]["grant_type"] == "refresh_token"
        assert served["path"].endswith(":rawPredict") and served["status"] == 200
        assert served["headers"]["x-goog-user-project"] == "acme-dev"
        # Served: the emulator accepts only ya29.emu- tokens it issued, so the gateway used the
        # token the refresh gave it.
        assert served["auth"]["header"] == "authorization"
