"""End to end, `audit.store_bodies`: what the log keeps of prompts and answers, and how to read it.

The shipped `examples/emulated.yaml` (vendor ban, data-egress policy, personal data sent
redacted) with body storage switched on and one more model that only the self-hosted
deployment serves (where personal data may go unredacted). Clients are the official SDKs; the
stored bodies are read back with `bordergate audit bodies`, as an investigator would, and the
database file is searched for what must never be in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from tests.support import ROOT, derive_config, emulator, gateway

DEMO_KEY = "bg-demo-key"
BODY_KEY = "5a" * 32
EMAIL = "anna.schmidt@firma-nord.de"
TOKEN = "ghp_R7x2Kq9LmN4pV8sT1wY6zB3cD5fG0hJ2aE4u"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(gateway URL, its config, its state directory)."""
    tmp = tmp_path_factory.mktemp("bodies")
    with emulator() as emu:
        data = yaml.safe_load(derive_config(tmp, emu).read_text())
        data["dlp"].pop("fingerprint_index", None)
        data["audit"].update(store_bodies=True, body_encryption_key=BODY_KEY)
        data["models"]["local-coder"] = [data["models"]["gpt-4o-mini"][1]]  # self-hosted only
        config = tmp / "gateway.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        with gateway(config) as url:
            yield url, config, tmp


@pytest.fixture
def client(served: tuple[str, Path, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served[0]}/v1", api_key=DEMO_KEY, max_retries=0, timeout=30)


def bodies(config: Path, request_id: str) -> subprocess.CompletedProcess[str]:
    command = ["audit", "bodies", "--config", str(config), request_id]
    return subprocess.run(
        [sys.executable, "-m", "bordergate", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stored(config: Path, request_id: str) -> dict[str, Any]:
    done = bodies(config, request_id)
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    assert shown["request_id"] == request_id
    return shown


def test_redacted_request_stores_masked_prompt_and_the_answer_before_restore(
    client: openai.OpenAI, served: tuple[str, Path, Path]
) -> None:
    ask = f"Draft a reply to {EMAIL} about the offsite.\n@emulator echo"
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": ask}]
    )
    answer = raw.parse().choices[0].message.content or ""
    assert EMAIL in answer  # the client got its value back
    shown = stored(served[1], raw.headers["x-request-id"])
    prompt = shown["prompt"]["messages"][0]["content"]
    assert prompt == ask.replace(EMAIL, "[EMAIL_1]")
    assert shown["prompt"]["model"] == "gpt-4o-mini"
    # What the provider answered: the placeholder it was sent, never the restored value.
    stored_answer = shown["response"]["choices"][0]["message"]["content"]
    assert EMAIL not in stored_answer and "[EMAIL_1]" in stored_answer


def test_stream_to_self_hosted_stores_the_assembled_answer_masked(
    client: openai.OpenAI, served: tuple[str, Path, Path]
) -> None:
    # Personal data may reach the self-hosted model unredacted, so the echo carries it back,
    # cut across eight chunks; the stored answer is the joined text, masked.
    ask = f"Summarise the thread with {EMAIL}.\n@emulator echo chunks=8"
    raw = client.chat.completions.with_raw_response.create(
        model="local-coder", messages=[{"role": "user", "content": ask}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert EMAIL in text
    shown = stored(served[1], raw.headers["x-request-id"])
    answer = shown["response"]
    assert answer["streamed"] is True
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["choices"][0]["message"]["content"] == text.replace(EMAIL, "[EMAIL_1]")


def test_refused_secret_stores_the_prompt_masked_and_no_answer(
    client: openai.OpenAI, served: tuple[str, Path, Path]
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"why does {TOKEN} fail?"}],
        )
    request_id = refused.value.response.headers["x-request-id"]
    shown = stored(served[1], request_id)
    assert shown["prompt"]["messages"][0]["content"] == "why does [SECRET_1] fail?"
    assert shown["response"] is None


def test_anthropic_client_prompt_is_stored_in_its_own_format(
    served: tuple[str, Path, Path],
) -> None:
    claude = anthropic.Anthropic(base_url=served[0], api_key=DEMO_KEY, max_retries=0, timeout=30)
    raw = claude.messages.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello there\n@emulator echo"}],
    )
    assert raw.parse().content[0].text == "hello there"  # type: ignore[union-attr]
    shown = stored(served[1], raw.headers["x-request-id"])
    assert shown["prompt"]["system"] == "Be brief." and shown["prompt"]["max_tokens"] == 64
    assert shown["response"]["choices"][0]["message"]["content"] == "hello there"


def test_nothing_sensitive_is_in_the_database_file(
    client: openai.OpenAI, served: tuple[str, Path, Path]
) -> None:
    client.chat.completions.create(
        model="local-coder",
        messages=[{"role": "user", "content": f"Plan lunch, invite {EMAIL}, ref ZEBRA-42"}],
    )
    blob = b"".join(p.read_bytes() for p in served[2].glob("emulated.db*"))
    for value in (EMAIL, TOKEN, "ZEBRA-42", "offsite", "Summarise"):
        assert value.encode() not in blob, value  # masked, and every body is encrypted


def test_bodies_command_errors(served: tuple[str, Path, Path], tmp_path: Path) -> None:
    config = served[1]
    missing = bodies(config, "req_does_not_exist")
    assert missing.returncode == 1 and "no event for request" in missing.stderr
    # The same log opened with another key: the bodies do not decrypt, and it says so.
    data = yaml.safe_load(config.read_text())
    data["audit"]["body_encryption_key"] = "7b" * 32
    other = tmp_path / "other-key.yaml"
    other.write_text(yaml.safe_dump(data))
    client = openai.OpenAI(base_url=f"{served[0]}/v1", api_key=DEMO_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    wrong = bodies(other, raw.headers["x-request-id"])
    assert wrong.returncode == 1 and "does not decrypt" in wrong.stderr
    # Storage turned off later: what was stored stays readable with the key.
    data["audit"].update(store_bodies=False, body_encryption_key=BODY_KEY)
    other.write_text(yaml.safe_dump(data))
    later = bodies(other, raw.headers["x-request-id"])
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["prompt"]["messages"][0]["content"] == "hi"
    # Without the key there is nothing to open them with.
    del data["audit"]["body_encryption_key"]
    other.write_text(yaml.safe_dump(data))
    unset = bodies(other, raw.headers["x-request-id"])
    assert unset.returncode == 2 and "body_encryption_key is not configured" in unset.stderr
