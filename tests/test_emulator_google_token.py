"""The emulator's Google OAuth 2.0 token endpoint (JWT bearer and refresh grants), and Vertex.

``google-auth`` is the independent client: its service-account credentials sign the assertion
and parse the answer exactly as against https://oauth2.googleapis.com/token. Grants it would
never send (wrong grant type, expired or malformed JWTs) are posted with httpx, signed with
pyjwt. The issued token is then used with ``anthropic.AnthropicVertex``.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import google.auth.exceptions
import google.auth.transport.urllib3
import httpx
import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from bordergate.emulator import digest_of
from bordergate.emulator.google_oauth import GOOGLE_TOKEN_URI, JWT_BEARER_GRANT
from tests.support import emulator, service_account_info

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EMAIL = "sa@p.iam.gserviceaccount.com"
MODEL = "claude-sonnet-4-5@20250929"
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential."
        ),
        "status": "UNAUTHENTICATED",
    }
}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with emulator() as base:
        yield base


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def transport() -> Iterator[google.auth.transport.urllib3.Request]:
    pool = urllib3.PoolManager()
    yield google.auth.transport.urllib3.Request(pool)
    pool.clear()


def credentials(key: rsa.RSAPrivateKey, token_uri: str) -> service_account.Credentials:
    info = service_account_info(key, token_uri, email=EMAIL)
    creds: service_account.Credentials = service_account.Credentials.from_service_account_info(
        info, scopes=[SCOPE]
    )
    return creds


def fresh_token(
    key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request, token_uri: str
) -> service_account.Credentials:
    creds = credentials(key, token_uri)
    creds.refresh(transport)
    return creds


def seconds_ahead(expiry: datetime.datetime) -> float:
    # google-auth keeps expiry as a naive UTC datetime
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return (expiry - now).total_seconds()


def recorded(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(url + "/_emulator/requests").json()
    return entries


def vertex(url: str, token: str) -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(
        region="europe-west1",
        project_id="p",
        access_token=token,
        base_url=url + "/v1",
        max_retries=0,
    )


def ask(url: str, token: str, text: str = "vertex?") -> str:
    with vertex(url, token) as client:
        message = client.messages.create(
            model=MODEL, max_tokens=20, messages=[{"role": "user", "content": text}]
        )
    block = message.content[0]
    assert block.type == "text"
    return block.text


def claims(now: float | None = None, **changes: Any) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    base: dict[str, Any] = {
        "iss": EMAIL,
        "scope": SCOPE,
        "aud": GOOGLE_TOKEN_URI,
        "iat": issued,
        "exp": issued + 3600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def grant(
    token_url: str, assertion: str | None, grant_type: str = JWT_BEARER_GRANT
) -> httpx.Response:
    form = {"grant_type": grant_type}
    if assertion is not None:
        form["assertion"] = assertion
    return httpx.post(token_url, data=form)


# --- google-auth as the client ------------------------------------------------------------------


def test_google_auth_gets_a_token_for_its_signed_assertion(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    token_uri = url + "/token"
    creds = fresh_token(key, transport, token_uri)
    assert creds.token.startswith("ya29.emu-")
    suffix = creds.token.removeprefix("ya29.emu-")
    assert len(suffix) == 24 and int(suffix, 16) >= 0
    assert 3590 <= seconds_ahead(creds.expiry) <= 3600
    assert creds.valid

    entry = recorded(url)[-1]
    assert entry["method"] == "POST" and entry["path"] == "/token" and entry["status"] == 200
    assert entry["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert entry["body"]["grant_type"] == JWT_BEARER_GRANT
    assertion = entry["body"]["assertion"]
    # The recorded assertion is the one google-auth signed: it verifies with the public key.
    # google-auth always names Google's endpoint as the audience, whatever the token_uri.
    verified = jwt.decode(
        assertion, key=key.public_key(), algorithms=["RS256"], audience=GOOGLE_TOKEN_URI
    )
    assert verified["iss"] == EMAIL and verified["scope"] == SCOPE
    assert jwt.get_unverified_header(assertion)["kid"] == "kid-1"


def test_every_grant_issues_a_different_token(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    tokens = {fresh_token(key, transport, url + "/token").token for _ in range(3)}
    assert len(tokens) == 3


def test_expires_in_knob_sets_the_reported_lifetime(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    creds = fresh_token(key, transport, url + "/token?expires_in=600")
    assert 590 <= seconds_ahead(creds.expiry) <= 600
    assert recorded(url)[-1]["path"] == "/token"  # the query string is not part of the path


def test_status_knob_makes_refresh_fail(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    httpx.delete(url + "/_emulator/requests")
    creds = credentials(key, url + "/token?status=500")
    with pytest.raises(google.auth.exceptions.RefreshError, match="emulated error status 500"):
        creds.refresh(transport)
    assert creds.token is None
    attempts = recorded(url)
    assert attempts and all(e["path"] == "/token" and e["status"] == 500 for e in attempts)


# --- the endpoint over plain HTTP ---------------------------------------------------------------


def test_success_body_and_headers(url: str, key: rsa.RSAPrivateKey) -> None:
    response = grant(url + "/token", sign(key, claims()))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["access_token"].startswith("ya29.emu-") and len(body["access_token"]) == 33
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"


def test_status_knob_body(url: str, key: rsa.RSAPrivateKey) -> None:
    response = grant(url + "/token?status=503", sign(key, claims()))
    assert response.status_code == 503
    assert response.json() == {
        "error": "internal_failure",
        "error_description": "emulated error status 503",
    }


def test_audience_may_be_this_endpoint_with_or_without_the_query(
    url: str, key: rsa.RSAPrivateKey
) -> None:
    assert grant(url + "/token", sign(key, claims(aud=url + "/token"))).status_code == 200
    with_knobs = url + "/token?expires_in=60"
    for aud in (url + "/token", with_knobs):
        response = grant(with_knobs, sign(key, claims(aud=aud)))
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] == 60
    # `localhost` is another host name than the one the request was posted to
    elsewhere = url.replace("127.0.0.1", "localhost") + "/token"
    response = grant(url + "/token", sign(key, claims(aud=elsewhere)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "audience" in response.json()["error_description"]


def test_latency_knob_delays_the_answer(url: str, key: rsa.RSAPrivateKey) -> None:
    started = time.monotonic()
    response = grant(url + "/token?latency_ms=300", sign(key, claims()))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_wrong_grant_type(url: str, key: rsa.RSAPrivateKey) -> None:
    response = grant(url + "/token", sign(key, claims()), grant_type="client_credentials")
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Invalid grant_type: client_credentials",
    }
    entry = recorded(url)[-1]
    assert entry["status"] == 400 and entry["body"]["grant_type"] == "client_credentials"


def test_missing_assertion(url: str) -> None:
    response = grant(url + "/token", None)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: assertion",
    }


def _hs256(key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(claims(), "a-shared-secret-of-at-least-32-bytes", algorithm="HS256")


TIMES = "Check your iat and exp values"
# case -> (assertion maker, what the error description says)
BAD_ASSERTIONS: dict[str, tuple[Callable[[rsa.RSAPrivateKey], str], str]] = {
    "expired": (lambda key: sign(key, claims(now=time.time() - 7200)), TIMES),
    "too long-lived": (lambda key: sign(key, claims(exp=int(time.time()) + 7200)), TIMES),
    "issued in the future": (lambda key: sign(key, claims(now=time.time() + 900)), TIMES),
    "exp before iat": (
        lambda key: sign(key, claims(now=time.time() + 200, exp=int(time.time()) + 100)),
        TIMES,
    ),
    "iat not a number": (lambda key: sign(key, claims(iat="now")), TIMES),
    "no exp": (lambda key: sign(key, claims(exp=None)), TIMES),
    "no iss": (lambda key: sign(key, claims(iss=None)), "issuer"),
    "empty scope": (lambda key: sign(key, claims(scope=" ")), "scope"),
    "no scope": (lambda key: sign(key, claims(scope=None)), "scope"),
    "wrong audience": (
        lambda key: sign(key, claims(aud="https://example.com/token")),
        "Failed audience check",
    ),
    "HS256": (_hs256, "RS256"),
    "two parts": (lambda key: sign(key, claims()).rpartition(".")[0], "three"),
    "no signature": (lambda key: sign(key, claims()).rpartition(".")[0] + ".", "Signature"),
    "four parts": (lambda key: sign(key, claims()) + ".e30", "three"),
    "not base64url": (lambda key: "e30=.e30.c2ln", "base64url"),
    "not JSON": (lambda key: "bm90IGpzb24.e30.c2ln", "JSON"),
    "claims not an object": (lambda key: "eyJhbGciOiJSUzI1NiJ9.WzFd.c2ln", "object"),
}


@pytest.mark.parametrize("case", list(BAD_ASSERTIONS))
def test_bad_assertions_are_invalid_grants(url: str, key: rsa.RSAPrivateKey, case: str) -> None:
    make, says = BAD_ASSERTIONS[case]
    response = grant(url + "/token", make(key))
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "invalid_grant"
    assert says in body["error_description"]
    assert recorded(url)[-1]["status"] == 400


def test_a_form_is_required(url: str, key: rsa.RSAPrivateKey) -> None:
    body = {"grant_type": JWT_BEARER_GRANT, "assertion": sign(key, claims())}
    response = httpx.post(url + "/token", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert httpx.get(url + "/token").status_code == 405


@pytest.mark.parametrize("query", ["expires_in=0", "expires_in=x", "status=200", "colour=red"])
def test_bad_knobs_are_refused(url: str, key: rsa.RSAPrivateKey, query: str) -> None:
    response = grant(f"{url}/token?{query}", sign(key, claims()))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith("emulator: ")


# --- the issued token on the Vertex AI routes ---------------------------------------------------


def test_an_issued_token_is_accepted_by_vertex(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    creds = fresh_token(key, transport, url + "/token")
    assert ask(url, creds.token) == f"emulated reply from {MODEL}: sha256={digest_of('vertex?')}"
    entry = recorded(url)[-1]
    assert entry["path"].endswith(f"/models/{MODEL}:rawPredict") and entry["status"] == 200


def test_an_unknown_emulator_token_is_refused(url: str) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        ask(url, "ya29.emu-000000000000000000000000")
    assert info.value.status_code == 401
    assert info.value.response.json() == UNAUTHENTICATED
    # count-tokens is a Vertex route too
    counted = httpx.post(
        url + "/v1/projects/p/locations/europe-west1/publishers/anthropic/models/"
        "count-tokens:rawPredict",
        headers={"authorization": "Bearer ya29.emu-forged"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
    )
    assert counted.status_code == 401 and counted.json() == UNAUTHENTICATED


def test_other_bearer_tokens_are_still_accepted(url: str) -> None:
    for token in ("ya29.a0-real-looking-google-token", "anything"):
        assert ask(url, token).startswith(f"emulated reply from {MODEL}")


def test_an_expired_token_is_refused(
    url: str, key: rsa.RSAPrivateKey, transport: google.auth.transport.urllib3.Request
) -> None:
    creds = fresh_token(key, transport, url + "/token?expires_in=3")
    assert ask(url, creds.token).startswith("emulated reply")
    time.sleep(3.2)
    with pytest.raises(anthropic.AuthenticationError):
        ask(url, creds.token)
    # a fresh one works again
    assert ask(url, fresh_token(key, transport, url + "/token").token).startswith("emulated")


def test_metadata_server_tokens_need_the_flavor_header_and_open_vertex(url: str) -> None:
    path = f"{url}/computeMetadata/v1/instance/service-accounts/default/token"
    refused = httpx.get(path)
    assert refused.status_code == 403 and b"Metadata-Flavor" in refused.content
    answer = httpx.get(path, headers={"Metadata-Flavor": "Google"})
    assert answer.status_code == 200 and answer.headers["metadata-flavor"] == "Google"
    token = answer.json()["access_token"]
    assert token.startswith("ya29.emu-") and answer.json()["expires_in"] > 3000
    client = anthropic.AnthropicVertex(
        region="europe-west1", project_id="p", access_token=token, base_url=f"{url}/v1"
    )
    message = client.messages.create(
        model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "md"}]
    )
    assert digest_of("md") in message.content[0].text  # type: ignore[union-attr]


# --- user credentials (gcloud auth application-default login): the refresh-token grant --------


def user_credentials(url: str, refresh_token: str = "1//emulated-refresh") -> Any:
    from google.oauth2 import credentials as user

    return user.Credentials(
        token=None,
        refresh_token=refresh_token,
        client_id="764086051850-emulated.apps.googleusercontent.com",
        client_secret="d-FL95Q19q7MQmFpd7hHD0Ty",
        token_uri=url + "/token",
    )


def test_google_auth_refreshes_user_credentials(
    url: str, transport: google.auth.transport.urllib3.Request
) -> None:
    creds = user_credentials(url)
    creds.refresh(transport)
    assert creds.token.startswith("ya29.emu-") and creds.valid
    assert 3590 <= seconds_ahead(creds.expiry) <= 3600
    entry = recorded(url)[-1]
    assert entry["path"] == "/token" and entry["status"] == 200
    assert entry["body"]["grant_type"] == "refresh_token"
    # The long-lived secrets are recorded only as fingerprints.
    assert entry["body"]["refresh_token"].startswith("sha256:")
    assert entry["body"]["client_secret"].startswith("sha256:")
    assert "emulated-refresh" not in str(entry)
    assert ask(url, creds.token) == f"emulated reply from {MODEL}: sha256={digest_of('vertex?')}"


def test_a_revoked_refresh_token_is_refused_as_google_does(
    url: str, transport: google.auth.transport.urllib3.Request
) -> None:
    with pytest.raises(google.auth.exceptions.RefreshError, match="expired or revoked"):
        user_credentials(url, "revoked").refresh(transport)
    answer = httpx.post(
        url + "/token", data={"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c"}
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: client_secret",
    }
