"""`bordergate config check` / `config schema` / `serve` on good and broken config files.

Errors name the file, the line and the reason; the pure parts of the gateway (policy files,
the DLP fingerprint index) are built by `check` too; provider keys never leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import httpx
import pytest

from bordergate.cli import main
from bordergate.config import Config, ConfigError, config_schema, load_config
from bordergate.emulator.content import auth_fingerprint
from tests.support import ROOT, build_fingerprints, emulator, free_port, run_process

CANARY = "sk-CANARY-7f3a9c1e5b2d4f6a8c0e"
CANARY_ENV = "BG_TEST_CANARY_KEY"

GOOD = """\
server:
  port: 4000
identity:
  database_url: "sqlite:///{tmp}/state.db"
  static_keys: [{{key: k1-0123456789abcdef, user: u1}}]
audit:
  database: "sqlite:///{tmp}/state.db"
dlp:
  enabled: false
providers:
  emu:
    preset: openai
    base_url: "{url}/v1"
    api_key: ${{{canary_env}}}
  extra:
    preset: deepseek
    api_key: ${{BG_TEST_SURELY_UNSET_VAR}}
    optional: true
models:
  gpt-4o-mini:
    - {{provider: emu, model: gpt-4o-mini}}
  ds:
    - {{provider: extra, model: deepseek-chat}}
