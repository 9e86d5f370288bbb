"""The emulator's AWS credential services (IMDSv2, container credentials, STS web identity) and
their tie-in with the Bedrock routes.

botocore is the independent client: its own credential providers (the default chain driven by
the same environment variables as on EC2, ECS/EKS and EKS IRSA) fetch and parse the credentials,
its STS client calls AssumeRoleWithWebIdentity, and its SigV4 signer signs the Bedrock calls
made with what they obtained. Requests botocore would never send go out with httpx.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleWithWebIdentityProvider,
    ContainerProvider,
    Credentials,
    InstanceMetadataProvider,
    ReadOnlyCredentials,
)
from botocore.exceptions import ClientError, CredentialRetrievalError
from botocore.utils import ContainerMetadataFetcher, InstanceMetadataFetcher

from bordergate.emulator import auth_fingerprint, digest_of
from bordergate.emulator.aws_credentials import match
from bordergate.emulator.bedrock_wire import BEDROCK_VERSION
from tests.support import AWS_CREDENTIAL_VARIABLES, emulator

ROLE = "bordergate-emulated-role"
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
ROLE_ARN = "arn:aws:iam::123456789012:role/irsa-role"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
ISO = "%Y-%m-%dT%H:%M:%SZ"
# An EKS service-account token's shape (unsigned here: the emulator does not verify it).
WEB_IDENTITY_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0."
    "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWk6Ym9yZGVyZ2F0ZSIsImF1ZCI6WyJzdHMuYW1hem9uYXdz"
    "LmNvbSJdLCJpc3MiOiJodHRwczovL29pZGMuZWtzLmV1LWNlbnRyYWwtMS5hbWF6b25hd3MuY29tL2lkL0VYQU1Q"
    "TEUifQ.c2lnbmF0dXJl"
)
SUBJECT = "system:serviceaccount:ai:bordergate"
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
AWS_ENVIRONMENT = AWS_CREDENTIAL_VARIABLES


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with emulator() as base:
        yield base


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment where botocore's default chain finds nothing unless a test sets it."""
    for name in AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    return monkeypatch


