# ruff: noqa: E501  (corpus templates and report rows read better unwrapped)
"""Generate the labelled DLP corpus (deterministic): tests/data/dlp-corpus/corpus.jsonl.

Every secret has the real public format of its provider with a RANDOM body, embedded in a
realistic context (code, .env, YAML, JSON, logs, shell, chat, Chinese prose). Hard negatives
look like secrets or personal data but are not: hashes, UUIDs, placeholders and documentation
examples, base64 images, version strings, numbers that fail their checksum.

Labels: {"class", "kind", "start", "end"} per sensitive span; `source_code` is a label over
the code block. Run: python bench/dlp_corpus_gen.py [--out PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
B32 = string.ascii_uppercase + "234567"
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


class Gen:
    """All randomness flows from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def pick(self, seq: Sequence[T]) -> T:
        return self.r.choice(list(seq))


def b62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def gh_token(g: Gen, prefix: str) -> str:
    body = g.s(30)
    return prefix + body + b62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def pem(g: Gen, label: str, lines: int = 12) -> str:
    body = "\n".join(g.s(64, B64) for _ in range(lines)) + "\n" + g.s(g.r.randint(8, 60), B64) + "="
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def jwt(g: Gen) -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = enc({"alg": g.pick(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    payload = enc({"sub": g.s(10), "iat": g.r.randint(1600000000, 1800000000), "role": "user"})
    return f"{header}.{payload}.{g.s(43, URLSAFE)}"


# name -> (variable name used in contexts, generator)
SECRETS: dict[str, tuple[str, Callable[[Gen], str]]] = {
    "aws-access-key-id": ("AWS_ACCESS_KEY_ID", lambda g: g.pick(["AKIA", "ASIA"]) + g.s(16, B32)),
    "aws-secret-access-key": ("aws_secret_access_key", lambda g: g.s(40, B64)),
    "gcp-api-key": ("GOOGLE_API_KEY", lambda g: "AIza" + g.s(35, URLSAFE)),
    "gcp-oauth-client-secret": ("client_secret", lambda g: "GOCSPX-" + g.s(28, URLSAFE)),
    "azure-storage-key": (
        "AZURE_STORAGE_CONNECTION_STRING",
        lambda g: (
            "DefaultEndpointsProtocol=https;AccountName=st"
            + g.s(8, string.ascii_lowercase)
            + ";AccountKey="
            + g.s(86, B64)
            + "==;EndpointSuffix=core.windows.net"
        ),
    ),
    "azure-ad-client-secret": (
        "AZURE_CLIENT_SECRET",
        lambda g: g.s(3, ALNUM) + g.pick(list("12345678")) + "Q~" + g.s(34, ALNUM + "_~.-"),
    ),
    "alibaba-access-key-id": ("ALIBABA_CLOUD_ACCESS_KEY_ID", lambda g: "LTAI" + g.s(20)),
    "alibaba-access-key-secret": ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", lambda g: g.s(30)),
    "tencent-cloud-secret-id": ("TENCENTCLOUD_SECRET_ID", lambda g: "AKID" + g.s(32)),
    "tencent-cloud-secret-key": ("TENCENTCLOUD_SECRET_KEY", lambda g: g.s(32)),
    "huawei-cloud-secret-key": ("HUAWEICLOUD_SDK_SK", lambda g: g.s(40)),
    "baidu-cloud-access-key": ("QIANFAN_ACCESS_KEY", lambda g: "ALTAK" + g.s(20)),
    "openai-api-key": ("OPENAI_API_KEY", lambda g: "sk-proj-" + g.s(156, URLSAFE)),
    "openai-legacy-key": ("OPENAI_API_KEY", lambda g: "sk-" + g.s(20) + "T3BlbkFJ" + g.s(20)),
    "anthropic-api-key": ("ANTHROPIC_API_KEY", lambda g: "sk-ant-api03-" + g.s(93, URLSAFE) + "AA"),
    "dashscope-api-key": ("DASHSCOPE_API_KEY", lambda g: "sk-" + g.s(32, HEX)),
    "deepseek-api-key": ("DEEPSEEK_API_KEY", lambda g: "sk-" + g.s(32, HEX)),
    "huggingface-token": ("HF_TOKEN", lambda g: "hf_" + g.s(34, string.ascii_letters)),
    "github-pat": ("GITHUB_TOKEN", lambda g: gh_token(g, "ghp_")),
    "github-oauth-token": ("GH_OAUTH_TOKEN", lambda g: gh_token(g, "gho_")),
    "github-server-token": ("GITHUB_APP_TOKEN", lambda g: gh_token(g, "ghs_")),
    "github-fine-grained-pat": (
        "GITHUB_PAT",
        lambda g: "github_pat_" + g.s(22) + "_" + g.s(59),
    ),
    "gitlab-pat": ("GITLAB_TOKEN", lambda g: "glpat-" + g.s(20, URLSAFE)),
    "bitbucket-app-password": ("BITBUCKET_APP_PASSWORD", lambda g: "ATBB" + g.s(32)),
    "npm-token": ("NPM_TOKEN", lambda g: gh_token(g, "npm_")),
    "pypi-token": ("PYPI_TOKEN", lambda g: "pypi-AgEIcHlwaS5vcmc" + g.s(70, URLSAFE)),
    "dockerhub-pat": ("DOCKERHUB_TOKEN", lambda g: "dckr_pat_" + g.s(27, URLSAFE)),
    "slack-bot-token": (
        "SLACK_BOT_TOKEN",
        lambda g: f"xoxb-{g.s(11, string.digits)}-{g.s(13, string.digits)}-{g.s(24)}",
    ),
    "slack-webhook": (
        "SLACK_WEBHOOK_URL",
        lambda g: (
            "https://hooks.slack.com/services/T"
            + g.s(10, string.ascii_uppercase + string.digits)
            + "/B"
            + g.s(10, string.ascii_uppercase + string.digits)
            + "/"
            + g.s(24)
        ),
    ),
    "feishu-webhook": (
        "FEISHU_WEBHOOK",
        lambda g: (
            "https://open.feishu.cn/open-apis/bot/v2/hook/"
            + "-".join(g.s(n, HEX) for n in (8, 4, 4, 4, 12))
        ),
    ),
    "dingtalk-webhook": (
        "DINGTALK_WEBHOOK",
        lambda g: "https://oapi.dingtalk.com/robot/send?access_token=" + g.s(64, HEX),
    ),
    "wecom-webhook": (
        "WECOM_WEBHOOK",
        lambda g: (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key="
            + "-".join(g.s(n, HEX) for n in (8, 4, 4, 4, 12))
        ),
    ),
    "discord-webhook": (
        "DISCORD_WEBHOOK",
        lambda g: f"https://discord.com/api/webhooks/{g.s(18, string.digits)}/{g.s(68, URLSAFE)}",
    ),
    "telegram-bot-token": (
        "TELEGRAM_BOT_TOKEN",
        lambda g: f"{g.s(10, string.digits)}:AA{g.s(33, URLSAFE)}",
    ),
    "stripe-secret-key": ("STRIPE_SECRET_KEY", lambda g: "sk_live_" + g.s(99)),
    "stripe-restricted-key": ("STRIPE_RESTRICTED_KEY", lambda g: "rk_live_" + g.s(99)),
    "square-access-token": ("SQUARE_ACCESS_TOKEN", lambda g: "EAAA" + g.s(60, URLSAFE)),
    "braintree-access-token": (
        "BRAINTREE_TOKEN",
        lambda g: (
            f"access_token$production${g.s(16, string.ascii_lowercase + string.digits)}"
            f"${g.s(32, HEX)}"
        ),
    ),
    "twilio-api-key": ("TWILIO_API_KEY", lambda g: "SK" + g.s(32, HEX)),
    "sendgrid-api-key": ("SENDGRID_API_KEY", lambda g: f"SG.{g.s(22, URLSAFE)}.{g.s(43, URLSAFE)}"),
    "mailgun-api-key": ("MAILGUN_API_KEY", lambda g: "key-" + g.s(32, HEX)),
    "jwt": ("AUTH_TOKEN", jwt),
    "vault-token": ("VAULT_TOKEN", lambda g: "hvs." + g.s(90, URLSAFE)),
    "digitalocean-token": ("DIGITALOCEAN_TOKEN", lambda g: "dop_v1_" + g.s(64, HEX)),
    "groq-api-key": ("GROQ_API_KEY", lambda g: "gsk_" + g.s(52)),
    "password": ("DB_PASSWORD", lambda g: g.s(g.r.randint(12, 24), ALNUM + "!#%^*_-")),
    "api-key-generic": ("api_key", lambda g: g.s(32, HEX)),
}


def _probable_prime(g: Gen, bits: int) -> int:
    """A seeded random prime (Miller-Rabin), so generated RSA keys are deterministic."""
    while True:
        n = g.r.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(n % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)) and _miller_rabin(g, n):
            return n


def _miller_rabin(g: Gen, n: int, rounds: int = 20) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(g.r.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def real_rsa(g: Gen, pkcs8: bool) -> str:
    """A structurally real RSA private key (1024-bit, from seeded primes), PEM-encoded."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    e = 65537
    while True:
        p, q = _probable_prime(g, 512), _probable_prime(g, 512)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    fmt = (
        serialization.PrivateFormat.PKCS8
        if pkcs8
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    raw = numbers.private_key().private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    )
    return raw.decode().strip()


def real_ec(g: Gen) -> str:
    """A structurally real P-256 private key derived from a seeded scalar."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(g.r.getrandbits(255) + 1, ec.SECP256R1())
    raw = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return raw.decode().strip()


# Real key structure where it can be generated deterministically; encrypted, OpenSSH and PGP
# blocks keep random bodies (their real encodings carry random salts/check values).
BLOCK_SECRETS: dict[str, Callable[[Gen], str]] = {
    "private-key-rsa": lambda g: real_rsa(g, pkcs8=False),
    "private-key-pkcs8": lambda g: real_rsa(g, pkcs8=True),
    "private-key-ec": real_ec,
    "private-key-encrypted": lambda g: pem(g, "ENCRYPTED PRIVATE KEY", 18),
    "openssh-private-key": lambda g: pem(g, "OPENSSH PRIVATE KEY", 7),
    "pgp-private-key": lambda g: pem(g, "PGP PRIVATE KEY BLOCK", 20),
}

Sample = dict[str, object]


class Builder:
    """Assembles a text from literal pieces and labelled pieces, tracking offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[dict[str, object]] = []
        self.pos = 0

    def add(self, text: str, cls: str | None = None, kind: str = "") -> Builder:
        if cls:
            self.labels.append(
                {"class": cls, "kind": kind, "start": self.pos, "end": self.pos + len(text)}
            )
        self.parts.append(text)
        self.pos += len(text)
        return self

    def text(self) -> str:
        return "".join(self.parts)


def secret_sample(g: Gen, kind: str, var: str, value: str) -> tuple[str, str, Builder]:
    """Embed one secret value in a randomly chosen realistic context."""
    b = Builder()
    ctx = g.pick(["env", "python", "yaml", "json", "shell", "log", "chat", "zh", "js", "toml"])
    lower = var.lower()
    if kind == "password":
        host = g.pick(["db.internal", "10.0.3.7", "pg-prod.corp", "mysql.local"])
        user = g.pick(["app", "svc_orders", "admin", "reporter"])
        ctx = g.pick(["url", "env", "yaml", "python", "zh"])
        if ctx == "url":
            scheme = g.pick(["postgresql", "mysql", "mongodb", "redis", "amqp"])
            b.add(f"DATABASE_URL={scheme}://{user}:").add(value, "secret", kind).add(
                f"@{host}:5432/app\n"
            )
            return ctx, ".env", b
        if ctx == "zh":
            b.add(f"测试环境的数据库账号是 {user}，密码：").add(value, "secret", kind).add(
                "，用完请及时修改。"
            )
            return ctx, ".txt", b
    if ctx == "env":
        b.add(f"# service config\nLOG_LEVEL=info\n{var}=").add(value, "secret", kind).add(
            "\nPORT=8080\n"
        )
        return ctx, ".env", b
    if ctx == "python":
        b.add(f'import os\n\nclient = Client(\n    {lower}="').add(value, "secret", kind)
        b.add('",\n    timeout=30,\n)\n')
        b.labels.append({"class": "source_code", "kind": "code", "start": 0, "end": b.pos})
        return ctx, ".py", b
    if ctx == "js":
        b.add(f"const config = {{\n  {lower}: '").add(value, "secret", kind).add(
            "',\n  retries: 3,\n};\n"
        )
        b.labels.append({"class": "source_code", "kind": "code", "start": 0, "end": b.pos})
        return ctx, ".js", b
    if ctx == "yaml":
        b.add(f"service:\n  name: billing\n  {lower}: ").add(value, "secret", kind).add(
            "\n  region: eu-west-1\n"
        )
        return ctx, ".yaml", b
    if ctx == "toml":
        b.add(f'[service]\nname = "billing"\n{lower} = "').add(value, "secret", kind).add('"\n')
        return ctx, ".toml", b
    if ctx == "json":
        b.add(f'{{"name": "billing", "{lower}": "').add(value, "secret", kind).add(
            '", "debug": false}\n'
        )
        return ctx, ".json", b
    if ctx == "shell":
        b.add(f"$ export {var}=").add(value, "secret", kind).add("\n$ ./deploy.sh --env prod\n")
        return ctx, ".sh", b
    if ctx == "log":
        b.add(f"2026-03-14T09:12:44Z WARN config loaded {var}=").add(value, "secret", kind)
        b.add(" pid=4121\n")
        return ctx, ".log", b
    if ctx == "chat":
        b.add(g.pick(["Hi, my script fails with 401. I set ", "Why doesn't this work? using "]))
        b.add(f"{var}=").add(value, "secret", kind).add(" — any idea what is wrong?")
        return ctx, ".txt", b
    b.add(g.pick(["帮我看看这个配置为什么报错：", "部署时用的是下面这个凭据，", "同事发来的"]))
    b.add(f"{var}=").add(value, "secret", kind).add(
        g.pick(["，谢谢！", "。是不是过期了？", "，请帮忙排查。"])
    )
    return "zh", ".txt", b


def block_sample(g: Gen, kind: str, value: str) -> tuple[str, str, Builder]:
    b = Builder()
    ctx = g.pick(["file", "chat", "json"])
    if ctx == "json":
        escaped = value.replace("\n", "\\n")
        b.add(
            '{"type": "service_account", "project_id": "demo-' + g.s(6, HEX) + '", "private_key": "'
        )
        b.add(escaped, "secret", kind).add('\\n", "client_id": "svc-demo"}')
        return ctx, ".json", b
    if ctx == "chat":
        b.add("Can you tell me why ssh rejects this key?\n\n").add(value, "secret", kind).add(
            "\n\nThanks"
        )
        return ctx, ".txt", b
    b.add(value, "secret", kind).add("\n")
    return ctx, ".pem", b


def base64_secret_sample(g: Gen) -> tuple[str, str, Builder]:
    """A Kubernetes Secret whose data is base64 of a .env with a real token."""
    kind, (var, make) = g.pick(sorted(SECRETS.items()))
    inner = f"{var}={make(g)}\n"
    blob = base64.b64encode(inner.encode()).decode()
    b = Builder()
    b.add("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-env\ntype: Opaque\ndata:\n  .env: ")
    b.add(blob, "secret", f"base64:{kind}").add("\n")
    return "k8s", ".yaml", b


# --- personal data ----------------------------------------------------------------------------

FIRST = ["li", "wang", "zhang", "anna", "james", "maria", "chen", "olga", "sam", "yuki", "omar"]
LAST = ["smith", "liu", "garcia", "mueller", "wong", "rossi", "kim", "novak", "silva", "zhao"]
DOMAINS = ["example-corp.com", "mail.cn", "acme.io", "contoso.org", "163.com", "qq.com", "gmx.de"]


def luhn_complete(prefix: str, length: int, g: Gen) -> str:
    body = prefix + g.s(length - len(prefix) - 1, string.digits)
    for d in string.digits:
        cand = body + d
        total = 0
        for i, ch in enumerate(reversed(cand)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return cand
    raise AssertionError


def luhn_wrong(prefix: str, length: int, g: Gen) -> str:
    ok = luhn_complete(prefix, length, g)
    return ok[:-1] + str((int(ok[-1]) + g.r.randint(1, 9)) % 10)


def prc_id(g: Gen, valid: bool = True) -> str:
    area = g.pick(["110105", "310104", "440305", "510107", "330106", "420111"])
    y, m, d = g.r.randint(1950, 2005), g.r.randint(1, 12), g.r.randint(1, 28)
    body = f"{area}{y}{m:02d}{d:02d}{g.s(3, string.digits)}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    if not valid:
        check = g.pick([c for c in "0123456789X" if c != check])
    return body + check


IBAN_SPECS = {
    "DE": "n18",
    "GB": "a4n14",
    "FR": "n10c11n2",
    "NL": "a4n10",
    "ES": "n20",
    "IT": "a1n10c12",
}


def iban(g: Gen, valid: bool = True) -> str:
    cc = g.pick(sorted(IBAN_SPECS))
    spec = IBAN_SPECS[cc]
    bban = ""
    i = 0
    while i < len(spec):
        t = spec[i]
        j = i + 1
        while j < len(spec) and spec[j].isdigit():
            j += 1
        n = int(spec[i + 1 : j])
        bban += g.s(
            n,
            {
                "n": string.digits,
                "a": string.ascii_uppercase,
                "c": string.ascii_uppercase + string.digits,
            }[t],
        )
        i = j
    num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    check = 98 - num % 97
    if not valid:
        check = (check + g.r.randint(1, 50)) % 97 + 2
    return f"{cc}{check:02d}{bban}"


def pii_value(g: Gen, kind: str) -> str:
    if kind == "email":
        return f"{g.pick(FIRST)}.{g.pick(LAST)}{g.r.randint(1, 99)}@{g.pick(DOMAINS)}"
    if kind == "phone-us":
        a, b, c = g.r.randint(201, 989), g.r.randint(200, 999), g.r.randint(0, 9999)
        return g.pick(
            [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"+1 {a} {b} {c:04d}", f"{a}.{b}.{c:04d}"]
        )
    if kind == "phone-intl":
        return g.pick(
            [
                f"+44 20 {g.s(4, string.digits)} {g.s(4, string.digits)}",
                f"+49 30 {g.s(8, string.digits)}",
                f"+33 6 {g.s(2, string.digits)} {g.s(2, string.digits)} {g.s(2, string.digits)} {g.s(2, string.digits)}",
                f"+81 3-{g.s(4, string.digits)}-{g.s(4, string.digits)}",
            ]
        )
    if kind == "phone-cn":
        num = "1" + g.pick(list("3456789")) + g.s(9, string.digits)
        return g.pick([num, "+86 " + num, "+86-" + num, f"{num[:3]} {num[3:7]} {num[7:]}"])
    if kind == "prc-id":
        return prc_id(g)
    if kind == "card":
        prefix, length = g.pick(
            [
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("62", 16),
                ("35", 16),
            ]
        )
        num = luhn_complete(prefix, int(length), g)
        if g.r.random() < 0.5 and len(num) == 16:
            sep = g.pick([" ", "-"])
            num = sep.join(num[i : i + 4] for i in range(0, 16, 4))
        return num
    if kind == "iban":
        v = iban(g)
        if g.r.random() < 0.5:
            v = " ".join(v[i : i + 4] for i in range(0, len(v), 4))
        return v
    if kind == "ipv4":
        return ".".join(str(g.r.randint(1, 254)) for _ in range(4))
    if kind == "ipv6":
        return ":".join(g.s(4, HEX).lstrip("0") or "0" for _ in range(8))
    if kind == "ssn":
        return f"{g.r.randint(1, 665):03d}-{g.r.randint(1, 99):02d}-{g.r.randint(1, 9999):04d}"
    raise ValueError(kind)


PII_TEMPLATES_EN = [
    "Please update the account. Contact: {v}. Thanks!",
    "Customer record: name={name}; value={v}; status=active",
    "Hey, can you call me back? {v}",
    "2026-02-11 10:22:31 INFO login ok user={name} client={v}",
    '{{"customer": "{name}", "field": "{v}", "tier": "gold"}}',
    "Summarise this complaint from {name} ({v}) about a late delivery.",
]
PII_TEMPLATES_ZH = [
    "客户{name}的信息：{v}，请尽快处理。",
    "请联系{v}确认订单",
    "这位用户的资料是{v}，地址在上海。",
    "报销单填写人：{name}，号码{v}。",
]
PII_LABEL_KINDS = [
    "email",
    "phone-us",
    "phone-intl",
    "phone-cn",
    "prc-id",
    "card",
    "iban",
    "ipv4",
    "ipv6",
    "ssn",
]


def pii_sample(g: Gen, kind: str) -> tuple[str, str, Builder]:
    v = pii_value(g, kind)
    zh = (kind in ("phone-cn", "prc-id") and g.r.random() < 0.7) or g.r.random() < 0.2
    tpl = g.pick(PII_TEMPLATES_ZH if zh else PII_TEMPLATES_EN)
    name = (
        g.pick(["张伟", "李娜", "王芳"])
        if zh
        else f"{g.pick(FIRST).title()} {g.pick(LAST).title()}"
    )
    if kind == "ssn":
        tpl = g.pick(
            ["Employee SSN: {v}", "Applicant {name}, social security number {v}, DOB on file."]
        )
    before, after = tpl.split("{v}")
    b = Builder()
    b.add(before.replace("{name}", name).replace("{{", "{").replace("}}", "}"))
    b.add(v, "personal_data", kind)
    b.add(after.replace("{name}", name).replace("{{", "{").replace("}}", "}"))
    return ("zh" if zh else "text"), ".txt", b


# --- confidential, code, negatives ----------------------------------------------------------

CODENAMES = ["Project Nightjar", "Operation Bluefin", "Kestrel-7", "青龙计划"]
MARKINGS = [
    "CONFIDENTIAL",
    "INTERNAL USE ONLY",
    "DO NOT DISTRIBUTE",
    "内部资料",
    "机密",
    "严禁外传",
]


def confidential_sample(g: Gen) -> tuple[str, str, Builder]:
    b = Builder()
    if g.r.random() < 0.5:
        m = g.pick(MARKINGS)
        zh = not m.isascii()
        if zh:
            b.add("【").add(m, "confidential", "marking").add(
                "】本季度销售额同比增长，具体数据见附件，请勿转发。"
            )
        else:
            b.add(g.pick(["", "Subject: Q3 plan\n"])).add(m, "confidential", "marking")
            b.add(" — draft board memo. Revenue projections for next year are attached.")
        return "doc", ".txt", b
    c = g.pick(CODENAMES)
    b.add(
        g.pick(["Can you polish the launch email for ", "请帮我润色一下关于", "Status update on "])
    )
    b.add(c, "confidential", "dictionary").add(
        g.pick([": timeline slips two weeks.", "的发布公告。", " — next steps?"])
    )
    return "chat", ".txt", b


CODE_SNIPPETS = [
    'def handler(event, context):\n    items = event.get("items", [])\n    total = sum(i["price"] for i in items)\n    if total > 100:\n        total *= 0.9\n    return {"total": total}\n',
    "import json\nfrom pathlib import Path\n\n\nclass Store:\n    def __init__(self, root):\n        self.root = Path(root)\n\n    def load(self, key):\n        return json.loads((self.root / key).read_text())\n",
    "function debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}\n",
    "func Sum(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}\n",
    'public class Greeter {\n    private final String name;\n    public Greeter(String name) {\n        this.name = name;\n    }\n    public String greet() {\n        return "Hello " + name;\n    }\n}\n',
    '#include <stdio.h>\n\nint main(void) {\n    int n = 10;\n    for (int i = 0; i < n; i++) {\n        printf("%d\\n", i * i);\n    }\n    return 0;\n}\n',
]


def code_sample(g: Gen) -> tuple[str, str, Builder]:
    b = Builder()
    code = g.pick(CODE_SNIPPETS)
    intro = g.pick(
        ["Why is this slow?\n\n", "帮我优化一下这段代码：\n", "Review please:\n```\n", ""]
    )
    b.add(intro).add(code.rstrip("\n"), "source_code", "code").add(
        "\n```\n" if "```" in intro else "\n"
    )
    return "code", ".txt", b


def png_b64(g: Gen) -> str:
    raw = b"\x89PNG\r\n\x1a\n" + bytes(g.r.randrange(256) for _ in range(g.r.randint(200, 600)))
    return base64.b64encode(raw).decode()


NEGATIVES: list[Callable[[Gen], str]] = [
    lambda g: (
        f"commit {g.s(40, HEX)}\nAuthor: dev <dev@users.noreply.github.com>\n\n    fix flaky test\n".replace(
            "dev@users.noreply.github.com", "noreply"
        )
    ),
    lambda g: (
        f"sha256:{g.s(64, HEX)}  dist/app-{g.r.randint(1, 9)}.{g.r.randint(0, 20)}.{g.r.randint(0, 30)}.tar.gz"
    ),
    lambda g: (
        f"request_id={'-'.join(g.s(n, HEX) for n in (8, 4, 4, 4, 12))} status=200 latency_ms={g.r.randint(3, 900)}"
    ),
    lambda g: f"md5 checksum: {g.s(32, HEX)}",
    lambda g: g.pick(
        [
            "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "OPENAI_API_KEY=${OPENAI_API_KEY}",
            'api_key = "YOUR_API_KEY"',
            "Authorization: Bearer <token>",
            "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "password: changeme",
            "DB_PASSWORD=${DB_PASSWORD}",
            'token: "{{ .Values.token }}"',
            "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "client_secret: <your-client-secret>",
            "postgres://user:password@localhost:5432/db",
            "ANTHROPIC_API_KEY=sk-ant-api03-...",
            'password = os.environ["DB_PASSWORD"]',
            "api_key: process.env.API_KEY",
            "secret = get_secret('prod/db')",
            "STRIPE_KEY=sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
            "passwd: ********",
            "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
            "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ]
    ),
    lambda g: f'<img src="data:image/png;base64,{png_b64(g)}" alt="chart">',
    lambda g: (
        f"Upgraded numpy {g.r.randint(1, 2)}.{g.r.randint(0, 30)}.{g.r.randint(0, 9)} -> {g.r.randint(1, 2)}.{g.r.randint(0, 30)}.{g.r.randint(0, 9)}; build 10.0.{g.r.randint(10000, 22000)}.{g.r.randint(1, 999)}"
    ),
    lambda g: (
        f"Order #{g.s(12, string.digits)} shipped on 2026-0{g.r.randint(1, 9)}-1{g.r.randint(0, 9)}, tracking {g.s(2, string.ascii_uppercase)}{g.s(9, string.digits)}CN"
    ),
    lambda g: (
        f"card on file: {luhn_wrong(g.pick(['4', '51', '37']), 16, g)} (rejected: invalid number)"
    ),
    lambda g: f"身份证号码格式校验失败：{prc_id(g, valid=False)}",
    lambda g: f"IBAN {iban(g, valid=False)} failed validation",
    lambda g: (
        f"ssn field example 000-{g.r.randint(10, 99)}-{g.r.randint(1000, 9999)} is invalid; 666-12-3456 too"
    ),
    lambda g: (
        f'{{"model": "gpt-4o", "max_tokens": {g.r.randint(100, 4096)}, "temperature": 0.{g.r.randint(0, 9)}, "token_count": {g.r.randint(10, 9000)}}}'
    ),
    lambda g: (
        f"ts={g.r.randint(1600000000, 1799999999)} epoch_ms={g.r.randint(1600000000000, 1799999999999)} count={g.r.randint(1, 99999)}"
    ),
    lambda g: g.pick(
        [
            "The meeting about the confidentiality agreement is at 3pm.",
            "本次会议讨论了新版本的发布计划，预计下周完成测试。",
            "Please summarise the attached quarterly report in three bullet points.",
            "Our password policy requires rotation every 90 days.",
            "Use a token bucket for rate limiting; each token refills every 100 ms.",
            "Set the secret in the vault, never in code.",
            "价格为12345元，数量678件，编号2024001。",
        ]
    ),
    lambda g: (
        f"color: #{g.s(6, HEX)}; margin: {g.r.randint(0, 40)}px; font-size: 1{g.r.randint(0, 9)}px;"
    ),
    lambda g: f"user_id={g.s(24, HEX)} session={'-'.join(g.s(n, HEX) for n in (8, 4, 4, 4, 12))}",
    lambda g: (
        f'x-request-id: {g.s(26, string.ascii_uppercase + string.digits)}\nETag: "{g.s(32, HEX)}"'
    ),
    lambda g: (
        f"Call me at extension {g.r.randint(100, 999)} or room {g.r.randint(1, 40)}-{g.r.randint(100, 999)}."
    ),
    lambda g: f"docker pull registry.internal/app@sha256:{g.s(64, HEX)}",
    lambda g: (
        f"integrity: sha512-{base64.b64encode(bytes(g.r.randrange(256) for _ in range(64))).decode()}"
    ),
]


def build(seed: int) -> list[Sample]:
    g = Gen(seed)
    samples: list[Sample] = []

    def emit(kind: str, ctx: str, ext: str, b: Builder) -> None:
        samples.append(
            {
                "id": f"s{len(samples):05d}",
                "kind": kind,
                "context": ctx,
                "ext": ext,
                "text": b.text(),
                "labels": b.labels,
            }
        )

    for kind, (var, make) in sorted(SECRETS.items()):
        for _ in range(13):
            ctx, ext, b = secret_sample(g, kind, var, make(g))
            emit(kind, ctx, ext, b)
    for kind, make in sorted(BLOCK_SECRETS.items()):
        for _ in range(8):
            ctx, ext, b = block_sample(g, kind, make(g))
            emit(kind, ctx, ext, b)
    for _ in range(30):
        ctx, ext, b = base64_secret_sample(g)
        emit("base64-secret", ctx, ext, b)
    for kind in PII_LABEL_KINDS:
        for _ in range(40):
            ctx, ext, b = pii_sample(g, kind)
            emit(kind, ctx, ext, b)
    for _ in range(80):
        ctx, ext, b = confidential_sample(g)
        emit("confidential", ctx, ext, b)
    for _ in range(60):
        ctx, ext, b = code_sample(g)
        emit("source-code", ctx, ext, b)
    for _ in range(400):
        b = Builder().add(g.pick(NEGATIVES)(g))
        emit("negative", "mixed", ".txt", b)
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent.parent / "tests/data/dlp-corpus/corpus.jsonl"),
    )
    ap.add_argument("--seed", type=int, default=20261124)
    args = ap.parse_args()
    samples = build(args.seed)
    with open(args.out, "w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    print(f"wrote {len(samples)} samples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
