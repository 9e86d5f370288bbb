"""Circuit breakers end to end: official SDKs -> `bordergate serve` -> `bordergate emulate`.

A deployment that keeps failing is skipped (the next candidate serves at once) or, with no
candidate left, refused fast with 503 and Retry-After; after the cool-down one trial request
decides whether it is back. The emulator's request log proves what was and was not sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.support import audit_event, emulator, gateway

KEY = "k1-0123456789abcdef"
ADMIN = "admin-0123456789abcdef"
FLAKY = "gpt-4o-mini@status=503@status_times=3"  # fails three times per message text
BROKEN = "gpt-4o-mini@status=500"  # fails every time
REJECTS = "gpt-4o-mini@status=400"  # answers, but refuses every request


def write_config(tmp: Path, emu: str) -> Path:
    path = tmp / "gw.yaml"
    path.write_text(
        f"""
identity:
  database_url: "sqlite:///{tmp}/emulated.db"
  server_secret: "{"s" * 32}"
  admin_key: {ADMIN}
  static_keys: [{{key: {KEY}, user: u1}}]
audit: {{database: "sqlite:///{tmp}/emulated.db"}}
providers:
  emu:
    preset: openai
    base_url: "{emu}/v1"
    api_key: sk-x
    circuit_breaker: {{failures: 2, cooldown_s: 0.4, max_cooldown_s: 0.8}}
  backup: {{preset: openai, base_url: "{emu}/v1", api_key: sk-y}}
  slow:
    preset: openai
    base_url: "{emu}/v1"
    api_key: sk-z
    timeout_s: 1
    circuit_breaker: {{failures: 1, cooldown_s: 0.8}}
  claude:
    preset: anthropic
    base_url: "{emu}/v1"
    api_key: sk-ant-x
    circuit_breaker: {{failures: 1, cooldown_s: 60}}
models:
  flaky: [{{provider: emu, model: "{FLAKY}"}}]
  with-backup: [{{provider: emu, model: "{BROKEN}"}}, {{provider: backup, model: gpt-4o-mini}}]
  rejects: [{{provider: emu, model: "{REJECTS}"}}]
  slow: [{{provider: slow, model: "gpt-4o-mini@latency_ms=1500"}}]
  claude-broken: [{{provider: claude, model: "claude-sonnet-4-5@status=529"}}]