"""


def write(tmp: Path, text: str, name: str = "gw.yaml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def good_config(tmp: Path, url: str = "http://127.0.0.1:9") -> Path:
    return write(tmp, GOOD.format(tmp=tmp, url=url, canary_env=CANARY_ENV))


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(autouse=True)
def canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY_ENV, CANARY)
    monkeypatch.delenv("BG_TEST_SURELY_UNSET_VAR", raising=False)


def test_good_file_passes_and_notes_disabled_optional_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(good_config(tmp_path), capsys)
    assert code == 0, out
    assert "OK" in out
    assert "provider extra is disabled" in out
    assert "BG_TEST_SURELY_UNSET_VAR" in out
    assert CANARY not in out


# Each case: a change to the good file, the line the error must name, and words of the reason.
BROKEN = [
    (
        "unknown key",
        ("  port: 4000\n", "  port: 4000\n  prot: 4001\n"),
        3,
        ["server.prot", "unknown key"],
    ),
    ("wrong type", ("  port: 4000\n", "  port: lots\n"), 2, ["server.port", "integer"]),
    (
        "missing env",
        ("api_key: ${BG_TEST_CANARY_KEY}", "api_key: ${BG_TEST_MISSING_KEY_VAR}"),
        14,
        ["providers.emu.api_key", "BG_TEST_MISSING_KEY_VAR", "not set"],
    ),
    (
        "unknown provider",
        ("{provider: emu, model: gpt-4o-mini}", "{provider: emux, model: gpt-4o-mini}"),
        21,
        ["models.gpt-4o-mini[0].provider", "unknown provider 'emux'"],
    ),
    ("bad preset", ("preset: openai", "preset: openia"), 11, ["unknown preset 'openia'", "openai"]),
    ("invalid yaml", ("  port: 4000\n", "  port: [4000\n"), 3, ["invalid YAML"]),
    ("bad url", ('    base_url: "', '    base_url: "ftp://'), 13, ["base_url", "http://"]),
    (
        "negative limit",
        ("  port: 4000\n", "  port: 4000\n  max_messages: 0\n"),
        3,
        ["max_messages"],
    ),
]


@pytest.mark.parametrize(
    ("change", "line", "words"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_file_names_file_line_and_reason(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    line: int,
    words: list[str],
) -> None:
    text = GOOD.format(tmp=tmp_path, url="http://127.0.0.1:9", canary_env=CANARY_ENV)
    assert change[0] in text
    path = write(tmp_path, text.replace(change[0], change[1], 1))
    code, out = check(path, capsys)
    assert code == 2, out
    assert f"{path}:{line}:" in out, out
    for word in words:
        assert word in out, (word, out)
    assert CANARY not in out
    assert "Traceback" not in out


def test_unreadable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path / "nope.yaml", capsys)
    assert code == 2 and "nope.yaml" in out and "cannot read" in out


def test_invalid_policy_file_is_caught_by_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "bad.cedar"
    policy.write_text("permit(principal, action, resource) when { nonsense };\n")
    text = good_config(tmp_path).read_text() + f"policy:\n  files: [{policy}]\n"
    path = write(tmp_path, text)
    code, out = check(path, capsys)
    assert code == 2, out
    assert str(path) in out and "policy.files" in out and str(policy) in out
    assert "syntax error" in out or "invalid" in out
    policy.unlink()
    code, out = check(path, capsys)
    assert code == 2 and str(policy) in out and "cannot read" in out


def test_missing_fingerprint_index_is_caught_by_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "never-built.fpi"
    text = (
        good_config(tmp_path)
        .read_text()
        .replace("dlp:\n  enabled: false\n", f"dlp:\n  fingerprint_index: {index}\n")
    )
    path = write(tmp_path, text)
    code, out = check(path, capsys)
    assert code == 2, out
    assert f"{path}:9:" in out and "dlp.fingerprint_index" in out and str(index) in out
    build_fingerprints(index)
    code, out = check(path, capsys)
    assert code == 0, out


def test_body_storage_needs_the_scanner_that_masks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "00" * 32
    text = (
        good_config(tmp_path)
        .read_text()
        .replace(
            'audit:\n  database: "sqlite:///',
            f'audit:\n  store_bodies: true\n  body_encryption_key: "{key}"\n'
            '  database: "sqlite:///',
        )
    )
    path = write(tmp_path, text)  # the file has `dlp: {enabled: false}`
    code, out = check(path, capsys)
    assert code == 2, out
    assert f"{path}:7:" in out and "audit.store_bodies" in out and "dlp" in out
    assert key not in out
    write(tmp_path, text.replace("dlp:\n  enabled: false\n", "dlp:\n  enabled: true\n"))
    code, out = check(path, capsys)
    assert code == 0, out


def test_shipped_examples_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # policy paths in the examples are relative to the repository
    monkeypatch.setenv("BORDERGATE_VAR", str(tmp_path))
    build_fingerprints(tmp_path / "bordergate-src.fpi")
    for name in ("emulated.yaml", "bordergate.yaml"):
        code, out = check(ROOT / "examples" / name, capsys)
        assert code == 0, out
        assert "OK" in out


def test_schema_covers_every_section_and_examples_validate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    sections = {name for name, f in Config.model_fields.items() if not f.exclude}
    assert sections == set(schema["properties"])
    assert {"server", "auth", "identity", "limits", "catalog", "policy", "dlp", "audit"} <= sections
    assert {"providers", "models"} <= sections
    assert schema == config_schema()
    # Strictness is in the schema too: editors flag unknown keys.
    assert schema.get("additionalProperties") is False
    monkeypatch.setenv("BORDERGATE_VAR", str(tmp_path))
    for name in ("emulated.yaml", "bordergate.yaml"):
        config = load_config(ROOT / "examples" / name)
        assert isinstance(config, Config) and config.models
        # Every section of the example appears in the schema's properties.
        import yaml

        raw = yaml.safe_load((ROOT / "examples" / name).read_text())
        assert set(raw) <= set(schema["properties"])


def test_pydantic_errors_do_not_echo_secret_values(tmp_path: Path) -> None:
    text = GOOD.format(tmp=tmp_path, url="http://127.0.0.1:9", canary_env=CANARY_ENV)
    bad = text.replace(f"api_key: ${{{CANARY_ENV}}}", f'api_key: ["${{{CANARY_ENV}}}"]')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad))
    assert "providers.emu.api_key" in str(err.value) and CANARY not in str(err.value)


# --------------------------------------------------------------------------- processes
def bordergate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, CANARY_ENV: CANARY}
    return subprocess.run(
        [sys.executable, "-m", "bordergate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_with_invalid_config_exits_with_the_check_message(tmp_path: Path) -> None:
    policy = tmp_path / "bad.cedar"
    policy.write_text("forbid(principal, action, resource) when { 1 + };\n")
    broken = [
        write(tmp_path, good_config(tmp_path).read_text() + "surprise: 1\n", "a.yaml"),
        write(
            tmp_path,
            good_config(tmp_path).read_text() + f"policy: {{files: [{policy}]}}\n",
            "b.yaml",
        ),
    ]
    for path in broken:
        checked = bordergate("config", "check", str(path))
        served = bordergate("serve", "--config", str(path), "--port", str(free_port()))
        assert checked.returncode == 2 and served.returncode == 2, served.stderr
        message = "\n".join(
            line for line in checked.stderr.splitlines() if not line.startswith("note: ")
        )
        assert message and str(path) in message
        assert message in served.stderr
        assert "Traceback" not in served.stderr + served.stdout
        assert CANARY not in checked.stdout + checked.stderr + served.stdout + served.stderr


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def test_provider_key_never_leaks(tmp_path: Path, emu: str) -> None:
    path = good_config(tmp_path, emu)
    checked = bordergate("config", "check", str(path))
    assert checked.returncode == 0 and CANARY not in checked.stdout + checked.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {CANARY_ENV: CANARY}
    seen: list[str] = []
    auth = {"authorization": "Bearer k1-0123456789abcdef"}
    with run_process(
        ["serve", "--config", str(path), "--port", str(port)], f"{url}/healthz", env
    ) as proc:
        with httpx.Client(base_url=url, timeout=20, headers=auth) as http:
            models = http.get("/v1/models")
            assert models.status_code == 200 and models.json()["data"]
            seen.append(models.text)

            def chat(directive: str, model: str = "gpt-4o-mini") -> httpx.Response:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"x\n{directive}"}],
                }
                return http.post("/v1/chat/completions", json=body)

            ok = chat("")
            assert ok.status_code == 200
            for directive, status in [
                ("@emulator status=401", 502),
                ("@emulator status=500", 502),
                ("@emulator status=429", 429),
            ]:
                r = chat(directive)
                assert r.status_code in (status, 401), r.text
                seen.append(r.text + str(r.headers))
            for model in ("ds", "nope"):
                r = chat("", model)
                assert r.status_code in (404, 503)
                seen.append(r.text)
            seen.append(http.get("/readyz").text)
        # The upstream did get the key (the emulator records its hash), so the canary was live.
        upstream = httpx.get(f"{emu}/_emulator/requests").json()
        assert any(r["auth"]["sha256"] == auth_fingerprint(CANARY) for r in upstream)
    assert proc.stdout is not None
    seen.append(proc.stdout.read().decode(errors="replace"))
    for text in seen:
        assert CANARY not in text
        assert CANARY[:12] not in text  # not even a prefix


class _EchoingUpstream(BaseHTTPRequestHandler):
    """A careless provider: its error message repeats the key it was given."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        error = {"error": {"message": f"internal error for key {key}"}}
        if request.get("stream"):  # fails after the stream started: an error chunk
            chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
            body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
        else:
            body = json.dumps(error).encode()
            self.send_response(500)
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


