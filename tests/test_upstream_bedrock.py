"""Bedrock providers: what the config accepts, and the request the gateway builds from it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bordergate.config import ConfigError
from bordergate.upstream.deployments import build_deployments
from bordergate.upstream.dispatch import _native_bytes, bedrock_body, request_bytes
from tests.support import one_provider_config

MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


def config(provider: str, env: dict[str, str] | None = None, model: str = MODEL) -> Any:
    return one_provider_config(provider, name="aws", model=model, env=env)


def test_sigv4_provider_gets_the_regional_endpoint_and_a_signer() -> None:
    cfg = config(
        """
preset: bedrock
region: eu-central-1
aws_access_key_id: AKIAEXAMPLE
aws_secret_access_key: ${SECRET}
aws_session_token: ${TOKEN}
""",
        {"SECRET": "s3cr3t-value", "TOKEN": "session-token-value"},
    )
    (dep,) = build_deployments(cfg)["claude"]
    assert dep.provider.kind == "bedrock" and dep.provider.host == "aws-bedrock"
    root = "https://bedrock-runtime.eu-central-1.amazonaws.com"
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
    assert dep.url == f"{root}/model/{model}/invoke"
    assert dep.stream_url == f"{root}/model/{model}/invoke-with-response-stream"
    assert dep.provider.signer is not None and "authorization" not in dep.provider.headers
    for shown in (repr(dep), repr(dep.provider), repr(cfg)):
        assert "s3cr3t-value" not in shown and "session-token-value" not in shown


def test_bedrock_api_key_is_a_bearer_header() -> None:
    cfg = config("preset: bedrock\nregion: us-east-1\napi_key: ABSK-key")
    (dep,) = build_deployments(cfg)["claude"]
    assert dep.provider.signer is None
    assert dep.provider.headers["authorization"] == "Bearer ABSK-key"
    assert dep.url.startswith("https://bedrock-runtime.us-east-1.amazonaws.com/model/")


def test_base_url_can_point_elsewhere_for_private_endpoints() -> None:
    cfg = config(
        "preset: bedrock\nregion: eu-west-1\napi_key: k\n"
        "base_url: https://vpce-0abc.bedrock-runtime.eu-west-1.vpce.amazonaws.com/"
    )
    (dep,) = build_deployments(cfg)["claude"]
    assert dep.url.startswith(
        "https://vpce-0abc.bedrock-runtime.eu-west-1.vpce.amazonaws.com/model/"
    )


def test_an_arn_model_id_is_one_path_segment() -> None:
    arn = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-x"
    cfg = config("preset: bedrock\nregion: eu-central-1\napi_key: k", model=arn)
    (dep,) = build_deployments(cfg)["claude"]
    assert dep.url.endswith("inference-profile%2Feu.anthropic.claude-x/invoke")
    assert dep.url.count("/model/") == 1


@pytest.mark.parametrize(
    ("provider", "reason"),
    [
        ("preset: bedrock\napi_key: k", "region is required for kind: bedrock"),
        ("preset: bedrock\nregion: eu-central-1", "needs credentials"),
        (
            "preset: bedrock\nregion: eu-central-1\naws_access_key_id: AKIA",
            "needs both aws_access_key_id and aws_secret_access_key",
        ),
        (
            "preset: bedrock\nregion: eu-central-1\napi_key: k\n"
            "aws_access_key_id: A\naws_secret_access_key: S",
            "not both",
        ),
        (
            "preset: bedrock\nregion: eu-central-1\napi_key: k\naws_session_token: T",
            "aws_session_token needs",
        ),
        (
            "preset: openai\napi_key: k\naws_secret_access_key: S",
            "aws_* credentials are for kind: bedrock only",
        ),
        ("kind: openai\napi_key: k", "base_url is required"),
        ("preset: bedrock\nregion: eu-central-1.evil.com/x\napi_key: k", "not a cloud region"),
    ],
)
def test_invalid_bedrock_config_says_why(provider: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(provider)
    assert reason in str(info.value) and "test.yaml" in str(info.value)
    assert "providers.aws" in str(info.value)


def test_a_missing_secret_disables_an_optional_bedrock_provider() -> None:
    cfg = config(
        "preset: bedrock\nregion: eu-central-1\noptional: true\n"
        "aws_access_key_id: AKIA\naws_secret_access_key: ${UNSET_BEDROCK_SECRET}"
    )
    assert "aws" in cfg.disabled_providers and build_deployments(cfg)["claude"] == []


def _bedrock_dep() -> Any:
    cfg = config("preset: bedrock\nregion: eu-central-1\napi_key: k")
    return build_deployments(cfg)["claude"][0]


def test_openai_request_becomes_a_bedrock_body() -> None:
    body = {
        "model": "claude",
        "stream": True,
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
        "max_tokens": 10,
    }
    sent = orjson.loads(request_bytes(_bedrock_dep(), body, orjson.dumps(body)))
    assert sent == {
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "S",
        "anthropic_version": "bedrock-2023-05-31",
    }


def test_native_body_keeps_the_clients_fields_and_carries_betas_inside() -> None:
    original = {
        "model": "claude",
        "stream": True,
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "top_k": 3,
        "mcp_servers": [{"url": "https://x"}],
    }
    sent = orjson.loads(_native_bytes(_bedrock_dep(), original, "a-2025, b-2025 ,"))
    assert sent == {
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "top_k": 3,
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["a-2025", "b-2025"],
    }
    assert "anthropic_beta" not in bedrock_body({"messages": []}, None)
    assert "anthropic_beta" not in bedrock_body({"messages": []}, " , ")


@pytest.mark.parametrize(
    ("status", "kind", "client_status"),
    [(408, "upstream_timeout", 504), (424, "upstream_error", 502), (400, "upstream_rejected", 400)],
)
def test_bedrock_error_statuses_map_to_clear_client_errors(
    status: int, kind: str, client_status: int
) -> None:
    from bordergate.upstream.errors import from_status

    body = b'{"message": "Model has timed out in processing the request."}'
    failure = from_status("bedrock-eu", status, body, None)
    assert (failure.kind, failure.status) == (kind, client_status)
    assert "bedrock-eu" in failure.message and "timed out in processing" in failure.message
    assert failure.retryable == (status != 400)  # the next deployment may still serve it


@pytest.mark.parametrize(
    ("model", "region", "says"),
    [
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1", "any commercial"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1", "us cross-region"),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1", None),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1", None),
        ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-southeast-1", None),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.anthropic.claude-x",
            "eu-west-1",
            "any commercial",
        ),
    ],
)
def test_cross_region_profiles_are_called_out(model: str, region: str, says: str | None) -> None:
    from bordergate.upstream.deployments import cross_region_note

    note = cross_region_note("bedrock", model, region)
    assert cross_region_note("anthropic", model, region) is None
    assert (note is None) if says is None else (note is not None and says in note)


def test_static_aws_secrets_are_scrubbed_from_errors_and_logs() -> None:
    from bordergate.server.app import build_gateway
    from bordergate.server.errors import scrub

    cfg = config(
        "preset: bedrock\nregion: eu-central-1\naws_access_key_id: AKIAEXAMPLE\n"
        "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "aws_session_token: FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
    )
    build_gateway(cfg, "test.yaml")
    echoed = "denied: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY / FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
    assert scrub(echoed) == "denied: [redacted] / [redacted]"


def test_a_non_anthropic_model_on_bedrock_is_refused_at_start_up() -> None:
    from bordergate.server.app import build_gateway

    llama = "us.meta.llama3-3-70b-instruct-v1:0"
    cfg = config("preset: bedrock\nregion: us-east-1\napi_key: k", model=llama)
    with pytest.raises(ConfigError, match="is a meta model; kind: bedrock serves Anthropic"):
        build_gateway(cfg, "t.yaml")