"""
    )
    return path


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


@pytest.fixture(scope="module")
def setup(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("breaker")
    with gateway(write_config(state, emu)) as url:
        yield url, state


@pytest.fixture
def client(setup: tuple[str, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{setup[0]}/v1", api_key=KEY, max_retries=0, timeout=20)


def sent_upstream(emu: str, model: str) -> int:
    """How many requests for `model` the emulator received."""
    records = httpx.get(f"{emu}/_emulator/requests").json()
    return sum(1 for r in records if r["body"].get("model") == model)


def health(gw: str) -> dict:
    r = httpx.get(f"{gw}/admin/deployments", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200
    return r.json()["deployments"]


def ask(client: openai.OpenAI, model: str, text: str = "hello") -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return caught.value


def test_a_failing_deployment_is_paused_then_tried_again(
    setup: tuple[str, Path], emu: str, client: openai.OpenAI
) -> None:
    gw, state = setup
    before = sent_upstream(emu, FLAKY)
    for _ in range(2):  # two failures in a row open the breaker
        assert ask(client, "flaky").status_code == 502
    assert sent_upstream(emu, FLAKY) == before + 2
    view = health(gw)["emu/" + FLAKY]
    assert view["state"] == "open" and view["consecutive_failures"] == 2
    assert view["last_failure"] == "upstream_error"

    paused = ask(client, "flaky")
    assert paused.status_code == 503
    assert f"no deployment that may serve flaky is available now: emu/{FLAKY} (paused after 2 " in (
        paused.message
    )
    assert "failures, last upstream_error); retry in 1 s" in paused.message
    assert paused.response.headers["retry-after"] == "1"
    assert isinstance(paused.body, dict) and paused.body["code"] == "upstream_unavailable"
    assert sent_upstream(emu, FLAKY) == before + 2  # refused without calling the provider
    event = audit_event(state, paused.response.headers["x-request-id"])
    # Audited as its own kind, naming the deployment that was paused (nothing was sent to it).
    assert (event["status"], event["error_kind"]) == (503, "upstream_unavailable")
    assert event["deployment"] == f"emu/{FLAKY}"

    time.sleep(0.5)  # past the cool-down: one trial, which fails (third 503), so longer pause
    assert ask(client, "flaky").status_code == 502
    assert sent_upstream(emu, FLAKY) == before + 3
    assert ask(client, "flaky").status_code == 503
    assert health(gw)["emu/" + FLAKY]["retry_in_s"] > 0.5  # doubled to 0.8 s

    time.sleep(0.9)  # the next trial gets an answer: closed again
    answer = client.chat.completions.create(
        model="flaky", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.choices[0].message.content
    assert sent_upstream(emu, FLAKY) == before + 4
    assert health(gw)["emu/" + FLAKY] == {
        "state": "closed",
        "consecutive_failures": 0,
        "retry_in_s": 0.0,
        "trial_in_flight": False,
        "last_failure": None,  # healthy again: no current fault to show
    }


def test_while_the_trial_is_out_others_are_told_to_retry_in_a_second(
    setup: tuple[str, Path], client: openai.OpenAI
) -> None:
    assert ask(client, "slow").status_code == 504  # one timeout opens it
    time.sleep(0.9)  # past the cool-down: the next request is the trial (it will time out)
    with ThreadPoolExecutor(1) as pool:
        trial = pool.submit(ask, client, "slow")
        deadline = time.monotonic() + 0.6  # the trial counts as out for one cool-down (0.8 s)
        while not (view := health(setup[0])["slow/gpt-4o-mini@latency_ms=1500"])["trial_in_flight"]:
            assert time.monotonic() < deadline, view
            time.sleep(0.02)
        assert view["state"] == "half_open"
        waiting = ask(client, "slow")
        assert waiting.status_code == 503 and waiting.response.headers["retry-after"] == "1"
        assert "(being tried again after 1 failure)" in waiting.message
        assert trial.result().status_code == 504


def test_a_paused_deployment_is_skipped_for_the_next_candidate(
    setup: tuple[str, Path], emu: str, client: openai.OpenAI
) -> None:
    before = sent_upstream(emu, BROKEN)
    for n in range(4):
        raw = client.chat.completions.with_raw_response.create(
            model="with-backup", messages=[{"role": "user", "content": f"try {n}"}]
        )
        assert raw.headers["x-bordergate-deployment"] == "backup/gpt-4o-mini"
    # The broken deployment was tried twice; after that the backup served straight away.
    assert sent_upstream(emu, BROKEN) == before + 2
    assert health(setup[0])["emu/" + BROKEN]["state"] == "open"


def test_a_provider_refusing_the_request_is_not_a_failing_deployment(
    setup: tuple[str, Path], emu: str, client: openai.OpenAI
) -> None:
    before = sent_upstream(emu, REJECTS)
    for _ in range(4):
        assert ask(client, "rejects").status_code == 400  # the provider's own 400, each time
    assert sent_upstream(emu, REJECTS) == before + 4
    assert health(setup[0])["emu/" + REJECTS]["state"] == "closed"


def test_anthropic_clients_get_the_pause_in_their_format(setup: tuple[str, Path], emu: str) -> None:
    client = anthropic.Anthropic(base_url=setup[0], api_key=KEY, max_retries=0, timeout=20)
    model = "claude-sonnet-4-5@status=529"
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]

    def refused(call: Callable[[], object]) -> anthropic.APIStatusError:
        with pytest.raises(anthropic.APIStatusError) as caught:
            call()
        return caught.value

    def count() -> object:
        return client.messages.count_tokens(model="claude-broken", messages=messages)

    def message() -> object:
        return client.messages.create(model="claude-broken", max_tokens=16, messages=messages)

    before = sent_upstream(emu, model)
    # Token counting feeds the breaker too: Anthropic's 529 "overloaded", and one failure opens.
    overloaded = refused(count)
    assert overloaded.status_code == 529 and isinstance(overloaded, anthropic.OverloadedError)
    assert sent_upstream(emu, model) == before + 1
    for call in (message, count):  # ... and both endpoints are refused fast while it is open
        paused = refused(call)
        assert paused.status_code == 503 and "(paused after 1 failure, last " in paused.message
        assert isinstance(paused.body, dict)
        assert paused.body["error"]["code"] == "upstream_unavailable"
        assert int(paused.response.headers["retry-after"]) >= 59
    assert sent_upstream(emu, model) == before + 1


def test_the_health_view_needs_the_admin_credential(setup: tuple[str, Path]) -> None:
    gw = setup[0]
    assert httpx.get(f"{gw}/admin/deployments").status_code == 401
    user = httpx.get(f"{gw}/admin/deployments", headers={"authorization": f"Bearer {KEY}"})
    assert user.status_code == 403
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert httpx.post(f"{gw}/admin/deployments", headers=admin).status_code == 405
    listed = health(gw)
    assert set(listed) == {
        "emu/" + FLAKY,
        "emu/" + BROKEN,
        "emu/" + REJECTS,
        "backup/gpt-4o-mini",
        "claude/claude-sonnet-4-5@status=529",
        "slow/gpt-4o-mini@latency_ms=1500",
    }
