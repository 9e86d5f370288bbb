"""Policy through the running gateway: official SDKs -> `bordergate serve` -> `bordergate emulate`.

Each shipped pack decides real requests (at least one allow and one deny), refusals arrive in
the client's own wire format with the deciding policy ids, reasons and the names the caller may
use instead, the serving deployment is named in the header and the `model` field, and
`GET /v1/models` shows each caller only what it may invoke.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.support import emulator, gateway
from tests.test_e2e_policy_common import CN, DE, RESEARCH, US, pack, policy_config

DEMO_NAMES = ["gpt-4o-mini", "qwen3-coder-plus", "deepseek-chat", "claude-sonnet-4-5"]
SMART = {
    "smart": [
        {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"},
        {"provider": "openai", "model": "gpt-4o"},
    ]
}
# A cloud host headquartered in Germany (not self-hosted), to contrast with the US hosts.
DE_CLOUD = {
    "decloud": {
        "preset": "openai",
        "base_url": "EMU/v1",
        "api_key": "sk-emulator-decloud",
        "host": "example-de-cloud",
        "host_country": "DE",
    }
}
# The anthropic SDK warns about model names it knows to be retiring; not what is tested here.
UNKNOWN_POLICY = """
@id("unknown-test.baseline")
@reason("models are allowed unless a rule below forbids them")
permit (principal, action == Action::"invoke", resource);