def test_provider_key_echoed_by_the_upstream_is_redacted(tmp_path: Path) -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingUpstream)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        path = good_config(tmp_path, f"http://127.0.0.1:{upstream.server_address[1]}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = ["serve", "--config", str(path), "--port", str(port)]
        with run_process(args, f"{url}/healthz", {CANARY_ENV: CANARY}) as proc:
            for endpoint, body in [
                ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
                ("/v1/messages", {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            ]:
                r = httpx.post(
                    url + endpoint,
                    json={"model": "gpt-4o-mini", **body},
                    headers={"authorization": "Bearer k1-0123456789abcdef"},
                    timeout=20,
                )
                assert r.status_code == 502, r.text
                message = r.json()["error"]["message"]
                assert "internal error for key [redacted]" in message
                assert CANARY not in r.text
            client = anthropic.Anthropic(
                base_url=url, api_key="k1-0123456789abcdef", max_retries=0, timeout=20
            )
            with (
                pytest.raises(anthropic.APIStatusError) as err,
                client.messages.stream(
                    model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
                ) as stream,
            ):
                stream.get_final_message()
            assert "[redacted]" in str(err.value.body) and CANARY not in str(err.value.body)
        assert proc.stdout is not None
        log = proc.stdout.read().decode(errors="replace")
    finally:
        upstream.shutdown()
        upstream.server_close()
    assert "[redacted]" in log  # the failure was logged, without the key
    assert CANARY not in log


def test_anchors_merge_keys_and_x_templates(tmp_path: Path) -> None:
    text = f"""\
x-cloud: &cloud
  preset: openai
  timeout_s: 30
  api_key: ${{BG_TEST_SURELY_UNSET_VAR}}
x-fast: &fast {{timeout_s: 5, connect_timeout_s: 1}}
identity:
  database_url: "sqlite:///{tmp_path}/state.db"
  static_keys: [{{key: k1-0123456789abcdef, user: u1}}]
audit:
  database: "sqlite:///{tmp_path}/state.db"
dlp: {{enabled: false}}
providers:
  a:
    <<: *cloud
    base_url: http://127.0.0.1:9/v1
    api_key: sk-a
  b:
    <<: [*fast, *cloud]
    base_url: http://127.0.0.1:9/v1
    api_key: sk-b
models:
  m: [{{provider: a, model: x}}, {{provider: b, model: y}}]
"""
    # The template's unset variable is never needed: both providers override `api_key`.
    config = load_config(write(tmp_path, text))
    a, b = config.providers["a"], config.providers["b"]
    assert (a.host, a.timeout_s, a.api_key.get_secret_value()) == ("openai", 30, "sk-a")
    assert (b.timeout_s, b.connect_timeout_s, b.host) == (5, 1, "openai")  # first listed wins
    bad = text.replace("<<: *cloud\n", "<<: [1, 2]\n", 1)
    with pytest.raises(ConfigError, match=r"gw\.yaml:\d+: a merge key \(<<\) takes a mapping"):
        load_config(write(tmp_path, bad))
    # An `x-` key is a template only at the top level: elsewhere it is an unknown key.
    nested = text.replace("  a:\n", "  a:\n    x-note: hi\n", 1)
    with pytest.raises(ConfigError, match="x-note"):
        load_config(write(tmp_path, nested))


def test_a_tool_ignores_missing_variables_of_sections_it_does_not_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bordergate keys` needs `identity:` secrets, `audit verify` the `audit:` ones: a variable
    missing elsewhere leaves that section at its defaults instead of failing validation."""
    from bordergate.audit.config import load_audit_config
    from bordergate.identity.config import ConfigError as IdentityConfigError
    from bordergate.identity.config import load_identity_config

    for name in ("BG_T_ADMIN", "BG_T_BODY_KEY", "BG_T_SECRET"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(
        f"""
identity:
  database_url: sqlite:///{tmp_path}/s.db
  server_secret: ${{BG_T_SECRET}}
  admin_key: ${{BG_T_ADMIN}}
dlp: {{enabled: true}}
audit:
  database: sqlite:///{tmp_path}/s.db
  store_bodies: true
  body_encryption_key: ${{BG_T_BODY_KEY}}
"""
    )
    monkeypatch.setenv("BG_T_BODY_KEY", "ab" * 32)
    assert load_audit_config(cfg).store_bodies  # identity's variables are missing: no matter
    monkeypatch.delenv("BG_T_BODY_KEY")
    monkeypatch.setenv("BG_T_SECRET", "s" * 32)
    monkeypatch.setenv("BG_T_ADMIN", "a" * 32)
    assert load_identity_config(cfg).admin_key is not None  # audit's is missing: no matter
    monkeypatch.delenv("BG_T_ADMIN")
    with pytest.raises(IdentityConfigError, match="BG_T_ADMIN is not set"):  # its own: error
        load_identity_config(cfg)


def test_a_misspelt_redactable_class_is_an_error_naming_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("dlp:\n  redactable_classes: [personal_dta]\n")
    with pytest.raises(ConfigError, match=r"gw.yaml:2: dlp.redactable_classes: .*personal_dta"):
        load_config(cfg)


def test_an_admin_key_digest_that_is_not_sha256_hex_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("identity:\n  server_secret: s0123456789abcdefgh\n  admin_key_sha256: nothex\n")
    with pytest.raises(ConfigError, match="admin_key_sha256 must be 64 hex characters"):
        load_config(cfg)
    cfg.write_text(f"identity:\n  admin_key_sha256: {'AB' * 32}\n")  # upper case is fine
    assert load_config(cfg).identity.admin_key_sha256 == "ab" * 32
