"""Secret rules: real formats with random bodies are found; placeholders and look-alikes not."""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

import pytest

from bordergate.dlp.rules_checks import base62, github_checksum_ok, is_placeholder
from bordergate.dlp.rules_secrets import SECRET_RULES
from bordergate.dlp.secrets import SecretDetector

RNG = random.Random(4)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


DET = SecretDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.rule, text[f.start : f.end]) for f in DET.scan(text)]


def test_at_least_sixty_distinct_rules() -> None:
    assert len({r.id for r in SECRET_RULES}) >= 60


def _gh(prefix: str) -> str:
    body = rnd(30)
    return prefix + body + base62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


CASES = [
    ("aws-access-key-id", "AKIA" + rnd(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
    ("gcp-api-key", "AIza" + rnd(35)),
    ("alibaba-access-key-id", "LTAI" + rnd(20)),
    ("tencent-cloud-secret-id", "AKID" + rnd(32)),
    ("openai-api-key", "sk-proj-" + rnd(150)),
    ("anthropic-api-key", "sk-ant-api03-" + rnd(93) + "AA"),
    ("huggingface-token", "hf_" + rnd(34, string.ascii_letters)),
    ("github-pat", _gh("ghp_")),
    ("github-fine-grained-pat", "github_pat_" + rnd(22) + "_" + rnd(59)),
    ("gitlab-pat", "glpat-" + rnd(20)),
    ("npm-token", _gh("npm_")),
    ("dockerhub-pat", "dckr_pat_" + rnd(27)),
    ("slack-bot-token", f"xoxb-{rnd(11, string.digits)}-{rnd(13, string.digits)}-{rnd(24)}"),
    ("stripe-secret-key", "sk_live_" + rnd(40)),
    ("sendgrid-api-key", f"SG.{rnd(22)}.{rnd(43)}"),
    ("telegram-bot-token", f"{rnd(10, string.digits)}:AA{rnd(33)}"),
    ("dingtalk-webhook", "https://oapi.dingtalk.com/robot/send?access_token=" + rnd(64, HEX)),
    (
        "feishu-lark-webhook",
        "https://open.feishu.cn/open-apis/bot/v2/hook/"
        + "-".join(rnd(n, HEX) for n in (8, 4, 4, 4, 12)),
    ),
]


@pytest.mark.parametrize(("rule", "token"), CASES, ids=[c[0] for c in CASES])
def test_token_found_in_several_contexts(rule: str, token: str) -> None:
    for text in (f"KEY={token}\n", f'{{"key": "{token}"}}', f"用这个{token}访问接口", f"`{token}`"):
        hits = found(text)
        assert (rule, token) in hits, (text, hits)


def test_aws_secret_needs_aws_context() -> None:
    secret = rnd(40, ALNUM + "/+")
    assert found(f"aws_secret_access_key = {secret}") == [("aws-secret-access-key", secret)]
    assert found(f"checksum {secret}") == []


def test_pem_blocks_found_and_empty_bodies_not() -> None:
    body = "\n".join(rnd(64, ALNUM + "+/") for _ in range(8))
    for label, rule in (
        ("RSA PRIVATE KEY", "private-key-rsa"),
        ("PRIVATE KEY", "private-key-pkcs8"),
        ("OPENSSH PRIVATE KEY", "openssh-private-key"),
        ("PGP PRIVATE KEY BLOCK", "pgp-private-key-block"),
    ):
        block = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
        assert found("key:\n" + block + "\nbye") == [(rule, block)]
    assert found("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----") == []


def test_jwt_needs_a_json_header_with_alg() -> None:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    good = f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': 'x'})}.{rnd(43)}"
    bad = f"{enc({'typ': 'JWT'})}.{enc({'sub': 'x'})}.{rnd(43)}"
    assert found(f"Authorization: {good}") == [("jwt", good)]
    assert found(f"value {bad}") == []


def test_passwords_in_urls_and_assignments() -> None:
    pw = rnd(14)
    assert found(f"postgres://app:{pw}@db.internal:5432/x") == [("url-password", pw)]
    assert found(f'password = "{pw}1"') == [("generic-secret-assignment", pw + "1")]
    conn = f"Server=db01;Database=orders;User Id=app;Password={pw};"
    assert found(conn) == [("connection-string-password", pw)]
    assert found("Server=db01;User Id=app;Password=${DB_PASSWORD};") == []
    assert found(f"Host=db01 Password={pw}") == [("connection-string-password", pw)]
    # A multi-host URL's credentials are the last user:password before the final host.
    multi = f"postgresql://db1:5432,app:{pw}@db2:5432/orders"
    assert found(multi) == [("url-password", f"5432,app:{pw}")]
    assert found(f"数据库密码：{pw}1，请勿外传") == [("generic-secret-assignment-cjk", pw + "1")]


@pytest.mark.parametrize(
    "text",
    [
        "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key = 'YOUR_API_KEY'",
        "OPENAI_API_KEY=${OPENAI_API_KEY}",
        "Authorization: Bearer <token>",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "password: changeme",
        "password = os.environ['DB_PASSWORD']",
        "postgres://user:password@localhost/db",
        "GITHUB_TOKEN=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        '"max_tokens": 4096, "token_count": 12',
        "    access_token: Optional[SequenceNotStr[str]] = None",
        "password = password.encode('latin1')",
        # Code near connection-string words (seen in pydantic and yarl): not a password.
        "def build(host=host, port=port, password=password, database=db):",
        "host = 'db'\nusername = password = port = None",
        "        password = human_quote(self.password, '#/:?@')\n        host = self.host",
        "MultiHostUrl('https://foo.com:123,foo:bar@bar.com/path')",
        "token = _cache.reset(token)",
        "url = 'https://user:a%20secret@example.org'",
        "ANTHROPIC_API_KEY=sk-ant-api03-...",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "request 123e4567-e89b-12d3-a456-426614174000",
        "sha256:" + "ab" * 32,
    ],
)
def test_placeholders_and_lookalikes_are_not_secrets(text: str) -> None:
    assert found(text) == []


def test_placeholder_check() -> None:
    assert is_placeholder("sk-xxxx")
    assert is_placeholder("aaaaaaaaaaaa")
    assert not is_placeholder(rnd(40))


def test_github_checksum_validates_public_format() -> None:
    assert github_checksum_ok(_gh("ghp_"))
    assert not github_checksum_ok("ghp_" + "A" * 36)


def test_disabled_rules_are_skipped() -> None:
    token = _gh("ghp_")
    assert SecretDetector(disabled={"github-pat"}).scan(f"t={token}") == []


def test_encrypted_pem_with_headers() -> None:
    body = "\n".join(rnd(64, ALNUM + "+/") for _ in range(6))
    block = (
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        f"DEK-Info: AES-128-CBC,{rnd(32, HEX).upper()}\n\n{body}\n-----END RSA PRIVATE KEY-----"
    )
    assert found(f"key:\n{block}\nthanks, more text") == [("private-key-rsa", block)]


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN RSA PRIVATE KEY-----" + " " * 20000 + "!",
        ("-----BEGIN PRIVATE KEY-----\n" + "A" * 70 + "\n") * 300,
        "1-" * 20000,
        ("eyJ" + "a" * 50 + ".") * 300,
        "a@" * 5000,
    ],
    ids=["pem-spaces", "pem-headers", "dashes", "jwt-chain", "at-signs"],
)
def test_adversarial_inputs_finish(text: str) -> None:
    """Patterns are linear: these would take minutes with catastrophic backtracking (the
    suite's timeout catches a regression; nothing here depends on a measured duration)."""
    from bordergate.dlp.config import DlpConfig
    from bordergate.dlp.scanner import Scanner

    assert isinstance(Scanner.from_config(DlpConfig(scan_timeout_ms=60_000)).scan(text), list)


def test_cjk_keyword_followed_by_whitespace_is_linear() -> None:
    """`密码` + thousands of spaces used to backtrack quadratically (two optional \\s*)."""
    assert found("密码" + " " * 20000 + "x") == []
