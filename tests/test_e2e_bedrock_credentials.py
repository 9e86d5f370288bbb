"""End to end: `aws_credentials: default` on EC2, ECS/EKS, EKS IRSA and from a profile.

The emulator plays the instance metadata service, the container credentials endpoint and STS,
and its Bedrock routes refuse an `ASIAEMU` access key that it did not issue (or that expired,
or whose session token does not match): a served request proves the gateway signed with the
credentials it obtained from the platform.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from bordergate.emulator.content import digest_of
from tests.support import (
    AWS_CREDENTIAL_VARIABLES,
    build_fingerprints,
    derive_config,
    emulator,
    gateway,
)

DEMO_KEY = "bg-demo-key"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
# Whatever the machine running the tests has set must not choose the source for them.
CLEAN = {
    **{name: "" for name in AWS_CREDENTIAL_VARIABLES},
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/aws/config",
}


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def served_by(emu: str, tmp: Path, env: dict[str, str]) -> Any:
    provider = {
        "preset": "bedrock",
        "region": "eu-central-1",
        "base_url": emu,
        "aws_credentials": "default",
    }
    build_fingerprints(tmp / "bordergate-src.fpi")
    config = derive_config(
        tmp,
        emu,
        drop=["policy"],
        providers={"bedrock": provider},
        models={"claude": [{"provider": "bedrock", "model": MODEL}]},
    )
    return gateway(config, env={**CLEAN, **env})


def ask(url: str, text: str = "hello from the platform") -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)
    reply = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content or ""


def paths_since(emu: str, seq: int) -> list[str]:
    seen: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
    return [f"{r['method']} {r['path']}" for r in seen if r["seq"] > seq]


def last_seq(emu: str) -> int:
    seen: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
    return int(seen[-1]["seq"]) if seen else 0


def test_instance_profile_credentials_via_imdsv2(emu: str, tmp_path: Path) -> None:
    with served_by(emu, tmp_path, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": emu}) as url:
        before = last_seq(emu)
        assert digest_of("hello from the platform") in ask(url)
        role = "/latest/meta-data/iam/security-credentials/"
        assert paths_since(emu, before)[:3] == [
            "PUT /latest/api/token",
            f"GET {role}",
            f"GET {role}bordergate-emulated-role",
        ]
        assert paths_since(emu, before)[-1] == f"POST /model/{MODEL}/invoke"


def test_container_credentials_are_refreshed_before_they_expire(emu: str, tmp_path: Path) -> None:
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{emu}/v2/credentials/task?expires_in=6",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "pod-identity-token",
    }
    with served_by(emu, tmp_path, env) as url:
        before = last_seq(emu)
        ask(url, "one")
        ask(url, "two")  # within the first half of a 6 s life: the same credentials
        calls = paths_since(emu, before)
        assert [c for c in calls if "/v2/credentials/" in c] == ["GET /v2/credentials/task"]
        time.sleep(3.2)  # past half-way: replaced before they are used again
        before = last_seq(emu)
        assert digest_of("three") in ask(url, "three")
        assert paths_since(emu, before)[0] == "GET /v2/credentials/task"


def test_eks_web_identity_via_sts(emu: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig\n")
    env = {
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/bordergate",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL_STS": emu,
    }
    with served_by(emu, tmp_path, env) as url:
        before = last_seq(emu)
        assert digest_of("irsa") in ask(url, "irsa")
        assert paths_since(emu, before) == ["POST /", f"POST /model/{MODEL}/invoke"]
        seen: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
        sts = next(r for r in seen if r["seq"] == before + 1)
        assert sts["body"]["RoleArn"] == env["AWS_ROLE_ARN"]
        assert "eyJhbGciOiJSUzI1NiJ9" not in str(sts)  # the web identity token is not kept


def test_no_credentials_is_a_clear_502_and_nothing_reaches_bedrock(
    emu: str, tmp_path: Path
) -> None:
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{emu}/v2/credentials/forbidden"}
    with served_by(emu, tmp_path, env) as url:
        before = last_seq(emu)
        with pytest.raises(openai.InternalServerError) as info:
            ask(url)
        assert info.value.status_code == 502
        assert "no AWS credentials (container: the credentials endpoint answered 403)" in (
            info.value.message
        )
        assert all("/model/" not in call for call in paths_since(emu, before))


def test_revoked_credentials_are_fetched_again_after_one_refusal(emu: str, tmp_path: Path) -> None:
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{emu}/v2/credentials/task"}
    with served_by(emu, tmp_path, env) as url:
        ask(url, "before")
        httpx.delete(f"{emu}/_emulator/credentials")
        with pytest.raises(openai.InternalServerError, match="rejected the gateway's credentials"):
            ask(url, "refused")
        before = last_seq(emu)
        assert digest_of("again") in ask(url, "again")
        assert paths_since(emu, before) == [
            "GET /v2/credentials/task",
            f"POST /model/{MODEL}/invoke",
        ]


def test_a_profile_in_the_shared_credentials_file(emu: str, tmp_path: Path) -> None:
    """A developer's `~/.aws/credentials`: the named profile's keys sign the call (the emulator
    serves only keys it issued, with their own session token), and keys that a tool rewrites
    in the file are read again after Bedrock refuses the old ones."""
    files = tmp_path / "aws"
    files.mkdir()

    def write_profile() -> None:
        issued = httpx.get(f"{emu}/v2/credentials/task").json()
        (files / "credentials").write_text(
            "[default]\naws_access_key_id = AKIANOTTHISONE\naws_secret_access_key = no\n\n"
            f"[dev]\naws_access_key_id = {issued['AccessKeyId']}\n"
            f"aws_secret_access_key = {issued['SecretAccessKey']}\n"
            f"aws_session_token = {issued['Token']}\n"
        )

    write_profile()
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(files / "credentials"),
        "AWS_CONFIG_FILE": str(files / "config"),  # absent: fine
        "AWS_PROFILE": "dev",
        # Lower in the chain: must not be asked while the profile has keys.
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": emu,
    }
    with served_by(emu, tmp_path, env) as url:
        before = last_seq(emu)
        assert digest_of("from my laptop") in ask(url, "from my laptop")
        assert paths_since(emu, before) == [f"POST /model/{MODEL}/invoke"]
        httpx.delete(f"{emu}/_emulator/credentials")  # the keys in the file are revoked
        with pytest.raises(openai.InternalServerError, match="rejected the gateway's credentials"):
            ask(url, "refused")
        # ... naming where they came from, so the operator knows what to fix.
        with pytest.raises(
            openai.InternalServerError, match=r"from the profile source \(profile dev\)"
        ):
            ask(url, "refused again")
        write_profile()  # e.g. `aws configure export-credentials` run again
        before = last_seq(emu)
        assert digest_of("again") in ask(url, "again")
        assert paths_since(emu, before) == [f"POST /model/{MODEL}/invoke"]


def config_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`bordergate config check` of a gateway with `aws_credentials: default`, in `env`."""
    config = derive_config(
        tmp_path,
        "http://127.0.0.1:9",
        drop=["policy"],
        dlp={"enabled": False},
        providers={
            "bedrock": {"preset": "bedrock", "region": "eu-central-1", "aws_credentials": "default"}
        },
        models={"claude": [{"provider": "bedrock", "model": MODEL}]},
    )
    return subprocess.run(
        [sys.executable, "-m", "bordergate", "config", "check", str(config)],
        env={**os.environ, **CLEAN, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_profile_that_is_not_there_stops_start_up(tmp_path: Path) -> None:
    checked = config_check(tmp_path, {"AWS_PROFILE": "typo"})
    assert checked.returncode != 0
    assert "providers.bedrock.aws_credentials: AWS_PROFILE names profile typo" in checked.stderr


def test_config_check_says_where_credentials_will_come_from(tmp_path: Path) -> None:
    """Nothing on this machine: valid, but the check says the instance metadata will be asked."""
    checked = config_check(tmp_path, {})
    assert checked.returncode == 0, checked.stderr
    assert "note: provider bedrock: AWS credentials from the instance source" in checked.stderr