def recorded(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(url + "/_emulator/requests").json()
    return entries


def since(url: str, seq: int) -> list[dict[str, Any]]:
    return [entry for entry in recorded(url) if entry["seq"] > seq]


def last_seq(url: str) -> int:
    entries = recorded(url)
    return int(entries[-1]["seq"]) if entries else 0


def seconds_ahead(expiry: datetime.datetime | str) -> float:
    if isinstance(expiry, str):
        expiry = datetime.datetime.strptime(expiry, ISO).replace(tzinfo=datetime.UTC)
    return (expiry - datetime.datetime.now(datetime.UTC)).total_seconds()


def imds_fetcher(endpoint: str) -> InstanceMetadataFetcher:
    # What AWS_EC2_METADATA_SERVICE_ENDPOINT becomes in botocore's config.
    return InstanceMetadataFetcher(
        timeout=2, num_attempts=1, config={"ec2_metadata_service_endpoint": endpoint}
    )


def container_provider(full_uri: str, token: str | None = None) -> ContainerProvider:
    environ = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": full_uri}
    if token is not None:
        environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    return ContainerProvider(
        environ=environ, fetcher=ContainerMetadataFetcher(sleep=lambda _: None)
    )


def sts_client(url: str) -> Any:
    session = botocore.session.Session()
    return session.create_client(
        "sts",
        region_name="eu-central-1",
        endpoint_url=url,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


def imds_session(url: str, ttl: str = "60") -> str:
    response = httpx.put(
        url + "/latest/api/token", headers={"x-aws-ec2-metadata-token-ttl-seconds": ttl}
    )
    assert response.status_code == 200, response.text
    return response.text


def raw_imds_credentials(url: str, query: str = "") -> dict[str, Any]:
    token = imds_session(url)
    response = httpx.get(
        f"{url}{ROLE_PATH}{ROLE}{query}", headers={"x-aws-ec2-metadata-token": token}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def container_credentials(url: str, query: str = "") -> ReadOnlyCredentials:
    body = httpx.get(f"{url}/v2/credentials/task{query}").json()
    return ReadOnlyCredentials(body["AccessKeyId"], body["SecretAccessKey"], body["Token"])


def bedrock_body(text: str) -> dict[str, Any]:
    return {
        "anthropic_version": BEDROCK_VERSION,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": text}],
    }


def invoke(
    url: str, creds: ReadOnlyCredentials | Credentials, text: str = "signed"
) -> httpx.Response:
    """A Bedrock InvokeModel call SigV4-signed by botocore with ``creds``, sent with httpx."""
    target = f"{url}/model/{MODEL}/invoke"
    payload = json.dumps(bedrock_body(text)).encode()
    request = AWSRequest(
        method="POST", url=target, data=payload, headers={"content-type": "application/json"}
    )
    signing = Credentials(creds.access_key, creds.secret_key, creds.token)
    SigV4Auth(signing, "bedrock", "eu-central-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if v is not None}
    return httpx.post(target, content=payload, headers=headers)


def assert_accepted(response: httpx.Response, text: str = "signed") -> None:
    assert response.status_code == 200, response.text
    reply = response.json()["content"][0]["text"]
    assert reply == f"emulated reply from {MODEL}: sha256={digest_of(text)}"


def assert_refused(response: httpx.Response, exception: str, message: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"] == (
        f"{exception}:http://internal.amazon.com/coral/com.amazon.coral.service/"
    )
    assert response.json() == {"message": message}


# --- routing ------------------------------------------------------------------------------------


def test_credential_service_paths() -> None:
    assert (route := match("/")) is not None and route.service == "sts"
    assert (route := match("/latest/api/token")) is not None and route.service == "imds-token"
    for listing in (ROLE_PATH, ROLE_PATH[:-1]):
        assert (route := match(listing)) is not None and route.service == "imds-roles"
    route = match(ROLE_PATH + ROLE)
    assert route is not None and (route.service, route.rest) == ("imds-role", ROLE)
    route = match("/v2/credentials/abc-123")
    assert route is not None and (route.service, route.rest) == ("container", "abc-123")
    route = match(f"/_emulator/aws/expires_in=5{ROLE_PATH}{ROLE}")
    assert route is not None and (route.service, route.knobs) == ("imds-role", "expires_in=5")
    assert (route := match("/_emulator/aws/expires_in=5/")) is not None and route.service == "sts"
    for other in ("/v2/credentials/", "/v2/nothing", "/latest/meta-data/", "/_emulator/aws/x"):
        assert match(other) is None


# --- EC2 instance metadata (IMDSv2) -------------------------------------------------------------


def test_default_chain_gets_instance_profile_credentials(
    url: str, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    before = last_seq(url)
    creds = botocore.session.Session().get_credentials()
    assert creds is not None and creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIAEMU") and len(frozen.access_key) == 20
    assert frozen.secret_key and frozen.token

    calls = since(url, before)
    assert [(e["method"], e["path"], e["status"]) for e in calls] == [
        ("PUT", "/latest/api/token", 200),
        ("GET", ROLE_PATH, 200),
        ("GET", ROLE_PATH + ROLE, 200),
    ]
    assert calls[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    session_token = calls[1]["headers"]["x-aws-ec2-metadata-token"]
    assert session_token.startswith("sha256:") and len(session_token) == 7 + 16
    assert calls[2]["headers"]["x-aws-ec2-metadata-token"] == session_token

    assert_accepted(invoke(url, frozen))


def test_instance_metadata_fetcher_reports_the_expiry(url: str) -> None:
    metadata = imds_fetcher(url).retrieve_iam_role_credentials()
    assert metadata["role_name"] == ROLE
    assert metadata["access_key"].startswith("ASIAEMU")
    assert 3590 <= seconds_ahead(metadata["expiry_time"]) <= 3600
    provider = InstanceMetadataProvider(iam_role_fetcher=imds_fetcher(url))
    creds = provider.load()
    assert creds is not None and creds.method == "iam-role"
    assert creds.get_frozen_credentials().access_key.startswith("ASIAEMU")


def test_imds_lifetime_from_the_endpoint_path(url: str) -> None:
    # An SDK only takes an endpoint: the knob rides in its path. (Lifetimes under ~20 minutes
    # would be "extended" by botocore's IMDS static-stability logic, so keep this one long.)
    before = last_seq(url)
    metadata = imds_fetcher(f"{url}/_emulator/aws/expires_in=7200").retrieve_iam_role_credentials()
    assert 7190 <= seconds_ahead(metadata["expiry_time"]) <= 7200
    paths = [e["path"] for e in since(url, before)]
    assert paths == [
        "/_emulator/aws/expires_in=7200/latest/api/token",
        f"/_emulator/aws/expires_in=7200{ROLE_PATH}",
        f"/_emulator/aws/expires_in=7200{ROLE_PATH}{ROLE}",
    ]


def test_imds_over_http(url: str) -> None:
    put = httpx.put(
        url + "/latest/api/token", headers={"x-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    assert put.status_code == 200
    assert put.headers["content-type"] == "text/plain"
    assert put.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "300"
    token = put.text
    assert len(token) >= 40
    assert imds_session(url) != token  # a new session each time
    auth = {"x-aws-ec2-metadata-token": token}

    listing = httpx.get(url + ROLE_PATH, headers=auth)
    assert listing.status_code == 200 and listing.text == ROLE
    assert listing.headers["content-type"] == "text/plain"
    assert httpx.get(url + ROLE_PATH[:-1], headers=auth).text == ROLE

    started = datetime.datetime.now(datetime.UTC)
    role = httpx.get(url + ROLE_PATH + ROLE, headers=auth)
    assert role.status_code == 200
    assert role.headers["content-type"] == "application/json"
    body = role.json()
    assert set(body) == {
        "Code",
        "LastUpdated",
        "Type",
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
    }
    assert body["Code"] == "Success" and body["Type"] == "AWS-HMAC"
    assert body["AccessKeyId"].startswith("ASIAEMU") and len(body["AccessKeyId"]) == 20
    updated = datetime.datetime.strptime(body["LastUpdated"], ISO).replace(tzinfo=datetime.UTC)
    assert abs((updated - started).total_seconds()) <= 2
    assert 3590 <= seconds_ahead(body["Expiration"]) <= 3600
    again = httpx.get(url + ROLE_PATH + ROLE, headers=auth).json()
    assert again["AccessKeyId"] != body["AccessKeyId"]  # every fetch issues new credentials

    short = raw_imds_credentials(url, "?expires_in=60")
    assert 55 <= seconds_ahead(short["Expiration"]) <= 60


def test_imds_needs_a_live_session_token(url: str) -> None:
    for headers in ({}, {"x-aws-ec2-metadata-token": "AQAEAEmu-made-up"}):
        for path in (ROLE_PATH, ROLE_PATH + ROLE):
            response = httpx.get(url + path, headers=headers)
            assert response.status_code == 401 and response.content == b""
    assert recorded(url)[-1]["status"] == 401

    token = imds_session(url, ttl="3")
    auth = {"x-aws-ec2-metadata-token": token}
    assert httpx.get(url + ROLE_PATH, headers=auth).status_code == 200
    time.sleep(3.1)
    assert httpx.get(url + ROLE_PATH, headers=auth).status_code == 401
    assert httpx.get(url + ROLE_PATH + ROLE, headers=auth).status_code == 401


def test_botocore_gets_nothing_with_a_refused_session_token(url: str) -> None:
    class StaleSession(InstanceMetadataFetcher):
        def _fetch_metadata_token(self) -> str:
            return "AQAEAEmu-a-session-this-emulator-never-opened"

    fetcher = StaleSession(timeout=2, num_attempts=1, config={"ec2_metadata_service_endpoint": url})
    before = last_seq(url)
    assert fetcher.retrieve_iam_role_credentials() == {}
    assert InstanceMetadataProvider(iam_role_fetcher=fetcher).load() is None
    assert {(e["path"], e["status"]) for e in since(url, before)} == {(ROLE_PATH, 401)}


def test_unknown_role_is_404(url: str) -> None:
    auth = {"x-aws-ec2-metadata-token": imds_session(url)}
    assert httpx.get(url + ROLE_PATH + "some-other-role", headers=auth).status_code == 404


@pytest.mark.parametrize("ttl", [None, "0", "21601", "abc", ""])
def test_token_ttl_must_be_between_1_and_21600(url: str, ttl: str | None) -> None:
    headers = {} if ttl is None else {"x-aws-ec2-metadata-token-ttl-seconds": ttl}
    response = httpx.put(url + "/latest/api/token", headers=headers)
    assert response.status_code == 400
    assert "X-aws-ec2-metadata-token-ttl-seconds" in response.text
    assert imds_session(url, "21600")


def test_imds_methods(url: str) -> None:
    assert httpx.get(url + "/latest/api/token").status_code == 405
    token = imds_session(url)
    response = httpx.post(url + ROLE_PATH + ROLE, headers={"x-aws-ec2-metadata-token": token})
    assert response.status_code == 405


@pytest.mark.parametrize(
    "where", ["?expires_in=0", "?expires_in=x", "?expires_in=43201", "?colour=red", "prefix"]
)
def test_bad_lifetime_knobs_are_400(url: str, where: str) -> None:
    token = imds_session(url)
    if where == "prefix":
        target = f"{url}/_emulator/aws/expires_in=soon{ROLE_PATH}{ROLE}"
    else:
        target = f"{url}{ROLE_PATH}{ROLE}{where}"
    response = httpx.get(target, headers={"x-aws-ec2-metadata-token": token})
    assert response.status_code == 400
    assert response.text.startswith("emulator: ")


# --- ECS / EKS Pod Identity container credentials -----------------------------------------------


def test_container_provider_gets_credentials(url: str) -> None:
    before = last_seq(url)
    creds = container_provider(f"{url}/v2/credentials/task", token="pod-identity-token").load()
    assert creds is not None and creds.method == "container-role"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIAEMU") and frozen.token
    assert 3590 <= seconds_ahead(creds._expiry_time) <= 3600
    assert creds.account_id == "123456789012"

    (call,) = since(url, before)
    assert (call["method"], call["path"], call["status"]) == ("GET", "/v2/credentials/task", 200)
    assert call["auth"] == {
        "header": "authorization",
        "sha256": auth_fingerprint("pod-identity-token"),
    }
    assert "pod-identity-token" not in json.dumps(call)

    assert_accepted(invoke(url, frozen))


def test_default_chain_uses_the_full_uri_and_its_lifetime_knob(
    url: str, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{url}/v2/credentials/abc?expires_in=1800"
    )
    creds = botocore.session.Session().get_credentials()
    assert creds is not None and creds.method == "container-role"
    assert 1790 <= seconds_ahead(creds._expiry_time) <= 1800
    assert recorded(url)[-1]["auth"] is None  # no AWS_CONTAINER_AUTHORIZATION_TOKEN: no header
    assert_accepted(invoke(url, creds.get_frozen_credentials()))


def test_container_credentials_over_http(url: str) -> None:
    response = httpx.get(f"{url}/v2/credentials/0b6f0c3a-task", headers={"authorization": "x"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "RoleArn",
        "AccountId",
    }
    assert body["RoleArn"] == "arn:aws:iam::123456789012:role/bordergate-emulated-role"
    assert body["AccessKeyId"].startswith("ASIAEMU")
    assert 3590 <= seconds_ahead(body["Expiration"]) <= 3600
    prefixed = httpx.get(f"{url}/_emulator/aws/expires_in=120/v2/credentials/t").json()
    assert 115 <= seconds_ahead(prefixed["Expiration"]) <= 120
    assert httpx.post(f"{url}/v2/credentials/t").status_code == 405
    bad = httpx.get(f"{url}/v2/credentials/t?expires_in=-1")
    assert bad.status_code == 400 and bad.json()["message"].startswith("emulator: ")


def test_forbidden_container_id_is_a_credential_retrieval_error(url: str) -> None:
    before = last_seq(url)
    with pytest.raises(CredentialRetrievalError, match="403"):
        container_provider(f"{url}/v2/credentials/forbidden", token="t").load()
    attempts = since(url, before)
    assert attempts and all(e["status"] == 403 for e in attempts)
    response = httpx.get(f"{url}/v2/credentials/forbidden")
    assert response.status_code == 403
    assert response.json()["code"] == "AccessDenied" and response.json()["message"]


def test_an_empty_authorization_token_is_refused(url: str) -> None:
    with pytest.raises(CredentialRetrievalError, match="401"):
        container_provider(f"{url}/v2/credentials/task", token="").load()
    response = httpx.get(f"{url}/v2/credentials/task", headers={"authorization": ""})
    assert response.status_code == 401 and response.json()["code"] == "Unauthorized"


# --- STS AssumeRoleWithWebIdentity --------------------------------------------------------------


def test_sts_client_assumes_the_role(url: str) -> None:
    before = last_seq(url)
    with closing(sts_client(url)) as sts:
        answer = sts.assume_role_with_web_identity(
            RoleArn=ROLE_ARN, RoleSessionName="gateway-1", WebIdentityToken=WEB_IDENTITY_TOKEN
        )
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIAEMU") and len(creds["AccessKeyId"]) == 20
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    assert 3590 <= seconds_ahead(creds["Expiration"]) <= 3600
    assert answer["SubjectFromWebIdentityToken"] == SUBJECT
    assert answer["Provider"] == "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE"
    assert "Audience" not in answer  # the token's aud is a list: STS reports a single string
    user = answer["AssumedRoleUser"]
    assert user["Arn"] == "arn:aws:sts::123456789012:assumed-role/irsa-role/gateway-1"
    assert user["AssumedRoleId"].startswith("AROAEMU") and user["AssumedRoleId"].endswith(
        ":gateway-1"
    )
    assert len(answer["ResponseMetadata"]["RequestId"]) == 36

    (call,) = since(url, before)
    assert (call["method"], call["path"], call["status"]) == ("POST", "/", 200)
    assert call["headers"]["content-type"].startswith("application/x-www-form-urlencoded")
    assert call["body"] == {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "gateway-1",
        "WebIdentityToken": f"sha256:{auth_fingerprint(WEB_IDENTITY_TOKEN)}",
    }
    assert WEB_IDENTITY_TOKEN.split(".")[1][:20] not in json.dumps(call)

    signed = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert_accepted(invoke(url, signed, "irsa"), "irsa")


def test_duration_seconds_sets_the_lifetime(url: str) -> None:
    with closing(sts_client(url)) as sts:
        answer = sts.assume_role_with_web_identity(
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            WebIdentityToken=WEB_IDENTITY_TOKEN,
            DurationSeconds=900,
        )
    assert 890 <= seconds_ahead(answer["Credentials"]["Expiration"]) <= 900
    assert recorded(url)[-1]["body"]["DurationSeconds"] == "900"


def test_web_identity_provider_from_a_token_file(url: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    session = botocore.session.Session()
    profile = {"web_identity_token_file": str(token_file), "role_arn": ROLE_ARN}
    provider = AssumeRoleWithWebIdentityProvider(
        load_config=lambda: {"profiles": {"irsa": profile}},
        client_creator=functools.partial(
            session.create_client, region_name="eu-central-1", endpoint_url=url
        ),
        profile_name="irsa",
        disable_env_vars=True,
    )
    creds = provider.load()
    assert creds is not None
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIAEMU")
    assert 3590 <= seconds_ahead(creds._expiry_time) <= 3600
    entry = recorded(url)[-1]
    assert entry["body"]["RoleArn"] == ROLE_ARN and entry["body"]["RoleSessionName"]
    assert_accepted(invoke(url, frozen))


def test_default_chain_uses_irsa_environment(
    url: str, aws_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    aws_env.setenv("AWS_ROLE_ARN", ROLE_ARN)
    aws_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    aws_env.setenv("AWS_ENDPOINT_URL_STS", url)
    before = last_seq(url)
    creds = botocore.session.Session().get_credentials()
    assert creds is not None and creds.method == "assume-role-with-web-identity"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIAEMU")
    assert [(e["method"], e["path"]) for e in since(url, before)] == [("POST", "/")]
    assert_accepted(invoke(url, frozen))


def test_invalid_web_identity_token_is_a_client_error(url: str) -> None:
    with closing(sts_client(url)) as sts, pytest.raises(ClientError) as info:
        sts.assume_role_with_web_identity(
            RoleArn=ROLE_ARN, RoleSessionName="s1", WebIdentityToken="invalid"
        )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidIdentityToken" and error["Type"] == "Sender"
    assert "could not be validated" in error["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert recorded(url)[-1]["status"] == 400


def sts_post(url: str, **params: str) -> httpx.Response:
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", **params}
    return httpx.post(url + "/", data={k: v for k, v in form.items() if v})


def sts_error(response: httpx.Response) -> tuple[str, str, str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "text/xml"
    root = ET.fromstring(response.text)
    assert root.tag == f"{STS_NS}ErrorResponse"
    request_id = root.findtext(f"{STS_NS}RequestId")
    assert request_id and request_id == response.headers["x-amzn-requestid"]
    return (
        root.findtext(f"{STS_NS}Error/{STS_NS}Type") or "",
        root.findtext(f"{STS_NS}Error/{STS_NS}Code") or "",
        root.findtext(f"{STS_NS}Error/{STS_NS}Message") or "",
    )


def test_missing_parameters_are_validation_errors(url: str) -> None:
    kind, code, message = sts_error(sts_post(url, RoleSessionName="s1", WebIdentityToken="tok"))
    assert (kind, code) == ("Sender", "ValidationError")
    assert message == (
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
        "Member must not be null"
    )
    _, code, message = sts_error(sts_post(url))
    assert code == "ValidationError"
    assert message.startswith("3 validation errors detected: ")
    assert "'roleSessionName'" in message and "'webIdentityToken'" in message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"RoleArn": "not-an-arn"}, "Request ARN is invalid"),
        ({"RoleSessionName": "has space"}, "roleSessionName"),
        ({"RoleSessionName": "x"}, "roleSessionName"),
        ({"DurationSeconds": "43201"}, "durationSeconds"),
        ({"DurationSeconds": "0"}, "durationSeconds"),
        ({"Version": "2010-01-01"}, "Version"),
    ],
)
def test_malformed_parameters_are_validation_errors(
    url: str, change: dict[str, str], says: str
) -> None:
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "WebIdentityToken": "tok", **change}
    _, code, message = sts_error(sts_post(url, **params))
    assert code == "ValidationError" and says in message


def test_invalid_token_over_http(url: str) -> None:
    response = sts_post(url, RoleArn=ROLE_ARN, RoleSessionName="s1", WebIdentityToken="invalid")
    assert sts_error(response)[:2] == ("Sender", "InvalidIdentityToken")
    assert recorded(url)[-1]["body"]["WebIdentityToken"] == f"sha256:{auth_fingerprint('invalid')}"


def test_sts_success_over_http_and_as_a_get(url: str) -> None:
    for response in (
        sts_post(url, RoleArn=ROLE_ARN, RoleSessionName="s1", WebIdentityToken="opaque"),
        httpx.get(
            url + "/",
            params={
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": ROLE_ARN,
                "RoleSessionName": "s1",
                "WebIdentityToken": "opaque",
            },
        ),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/xml"
        root = ET.fromstring(response.text)
        assert root.tag == f"{STS_NS}AssumeRoleWithWebIdentityResponse"
        result = f"{STS_NS}AssumeRoleWithWebIdentityResult"
        key = root.findtext(f"{result}/{STS_NS}Credentials/{STS_NS}AccessKeyId")
        assert key and key.startswith("ASIAEMU")
        expiration = root.findtext(f"{result}/{STS_NS}Credentials/{STS_NS}Expiration")
        assert expiration and 3590 <= seconds_ahead(expiration) <= 3600
        # not a JWT: no claims to report
        assert root.findtext(f"{result}/{STS_NS}SubjectFromWebIdentityToken") == (
            "emulated-subject"
        )
        rid = root.findtext(f"{STS_NS}ResponseMetadata/{STS_NS}RequestId")
        assert rid == response.headers["x-amzn-requestid"]
    entry = recorded(url)[-1]
    assert (entry["method"], entry["path"]) == ("GET", "/")
    assert entry["body"]["WebIdentityToken"] == f"sha256:{auth_fingerprint('opaque')}"
    prefixed = httpx.post(
        f"{url}/_emulator/aws/expires_in=300/",
        data={
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "s1",
            "WebIdentityToken": "opaque",
        },
    )
    expiration = ET.fromstring(prefixed.text).findtext(
        f"{STS_NS}AssumeRoleWithWebIdentityResult/{STS_NS}Credentials/{STS_NS}Expiration"
    )
    assert expiration and 295 <= seconds_ahead(expiration) <= 300


def test_other_requests_to_the_root_are_still_not_found(url: str) -> None:
    before = last_seq(url)
    for response in (
        httpx.get(url + "/"),
        httpx.post(url + "/", json={"Action": "AssumeRoleWithWebIdentity"}),
        httpx.post(url + "/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
        httpx.put(url + "/", params={"Action": "AssumeRoleWithWebIdentity"}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "not found"}
    assert since(url, before) == []


# --- issued credentials on the Bedrock routes ---------------------------------------------------


def test_bedrock_records_the_session_token_as_a_fingerprint(url: str) -> None:
    creds = container_credentials(url)
    assert_accepted(invoke(url, creds))
    entry = recorded(url)[-1]
    assert entry["path"] == f"/model/{MODEL}/invoke"
    assert entry["headers"]["x-amz-security-token"] == f"sha256:{auth_fingerprint(creds.token)}"
    assert creds.token not in json.dumps(entry) and creds.access_key not in json.dumps(entry)


def test_a_made_up_emulator_key_is_refused(url: str) -> None:
    forged = Credentials("ASIAEMUAAAAAAAAAAAAA", "secret", "session-token")
    assert_refused(invoke(url, forged), "UnrecognizedClientException", INVALID_TOKEN)
    assert recorded(url)[-1]["status"] == 403


def test_an_issued_key_needs_its_own_session_token(url: str) -> None:
    creds = container_credentials(url)
    other = container_credentials(url)
    for token in (other.token, None, creds.token + "x"):
        wrong = Credentials(creds.access_key, creds.secret_key, token)
        assert_refused(invoke(url, wrong), "UnrecognizedClientException", INVALID_TOKEN)
    assert_accepted(invoke(url, creds))


def test_expired_credentials_are_refused(url: str) -> None:
    imds = raw_imds_credentials(url, "?expires_in=3")
    creds = ReadOnlyCredentials(imds["AccessKeyId"], imds["SecretAccessKey"], imds["Token"])
    assert_accepted(invoke(url, creds))
    time.sleep(3.1)
    assert_refused(invoke(url, creds), "ExpiredTokenException", EXPIRED_TOKEN)


def test_botocore_bedrock_client_reads_the_refusal(url: str) -> None:
    session = botocore.session.Session()
    client = session.create_client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=url,
        aws_access_key_id="ASIAEMUNEVERISSUED00",
        aws_secret_access_key="secret",
        aws_session_token="token",
        config=Config(retries={"max_attempts": 1}),
    )
    with closing(client), pytest.raises(ClientError) as info:
        client.invoke_model(modelId=MODEL, body=json.dumps(bedrock_body("x")))
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["Error"]["Message"] == INVALID_TOKEN
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_other_access_keys_are_still_accepted(url: str) -> None:
    for key in ("AKIAEXAMPLE", "ASIAREALLOOKINGKEY00"):
        assert_accepted(invoke(url, Credentials(key, "secret", "any-token")))
    assert_accepted(invoke(url, Credentials("AKIAEXAMPLE", "secret")))
