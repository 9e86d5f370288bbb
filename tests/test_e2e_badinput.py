"""Bad input through the running gateway: always a clear OpenAI-format error, never a 500 or hang.

The gateway is the shipped example (policy and DLP on), so garbage goes through every
ingress step that could trip: JSON parsing, validation, the DLP walker and the policy.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import build_fingerprints, derive_config, emulator, free_port, run_process

DEMO_KEY = "bg-demo-key"
AUTH = {"authorization": f"Bearer {DEMO_KEY}"}
CHAT = "/v1/chat/completions"
TIMEOUT = httpx.Timeout(15.0)


class Gateway:
    """A running gateway plus the captured output of its process (read after it stops)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.log = ""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("badinput")
    build_fingerprints(tmp / "bordergate-src.fpi")
    with emulator() as emu:
        config = derive_config(tmp, emu, server={"host": "127.0.0.1", "max_messages": 50})
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = ["serve", "--config", str(config), "--port", str(port)]
        handle = Gateway(url)
        with run_process(args, f"{url}/healthz") as proc:
            yield handle
        assert proc.stdout is not None
        handle.log = proc.stdout.read().decode(errors="replace")
    # The gateway's log after all tests of the module: nothing was unhandled.
    assert "unhandled error" not in handle.log, handle.log
    assert "Traceback" not in handle.log, handle.log


@pytest.fixture(scope="module")
def http(gw: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=TIMEOUT) as client:
        yield client


def assert_openai_error(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    return dict(err)


def post_chat(http: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return http.post(
        CHAT, content=body, headers={**AUTH, "content-type": "application/json", **headers}
    )


def nested(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


def test_garbage_bodies_are_400(http: httpx.Client) -> None:
    rng = random.Random(20261124)  # fixed seed: the same garbage every run
    bodies = [b"", b" ", b"null", b"0", b'"str"', b"[]", b"{}", b"{", b"}", b"\x00\x01\x02"]
    bodies += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(20)]
    alphabet = b'{}[]":,0123456789.eE-+truefalsn \\'
    bodies += [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 120))) for _ in range(20)]
    for body in bodies:
        err = assert_openai_error(post_chat(http, body), 400)
        assert err["type"] == "invalid_request_error", (body, err)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": 1e400}',
            "JSON",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": -1e999}',
            "JSON",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": 123456789012345678901234567890}',
            "max_tokens",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": 1e308, "max_tokens": 99999999999999999}',
            "",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"n": 18446744073709551616}',
            "",
        ),
        (
            b'{"model": "' + b"m" * 100_000 + b'", "messages": [{"role": "user", "content": "x"}]}',
            "model",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": ['
            + b'{"role": "user", "content": "x"},' * 60
            + b'{"role": "user", "content": "x"}]}',
            "too many messages",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
            "JSON",
        ),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}', ""),
    ],
)
def test_odd_values_are_clear_client_errors(http: httpx.Client, body: bytes, fragment: str) -> None:
    r = post_chat(http, body)
    if r.status_code == 200:  # a value the gateway may legitimately pass on (e.g. a huge n)
        assert r.json()["object"] == "chat.completion"
        return
    err = assert_openai_error(r, 400, 404, 413, 502)
    if r.status_code == 502:  # the provider refused it; the gateway says so, by name
        assert "provider" in err["message"]
        return
    assert fragment in err["message"]


def test_non_utf8_body_is_400(http: httpx.Client) -> None:
    body = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "héllo"}]}'
    err = assert_openai_error(post_chat(http, body.encode("latin-1")), 400)
    assert "JSON" in err["message"]


def deep_body(where: str, depth: int, model: str = "gpt-4o-mini") -> bytes:
    deep = nested(depth)
    user = '[{"role": "user", "content": "x"}]'
    if where == "top":
        return deep.encode()
    if where == "content":
        body = f'{{"model": "{model}", "messages": [{{"role": "user", "content": {deep}}}]}}'
    elif where == "tool_parameters":
        body = (
            f'{{"model": "{model}", "messages": {user}, "tools": [{{"type": "function", '
            f'"function": {{"name": "f", "parameters": {{"type": "object", '
            f'"properties": {{"a": {deep}}}}}}}}}]}}'
        )
    else:
        body = f'{{"model": "{model}", "messages": {user}, "metadata": {{"k": {deep}}}}}'
    return body.encode()


@pytest.mark.parametrize("depth", [50, 100, 200, 500, 990, 1100, 5000, 100_000])
@pytest.mark.parametrize("where", ["content", "tool_parameters", "extra_field", "top"])
def test_deeply_nested_json_is_400(http: httpx.Client, depth: int, where: str) -> None:
    r = post_chat(http, deep_body(where, depth))
    if where in ("extra_field", "tool_parameters") and depth <= 100:
        # Nesting a real request might have (deep JSON schemas) is passed on and answered.
        assert r.status_code == 200, r.text
        return
    err = assert_openai_error(r, 400)
    assert err["type"] == "invalid_request_error"
    if where in ("extra_field", "tool_parameters") or depth > 1000:
        assert "nested too deeply" in err["message"] or "depth" in err["message"]