@id("unknown-needs-research")
@reason("models of unknown origin are for the research group only")
forbid (principal, action == Action::"invoke", resource)
when { resource.vendor == "unknown" }
unless { principal.groups.contains("research") };
"""


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


class Gateways:
    """One gateway per policy setup, started on first use and shared by the module."""

    def __init__(self, emu: str, tmp: pytest.TempPathFactory) -> None:
        self.emu, self.tmp, self.stack, self.urls = emu, tmp, ExitStack(), {}

    def __call__(self, name: str) -> str:
        if name not in self.urls:
            self.urls[name] = self.stack.enter_context(gateway(self._config(name)))
        return self.urls[name]

    def _config(self, name: str) -> Path:
        tmp = self.tmp.mktemp(name)
        if name == "vendor-ban":  # as examples/emulated.yaml ships it
            return policy_config(
                tmp, self.emu, [pack("vendor-ban"), pack("data-egress")], extra_models=SMART
            )
        if name == "confidential-stays-home":
            providers = {"decloud": {**DE_CLOUD["decloud"], "base_url": f"{self.emu}/v1"}}
            return policy_config(
                tmp,
                self.emu,
                [pack(name)],
                extra_providers=providers,
                extra_models={"de-cloud-mini": [{"provider": "decloud", "model": "gpt-4o-mini"}]},
            )
        if name == "unknown":
            policy = tmp / "unknown.cedar"
            policy.write_text(UNKNOWN_POLICY)
            return policy_config(
                tmp,
                self.emu,
                [str(policy)],
                extra_models={"homegrown": [{"provider": "inhouse", "model": "acme-brain-v2"}]},
            )
        return policy_config(tmp, self.emu, [pack(name)], extra_models=SMART)


@pytest.fixture(scope="module")
def gws(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    g = Gateways(emu, tmp_path_factory)
    with g.stack:
        yield g


def oai(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def ant(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=20)


def upstream_calls(emu: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
    return calls


def model_ids(url: str, key: str) -> list[str]:
    return [m.id for m in oai(url, key).models.list()]


def ask(url: str, key: str, model: str, text: str = "hello") -> Any:
    return oai(url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


def denial(url: str, key: str, model: str, text: str = "hello") -> dict[str, Any]:
    """The error object of a request that must be refused with 403."""
    with pytest.raises(openai.PermissionDeniedError) as exc:
        ask(url, key, model, text)
    assert exc.value.status_code == 403
    body = exc.value.body
    assert isinstance(body, dict)
    return body


# --------------------------------------------------------------------------- vendor-ban
def test_banned_vendor_is_refused_with_policy_reason_and_alternatives(
    gws: Gateways, emu: str
) -> None:
    url = gws("vendor-ban")
    before = len(upstream_calls(emu))
    with pytest.raises(openai.PermissionDeniedError) as exc:
        ask(url, DE, "claude-sonnet-4-5")
    err = exc.value.body
    assert isinstance(err, dict)
    assert err["type"] == "policy_denied" and err["code"] == "policy_denied"
    assert err["policy_ids"] == ["ban-anthropic"]
    assert err["reasons"] == [
        "Anthropic models (Claude, Claude Code) are banned for all staff on every host"
    ]
    allowed = model_ids(url, DE)
    assert err["alternatives"] == allowed
    assert sorted(allowed) == sorted(["gpt-4o-mini", "qwen3-coder-plus", "deepseek-chat",
                                      "inhouse-coder", "smart"])  # fmt: skip
    assert "ban-anthropic" in exc.value.message and "gpt-4o-mini" in exc.value.message
    assert len(upstream_calls(emu)) == before  # nothing reached any provider


def test_banned_vendor_refused_to_an_anthropic_client(gws: Gateways) -> None:
    url = gws("vendor-ban")
    client = ant(url, DE)
    with pytest.raises(anthropic.PermissionDeniedError) as exc:
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "hello"}],
        )
    body = exc.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    err = body["error"]
    assert err["type"] == "policy_denied"
    assert err["policy_ids"] == ["ban-anthropic"]
    assert err["alternatives"] == model_ids(url, DE)
    assert "banned" in err["reasons"][0]


def test_first_permitted_candidate_serves_and_is_named(gws: Gateways, emu: str) -> None:
    url = gws("vendor-ban")
    raw = ask(url, DE, "smart")
    assert raw.headers["x-bordergate-deployment"] == "openai/gpt-4o"
    assert raw.parse().model == "gpt-4o"
    assert upstream_calls(emu)[-1]["body"]["model"] == "gpt-4o"  # Claude was never called
    with oai(url, DE).chat.completions.with_streaming_response.create(
        model="smart", messages=[{"role": "user", "content": "x\n@emulator chunks=4"}], stream=True
    ) as resp:
        assert resp.headers["x-bordergate-deployment"] == "openai/gpt-4o"
        models = {chunk.model for chunk in resp.parse()}
    assert models == {"gpt-4o"}


def test_first_permitted_candidate_named_to_an_anthropic_client(gws: Gateways) -> None:
    url = gws("vendor-ban")
    client = ant(url, DE)
    raw = client.messages.with_raw_response.create(
        model="smart", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-bordergate-deployment"] == "openai/gpt-4o"
    assert raw.parse().model == "gpt-4o"
    with client.messages.stream(
        model="smart",
        max_tokens=64,
        messages=[{"role": "user", "content": "x\n@emulator chunks=3"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.model == "gpt-4o"


# --------------------------------------------------------------------------- provider terms
def test_models_list_per_caller(gws: Gateways) -> None:
    url = gws("provider-customer-terms")
    de, cn = model_ids(url, DE), model_ids(url, CN)
    assert "claude-sonnet-4-5" in de and "claude-sonnet-4-5" not in cn
    assert set(de) - set(cn) == {"claude-sonnet-4-5"}
    assert "smart" in cn  # its second candidate (gpt-4o) is permitted
    # Retrieving one model agrees with the list, with both SDKs: a model this caller may not
    # use is not found, the same as one that does not exist.
    assert oai(url, DE).models.retrieve("claude-sonnet-4-5").id == "claude-sonnet-4-5"
    with pytest.raises(openai.NotFoundError) as info:
        oai(url, CN).models.retrieve("claude-sonnet-4-5")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert [m.id for m in ant(url, CN).models.list().data] == cn
    with pytest.raises(anthropic.NotFoundError):
        ant(url, CN).models.retrieve("claude-sonnet-4-5")


def test_provider_customer_terms_allow_and_deny(gws: Gateways, emu: str) -> None:
    url = gws("provider-customer-terms")
    err = denial(url, CN, "claude-sonnet-4-5")
    assert err["type"] == "policy_denied"
    assert err["policy_ids"] == ["anthropic-no-adversary-owned-customers"]
    assert "claude-sonnet-4-5" not in err["alternatives"]
    assert err["alternatives"] == model_ids(url, CN)
    raw = ask(url, DE, "claude-sonnet-4-5")
    assert raw.headers["x-bordergate-deployment"] == "anthropic/claude-sonnet-4-5-20250929"
    assert raw.parse().model == "claude-sonnet-4-5-20250929"
    assert upstream_calls(emu)[-1]["path"] == "/v1/messages"
    # The same name, served by the other candidate for the CN-owned caller.
    assert ask(url, CN, "smart").headers["x-bordergate-deployment"] == "openai/gpt-4o"
    assert ask(url, DE, "smart").headers["x-bordergate-deployment"] == (
        "anthropic/claude-sonnet-4-5-20250929"
    )


def test_model_field_for_an_anthropic_upstream_in_streams(gws: Gateways) -> None:
    url = gws("provider-customer-terms")
    stream = oai(url, DE).chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "x\n@emulator chunks=3"}],
        stream=True,
    )
    assert {c.model for c in stream} == {"claude-sonnet-4-5-20250929"}
    client = ant(url, DE)
    msg = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.model == "claude-sonnet-4-5-20250929"
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        assert s.get_final_message().model == "claude-sonnet-4-5-20250929"
    with pytest.raises(anthropic.PermissionDeniedError) as exc:
        ant(url, CN).messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    body = exc.value.body
    assert isinstance(body, dict)
    assert body["error"]["policy_ids"] == ["anthropic-no-adversary-owned-customers"]


# --------------------------------------------------------------------------- adversary-ai
def test_adversary_ai_allow_and_deny(gws: Gateways) -> None:
    url = gws("adversary-ai")
    err = denial(url, US, "deepseek-chat")
    # deepseek on deepseek (CN vendor, CN host), then self-hosted Qwen (CN vendor).
    assert err["policy_ids"] == ["adversary-vendor", "adversary-host"]
    assert any("foreign adversary" in r for r in err["reasons"])
    assert denial(url, US, "qwen3-coder-plus")["policy_ids"][0] == "adversary-vendor"
    assert denial(url, US, "inhouse-coder")["policy_ids"] == ["adversary-vendor"]
    assert sorted(err["alternatives"]) == ["claude-sonnet-4-5", "gpt-4o-mini", "smart"]
    assert ask(url, US, "gpt-4o-mini").headers["x-bordergate-deployment"] == "openai/gpt-4o-mini"
    assert sorted(model_ids(url, US)) == ["claude-sonnet-4-5", "gpt-4o-mini", "smart"]


# --------------------------------------------------------------------------- confidential
CONFIDENTIAL_PROMPT = "CONFIDENTIAL - Q3 board minutes. Summarise the acquisition plan."


def test_confidential_stays_home(gws: Gateways, emu: str) -> None:
    url = gws("confidential-stays-home")
    # Without the marking the first candidate (OpenAI, US) serves the DE organisation.
    assert ask(url, DE, "gpt-4o-mini").headers["x-bordergate-deployment"] == "openai/gpt-4o-mini"
    # With it, the US host is refused and the self-hosted candidate serves.
    raw = ask(url, DE, "gpt-4o-mini", CONFIDENTIAL_PROMPT)
    assert raw.headers["x-bordergate-deployment"] == "inhouse/qwen3-coder-30b"
    assert raw.parse().model == "qwen3-coder-30b"
    assert upstream_calls(emu)[-1]["body"]["model"] == "qwen3-coder-30b"
    # A host headquartered in the organisation's own country is fine.
    raw = ask(url, DE, "de-cloud-mini", CONFIDENTIAL_PROMPT)
    assert raw.headers["x-bordergate-deployment"] == "decloud/gpt-4o-mini"
    # Claude has only a US deployment: refused for the DE organisation, because of the data.
    err = denial(url, DE, "claude-sonnet-4-5", CONFIDENTIAL_PROMPT)
    assert err["type"] == "data_policy_denied"
    assert err["policy_ids"] == ["confidential-abroad"]
    assert err["data_classes"] == ["confidential"]
    assert "confidential:confidential-marking" in err["rules"]
    # The same prompt from a US-owned organisation may go to the US host.
    raw = ask(url, US, "claude-sonnet-4-5", CONFIDENTIAL_PROMPT)
    assert raw.headers["x-bordergate-deployment"] == "anthropic/claude-sonnet-4-5-20250929"
    err = denial(url, US, "de-cloud-mini", CONFIDENTIAL_PROMPT)
    assert err["policy_ids"] == ["confidential-abroad"]


# --------------------------------------------------------------------------- unknown models
def test_unknown_vendor_is_decided_by_the_policy(gws: Gateways) -> None:
    url = gws("unknown")
    err = denial(url, DE, "homegrown")
    assert err["policy_ids"] == ["unknown-needs-research"]
    assert "unknown" in err["message"]  # "policy forbids you to use unknown model ..."
    assert "homegrown" not in model_ids(url, DE)
    assert "homegrown" in model_ids(url, RESEARCH)
    raw = ask(url, RESEARCH, "homegrown")
    assert raw.headers["x-bordergate-deployment"] == "inhouse/acme-brain-v2"
    assert raw.parse().model == "acme-brain-v2"