def test_deep_but_allowed_nesting_survives_translation(http: httpx.Client) -> None:
    """The gateway re-serializes translated bodies; nesting it accepts must survive that."""
    tools = '[{"name": "f", "input_schema": {"type": "object", "properties": {"a": %s}}}]'
    body = (
        '{"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", '
        '"content": "x"}], "tools": ' + tools % nested(100) + "}"
    )
    r = http.post(
        "/v1/messages", content=body.encode(), headers={**AUTH, "content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
    deeper = body.replace(nested(100), nested(300))
    r = http.post(
        "/v1/messages",
        content=deeper.encode(),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_wrong_content_types(http: httpx.Client, content_type: str) -> None:
    """The body decides: valid JSON is served whatever the label, anything else is a 400."""
    good = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}'
    r = http.post(CHAT, content=good, headers={**AUTH, "content-type": content_type})
    assert r.status_code == 200, r.text
    r = http.post(
        CHAT,
        content=b"model=gpt-4o-mini&messages=x",
        headers={**AUTH, "content-type": content_type},
    )
    assert_openai_error(r, 400)


@pytest.mark.parametrize("path", [CHAT, "/chat/completions", "/v1/messages"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(http: httpx.Client, path: str, method: str) -> None:
    r = http.request(method, path, headers=AUTH)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    body = r.json()
    message = body["error"]["message"]
    assert method in message and "POST" in message


@pytest.mark.parametrize("path", ["/", "/v1", "/v2/chat/completions", "/v1/embeddings", "/x" * 50])
def test_unknown_paths_are_404(http: httpx.Client, path: str) -> None:
    err = assert_openai_error(http.post(path, headers=AUTH, content=b"{}"), 404)
    assert err["type"] == "not_found_error"
    assert_openai_error(http.get(path, headers=AUTH), 404)


@pytest.mark.parametrize("path", [CHAT, "/v1/models", "/healthz", "/nowhere"])
def test_head_requests_answer_without_body(http: httpx.Client, path: str) -> None:
    r = http.head(path, headers=AUTH)
    assert r.status_code in (200, 404, 405)
    assert r.content == b""


def test_post_on_models_is_405(http: httpx.Client) -> None:
    r = http.post("/v1/models", headers=AUTH, content=b"{}")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    head = http.head("/v1/models", headers=AUTH)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(http.get("/v1/models", headers=AUTH).content)
    assert_openai_error(r, 405)


def test_body_over_the_limit_is_413(http: httpx.Client) -> None:
    big = (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        + b"x" * (11 * 1024 * 1024)
        + b'"}]}'
    )
    err = assert_openai_error(post_chat(http, big), 413)
    assert "limit" in err["message"]


def _raw_request(url: str, data: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(data)
    return sock


def test_client_disconnect_while_uploading_is_handled(gw: Gateway, http: httpx.Client) -> None:
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    for _ in range(5):
        sock = _raw_request(gw.url, head + b'{"model": "gpt-4o-mini", "messages": [')
        sock.close()
    # Chunked upload abandoned half-way, too.
    chunked = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_KEY}\r\n"
        'Transfer-Encoding: chunked\r\n\r\n10\r\n{"model": "gpt-4'
    ).encode()
    _raw_request(gw.url, chunked).close()
    # The gateway is still healthy and serves the next request.
    assert http.get("/healthz").status_code == 200
    ok = post_chat(
        http, b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}'
    )
    assert ok.status_code == 200


def test_truncated_body_with_short_content_length_is_400(gw: Gateway) -> None:
    """A body cut short by its Content-Length parses as invalid JSON: a 400, not a hang."""
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}'
    req = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
    ).encode() + body
    sock = _raw_request(gw.url, req)
    with sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert b"invalid_request_error" in data


def test_bad_input_is_also_clear_on_the_anthropic_endpoint(http: httpx.Client) -> None:
    for body in (b"", b"\xff", nested(5000).encode(), b'{"max_tokens": 1e400}'):
        r = http.post(
            "/v1/messages", content=body, headers={**AUTH, "content-type": "application/json"}
        )
        assert r.status_code == 400, (body[:40], r.text)
        assert r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "invalid_request_error"


def anthropic_body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "max_tokens": 10, **fields}


USER_HI = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": [USER_HI, {"role": "assistant", "content": 5}]}, "messages[1].content"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}],
                    }
                ]
            },
            "messages[0].content[0].content",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
            "messages[0].content[0].source",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
            "messages[0].content[0].text",
        ),
        ({"messages": [USER_HI], "tools": 5}, "tools"),
        ({"messages": [USER_HI], "stop_sequences": 5}, "stop_sequences"),
        ({"messages": [USER_HI], "stop_sequences": "END"}, "stop_sequences"),
        ({"messages": [USER_HI], "system": 5}, "system"),
        ({"messages": [USER_HI], "metadata": "x"}, "metadata"),
        ({"messages": [USER_HI], "tool_choice": "auto"}, "tool_choice"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_wrong_types_on_the_anthropic_endpoints_are_400_naming_the_field(
    http: httpx.Client, path: str, fields: dict[str, Any], param: str
) -> None:
    r = http.post(path, json=anthropic_body(**fields), headers=AUTH)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(f"{param}:"), body
    assert r.headers["request-id"] == r.headers["x-request-id"]  # what the Anthropic SDK reads


def test_unknown_anthropic_routes_answer_in_anthropic_format(http: httpx.Client) -> None:
    r = http.post("/v1/messages/batches", json={}, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "not_found_error"


def test_unauthenticated_garbage_is_401_not_400(http: httpx.Client) -> None:
    """Authentication comes first: an anonymous caller learns nothing about parsing."""
    r = http.post(CHAT, content=b"\xff\xfe garbage", headers={"content-type": "application/json"})
    assert_openai_error(r, 401)


def test_policy_refusal_reaches_anthropic_clients_as_permission_error(gw: Gateway) -> None:
    """The example policy bans Anthropic models: the SDK raises its own 403 class."""
    import anthropic

    client = anthropic.Anthropic(base_url=gw.url, api_key=DEMO_KEY, max_retries=0, timeout=15)
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    error = err.value.response.json()["error"]
    # Policy refusals keep their own type in both formats (the status says 403 to the SDK).
    assert error["type"] == "policy_denied" and error["code"] == "policy_denied"
    assert error["policy_ids"] and "gpt-4o-mini" in error["alternatives"]
