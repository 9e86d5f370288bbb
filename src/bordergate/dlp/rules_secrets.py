"""The credential formats Bordergate knows, as data: keywords, pattern, window, checks.

Each rule's lower-case `keywords` feed ONE Aho-Corasick automaton; a rule's regex only runs in
a window around its keyword hits (`before` characters before the hit, `after` after it). The
secret value is the named group `v` when present (that is the span reported), else the whole
match. Rules are ordered most specific first: on overlap the earlier rule wins.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from bordergate.dlp.rules_checks import (
    b64url_json,
    char_classes,
    entropy_ok,
    github_checksum_ok,
    is_placeholder,
)

Check = Callable[[str, "re.Match[str]"], bool]


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One credential format."""

    id: str
    keywords: tuple[str, ...]
    pattern: str
    before: int = 0
    after: int = 200
    min_entropy: float = 0.0
    check: Check | None = None
    placeholder_check: bool = True
    #: True: the pattern starts AT the keyword, so it is matched there only (cheap); False:
    #: the keyword sits inside or near the token, so the pattern is searched in a window.
    anchored: bool = True
    #: For an anchored rule, optionally: a regex that the text right after ANY of its keywords
    #: must match for `pattern` to match there (a necessary condition, not the rule). The
    #: Hyperscan prefilter then reports the keyword only where it is followed so, which keeps
    #: keywords that are common words (`token`, `password`, `密码`) out of the per-hit work
    #: in plain prose. It should end in one place for a given start, and may hold non-ASCII
    #: characters only outside character classes.
    follow: str | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    has_value: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = re.compile(self.pattern)
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "has_value", "v" in compiled.groupindex)


# Token boundaries (ASCII only, so CJK text next to a token does not hide it).
L = r"(?<![A-Za-z0-9_\-])"
R = r"(?![A-Za-z0-9_\-])"
ASSIGN = r"""["']?\s*(?:[:=]|:=|=>)\s*["'`]?"""


def _prefixed(
    rid: str, keywords: tuple[str, ...], body: str, entropy: float = 3.0, after: int = 260
) -> SecretRule:
    """A token that starts with a fixed prefix (the keyword)."""
    return SecretRule(
        rid,
        keywords,
        f"{L}(?P<v>{body}){R}",
        after=after,
        min_entropy=entropy,
    )


def _context(
    rid: str,
    keywords: tuple[str, ...],
    key: str,
    value: str,
    entropy: float = 3.5,
    before: int = 40,
    after: int = 200,
) -> SecretRule:
    """A value that is only recognisable by the name it is assigned to."""
    pattern = f"(?i:{key}){ASSIGN}(?P<v>{value})(?![A-Za-z0-9_\\-+/=])"
    return SecretRule(rid, keywords, pattern, before=before, after=after, min_entropy=entropy)


# --- structural checks --------------------------------------------------------------------


def _github(text: str, m: re.Match[str]) -> bool:
    value = m.group("v")
    return github_checksum_ok(value) or entropy_ok(value, 3.5)


def _jwt(text: str, m: re.Match[str]) -> bool:
    header = b64url_json(m.group("v").split(".", 1)[0])
    return isinstance(header, dict) and "alg" in header


_B64_BODY = re.compile(r"[A-Za-z0-9+/=]")


_PEM_HEADER_LINE = re.compile(r"(?m)^[ \t]*(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\n]*")


def _pem_body(text: str, m: re.Match[str]) -> bool:
    body = re.sub(r"\\[nr]", "\n", m.group("body"))
    body = _PEM_HEADER_LINE.sub("", body)  # encrypted PEM: Proc-Type / DEK-Info lines
    body = re.sub(r"\s", "", body)
    if len(body) < 64:
        return False
    good = len(_B64_BODY.findall(body))
    return good / len(body) > 0.9 and entropy_ok(body, 4.5)


def _sas(text: str, m: re.Match[str]) -> bool:
    lo = max(0, m.start() - 400)
    return "sv=" in text[lo : m.start()] or "sv=" in text[m.end() : m.end() + 200]


_BAD_PASSWORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "pw",
        "token",
        "changeme",
        "admin",
        "root",
        "user",
        "username",
        "x-oauth-basic",
        "none",
        "null",
        "example",
        "test",
        "foo",
        "bar",
        "baz",
        "qux",
    }
)


def _password_ok(value: str) -> bool:
    """A password value that is not a template, a mask or a stock word."""
    if value.lower() in _BAD_PASSWORDS or value.startswith(("$", "%", "{", "<", "*", "[")):
        return False
    if " " in unquote(value):
        return False  # "a%20secret": a phrase in a docstring, not a credential
    return not is_placeholder(value)


_MULTI_HOST = re.compile(r"\d{1,5},")  # `scheme://host:5432,user:pw@host2`: a port, then hosts


def _url_password(text: str, m: re.Match[str]) -> bool:
    if m.group("user").startswith(("$", "{", "<", "%")):
        return False
    value = m.group("v")
    if _MULTI_HOST.match(value):
        # A multi-host URL: what preceded the colon was a host and port, and the credentials
        # are the last `user:password` of the list.
        _, _, value = value.rpartition(",")[2].partition(":")
    return bool(value) and _password_ok(value)


_CONN_CONTEXT = re.compile(
    r"(?i)(?:server|data source|host|uid|user id|database|initial catalog)\s*="
)


def _conn_string(text: str, m: re.Match[str]) -> bool:
    lo = max(0, m.start() - 300)
    window = text[lo : m.end() + 200]
    return (
        bool(_CONN_CONTEXT.search(window))
        and not _code_assignment(text, m)
        and _password_ok(m.group("v"))
    )


def _code_assignment(text: str, m: re.Match[str]) -> bool:
    """`password=` in source code rather than in a connection string.

    A connection string ends its value at `;`, a quote or the end of the text; in code the
    value is an expression: a keyword argument (`password=password,`), a call
    (`human_quote(self.password,`) or one link of a chained assignment (`password = port = None`).
    """
    value = m.group("v")
    if value.endswith((",", ")")) or "(" in value or value.startswith(("self.", "this.")):
        return True
    return text[m.end() : m.end() + 4].lstrip(" \t").startswith("=")


_NOT_SECRET_KEY = re.compile(
    r"(?i)(?:max_?|num_?|min_?)tokens?|tokens\b|tokeni[sz]er|token_?(?:type|count|url|uri|endpoint|"
    r"limit|len|length|usage|ids?|expir\w*|ttl)|(?:url|uri|endpoint|path|file|name|type|count|"
    r"length|size|limit|ttl|timeout|header|field|policy|prefix|env|var|hash|id|format|length|"
    r"placeholder|hint|label|mode|version|_len|rotation)$"
)
_CODE_VALUE = re.compile(
    r"^(?:\$|%|\{|<|@|&|\*|process\.env|os\.|env\.|self\.|this\.|config\.|settings\.|getenv|"
    r"None$|null$|true$|false$|undefined$|required$|optional$|string$|bearer$|basic$|"
    r"[A-Za-z_][\w.]*[\[(]|[(\[]|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$|"
    r"[A-Za-z_]+$|\d+$|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|[a-z][a-z0-9]*(?:_[a-z0-9]+)+$|"
    r"/|\./|~/|https?://)"
)
#: A type name (`Ed25519PrivateKey`, `SecretStr`, `OAuth2Token`): capitalised words, digits
#: allowed between them. In `private_key: Ed25519PrivateKey | None` it is an annotation.
_TYPE_NAME = re.compile(r"^(?:[A-Z]{1,3}[a-z]+\d*){2,}$")
_WORD_RUN = re.compile(r"[a-z]{4,}")


def _is_type_name(value: str) -> bool:
    return bool(_TYPE_NAME.match(value) and _WORD_RUN.search(value))


def _generic_value(value: str, min_len: int = 8) -> bool:
    """A value assigned to a secret-sounding name that looks like a real credential."""
    if is_placeholder(value):  # before stripping: "sk-ant-api03-..." is a truncated example
        return False
    if value.endswith(":"):  # `class _FixedToken:` then `tok_type: str`: a key, not a value
        return False
    value = value.rstrip("\"'`.,;")
    if len(value) < min_len or _CODE_VALUE.match(value) or _is_type_name(value):
        return False
    if char_classes(value) < 2 or not any(c.isdigit() or not c.isalnum() for c in value):
        return False
    return entropy_ok(value, 3.0)


_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{0,40}$")


def _generic(text: str, m: re.Match[str]) -> bool:
    start = m.start()
    prefix = _KEY_PREFIX.search(text, max(0, start - 40), start)
    key = (prefix.group(0) if prefix else "") + m.group("key")
    if _NOT_SECRET_KEY.search(key):
        return False
    return _generic_value(m.group("v"))


def _generic_cjk(text: str, m: re.Match[str]) -> bool:
    return _generic_value(m.group("v"), 6)


def _bearer(text: str, m: re.Match[str]) -> bool:
    value = m.group("v")
    return char_classes(value) >= 2 and entropy_ok(value, 3.5) and not is_placeholder(value)


def _basic(text: str, m: re.Match[str]) -> bool:
    value = m.group("v")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = raw.partition(":")
    return (
        bool(sep)
        and bool(user)
        and raw.isprintable()
        and len(password) >= 4
        and password.lower() not in _BAD_PASSWORDS
        and not is_placeholder(password)
    )


def _tail_entropy(text: str, m: re.Match[str]) -> bool:
    return entropy_ok(m.group("v").lstrip("A")[-40:], 3.5)


# --- the rules ------------------------------------------------------------------------------

_PEM_KINDS: tuple[tuple[str, str], ...] = (
    ("private-key-rsa", "RSA PRIVATE KEY"),
    ("private-key-ec", "EC PRIVATE KEY"),
    ("private-key-dsa", "DSA PRIVATE KEY"),
    ("private-key-encrypted", "ENCRYPTED PRIVATE KEY"),
    ("private-key-pkcs8", "PRIVATE KEY"),
    ("openssh-private-key", "OPENSSH PRIVATE KEY"),
    ("ssh2-encrypted-private-key", "SSH2 ENCRYPTED PRIVATE KEY"),
    ("pgp-private-key-block", "PGP PRIVATE KEY BLOCK"),
)


#: A PEM body, matched possessively (linear time, no backtracking): base64, line breaks
#: (real or JSON-escaped), `Proc-Type: ...`/`DEK-Info: ...` header lines, single spaces
#: between base64 runs. A dash never starts `-----`, so the END line is never swallowed.
_PEM_BODY = r"(?:[A-Za-z0-9+/=]|\r?\n|\\[nr]|(?<=:) |[ \t](?=[A-Za-z0-9+/])|[:,]|-(?!----))*+"


def _pem(rid: str, label: str) -> SecretRule:
    begin = f"-----BEGIN {label}-----"
    end = f"-----END {label}-----"
    pattern = f"(?P<v>{re.escape(begin)}(?P<body>{_PEM_BODY})(?:{re.escape(end)})?)"
    return SecretRule(
        rid,
        (begin.lower(),),
        pattern,
        after=16100,
        check=_pem_body,
        placeholder_check=False,
    )


SECRET_RULES: tuple[SecretRule, ...] = (
    # Private keys and structured tokens first: they are the most specific.
    SecretRule(
        "gcp-service-account-key",
        ('"private_key"',),
        r'"private_key"\s*:\s*"(?P<v>-----BEGIN (?:RSA )?PRIVATE KEY-----(?P<body>(?:\\[nr]|'
        r'[A-Za-z0-9+/=\s]){64,8000}?)-----END (?:RSA )?PRIVATE KEY-----(?:\\n)?)"',
        after=8200,
        check=_pem_body,
        placeholder_check=False,
    ),
    *(_pem(rid, label) for rid, label in _PEM_KINDS),
    SecretRule(
        "putty-private-key",
        ("putty-user-key-file-",),
        r"(?P<v>PuTTY-User-Key-File-\d: [\s\S]{20,6000}?Private-MAC: [0-9a-f]{40,64})",
        after=6200,
        placeholder_check=False,
    ),
    SecretRule(
        "age-secret-key",
        ("age-secret-key-1",),
        r"(?P<v>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})",
        after=80,
    ),
    # Cloud providers: US.
    _prefixed(
        "aws-access-key-id",
        ("akia", "asia", "abia", "acca"),
        r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        entropy=2.5,
        after=24,
    ),
    SecretRule(
        "aws-secret-access-key",
        (
            "aws_secret",
            "aws-secret",
            "awssecret",
            "secret_access_key",
            "secretaccesskey",
            "secret-access-key",
            "aws secret",
        ),
        r"(?i:aws[_\-\s.]?secret(?:[_\-\s.]?access)?(?:[_\-\s.]?key)?|secret[_\-]?access[_\-]?key)"
        + ASSIGN
        + r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        before=10,
        after=120,
        min_entropy=4.0,
    ),
    SecretRule(
        "aws-secret-access-key",
        ("akia", "asia"),
        r"(?:AKIA|ASIA)[A-Z2-7]{16}[\"']?\s*[,:;|\s]\s*[\"']?(?P<v>[A-Za-z0-9/+]{40})"
        r"(?![A-Za-z0-9/+=])",
        after=90,
        min_entropy=4.0,
    ),
    SecretRule(
        "aws-session-token",
        ("aws_session_token", "sessiontoken", "session_token"),
        r"(?i:(?:aws[_\-]?)?session[_\-]?token)" + ASSIGN + r"(?P<v>[A-Za-z0-9/+=]{100,2000})",
        before=10,
        after=2100,
        min_entropy=4.0,
    ),
    _prefixed("gcp-api-key", ("aiza",), r"AIza[0-9A-Za-z_\-]{35}", entropy=3.5),
    _prefixed("gcp-oauth-client-secret", ("gocspx-",), r"GOCSPX-[A-Za-z0-9_\-]{28}"),
    _prefixed("google-oauth-access-token", ("ya29.",), r"ya29\.[0-9A-Za-z_\-]{30,400}", after=420),
    SecretRule(
        "azure-storage-account-key",
        ("accountkey=",),
        r"(?i:AccountKey)=(?P<v>[A-Za-z0-9+/]{86}==)",
        after=110,
        min_entropy=4.5,
    ),
    SecretRule(
        "azure-shared-access-key",
        ("sharedaccesskey=",),
        r"(?i:SharedAccessKey)=(?P<v>[A-Za-z0-9+/]{42,43}=)",
        after=70,
        min_entropy=4.0,
    ),
    SecretRule(
        "azure-sas-token",
        ("sig=",),
        r"(?<=[?&;])sig=(?P<v>[A-Za-z0-9%+/]{30,120}(?:%3[Dd]|=){0,2})",
        after=140,
        min_entropy=3.5,
        check=_sas,
    ),
    SecretRule(
        "azure-ad-client-secret",
        ("q~",),
        r"(?<![A-Za-z0-9_~.\-])(?P<v>[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})"
        r"(?![A-Za-z0-9_~.\-])",
        before=6,
        after=40,
        min_entropy=3.5,
        anchored=False,
    ),
    _prefixed("digitalocean-token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"do[por]_v1_[a-f0-9]{64}"),
    _prefixed("heroku-api-key", ("hrku-",), r"HRKU-[A-Za-z0-9_\-]{50,70}"),
    _prefixed("databricks-token", ("dapi",), r"dapi[a-f0-9]{32}(?:-\d)?"),
    # Cloud providers: China.
    _prefixed("alibaba-access-key-id", ("ltai",), r"LTAI[A-Za-z0-9]{12,20}", after=30),
    _context(
        "alibaba-access-key-secret",
        ("accesskeysecret", "access_key_secret", "access-key-secret", "aliyun"),
        r"(?i:access[_\-.]?key[_\-.]?secret|aliyun[\w.\-]{0,30}?secret)",
        r"[A-Za-z0-9]{30}",
        entropy=3.8,
    ),
    _prefixed("tencent-cloud-secret-id", ("akid",), r"AKID[A-Za-z0-9]{32}", after=40),
    _context(
        "tencent-cloud-secret-key",
        ("secretkey", "tencent"),
        r"tencent[\w.\-]{0,30}?secret[_\-]?key|(?-i:SecretKey)",
        r"[A-Za-z0-9]{32}",
        entropy=3.8,
    ),
    _context(
        "huawei-cloud-access-key",
        ("huawei", "hwcloud", "hw_"),
        r"(?i:huawei|hwcloud|hw)[\w.\-]{0,30}?(?i:access[_\-]?key(?:[_\-]?id)?|_ak\b|\bak\b)",
        r"[A-Z0-9]{20}",
        entropy=3.0,
        after=120,
    ),
    _context(
        "huawei-cloud-secret-key",
        ("huawei", "hwcloud", "hw_"),
        r"(?i:huawei|hwcloud|hw)[\w.\-]{0,30}?(?i:secret[_\-]?(?:access[_\-]?)?key|_sk\b|\bsk\b)",
        r"[A-Za-z0-9]{40}",
        entropy=4.0,
        after=140,
    ),
    _prefixed("baidu-cloud-access-key", ("altak",), r"ALTAK[A-Za-z0-9]{17,30}", entropy=3.5),
    _prefixed("baidu-bce-v3-token", ("bce-v3/",), r"bce-v3/ALTAK-[A-Za-z0-9]{20,}/[a-f0-9]{40}"),
    _context(
        "baidu-cloud-credential",
        ("bce", "baidu", "qianfan"),
        r"(?i:bce|baidu|qianfan)[\w.\-]{0,30}?(?i:access[_\-]?key(?:[_\-]?id)?|"
        r"secret[_\-]?(?:access[_\-]?)?key|_ak\b|_sk\b|api[_\-]?key)",
        r"[A-Za-z0-9]{24,64}",
        after=150,
    ),
    # Model providers.
    SecretRule(
        "openai-api-key",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        f"{L}(?P<v>sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\\-]{{40,250}}){R}",
        after=270,
        min_entropy=3.5,
    ),
    SecretRule(
        "openai-api-key",
        ("t3blbkfj",),
        f"{L}(?P<v>sk-[A-Za-z0-9]{{20}}T3BlbkFJ[A-Za-z0-9]{{20}}){R}",
        before=24,
        after=40,
        min_entropy=3.5,
        anchored=False,
    ),
    _prefixed(
        "anthropic-api-key",
        ("sk-ant-",),
        r"sk-ant-(?:api|admin|oat|ort)\d\d-[A-Za-z0-9_\-]{80,120}",
    ),
    SecretRule(
        "dashscope-api-key",
        ("dashscope", "qwen", "bailian", "tongyi"),
        rf"(?i:dashscope|qwen|bailian|tongyi)[^\n]{{0,80}}?{L}(?P<v>sk-[a-f0-9]{{32}}){R}",
        after=130,
        min_entropy=3.0,
    ),
    SecretRule(
        "deepseek-api-key",
        ("deepseek",),
        rf"(?i:deepseek)[^\n]{{0,80}}?{L}(?P<v>sk-[a-f0-9]{{32}}){R}",
        after=130,
        min_entropy=3.0,
    ),
    SecretRule(
        "moonshot-api-key",
        ("moonshot", "kimi"),
        rf"(?i:moonshot|kimi)[^\n]{{0,80}}?{L}(?P<v>sk-[A-Za-z0-9]{{48}}){R}",
        after=150,
        min_entropy=3.5,
    ),
    _prefixed("openai-compatible-api-key", ("sk-",), r"sk-[A-Za-z0-9]{32,64}", entropy=3.5),
    _prefixed("huggingface-token", ("hf_",), r"hf_[A-Za-z0-9]{34,40}", entropy=3.5),
    _prefixed("huggingface-org-token", ("api_org_",), r"api_org_[A-Za-z]{34}", entropy=3.5),
    _prefixed("groq-api-key", ("gsk_",), r"gsk_[A-Za-z0-9]{52}", entropy=3.5),
    _prefixed("xai-api-key", ("xai-",), r"xai-[A-Za-z0-9]{80}", entropy=3.5),
    _prefixed("replicate-api-token", ("r8_",), r"r8_[A-Za-z0-9]{37}", entropy=3.5),
    _prefixed("perplexity-api-key", ("pplx-",), r"pplx-[A-Za-z0-9]{48}", entropy=3.5),
    SecretRule(
        "zhipu-api-key",
        ("zhipu", "bigmodel", "glm"),
        rf"(?i:zhipu|bigmodel|glm)[^\n]{{0,80}}?{L}(?P<v>[a-f0-9]{{32}}\.[A-Za-z0-9]{{16}}){R}",
        after=140,
        min_entropy=3.0,
    ),
    _context(
        "ai-provider-api-key",
        ("cohere", "mistral", "together", "anyscale", "fireworks", "siliconflow", "minimax"),
        r"(?i:cohere|mistral|together|anyscale|fireworks|siliconflow|minimax)[\w.\-]{0,20}?"
        r"(?i:api[_\-]?key|token|secret)",
        r"[A-Za-z0-9_\-]{32,80}",
    ),
    # Source control, CI and package registries.
    *(
        SecretRule(
            rid, (prefix,), f"{L}(?P<v>{prefix}[A-Za-z0-9]{{36}}){R}", after=45, check=_github
        )
        for rid, prefix in (
            ("github-pat", "ghp_"),
            ("github-oauth-token", "gho_"),
            ("github-user-to-server-token", "ghu_"),
            ("github-server-to-server-token", "ghs_"),
            ("github-refresh-token", "ghr_"),
        )
    ),
    _prefixed(
        "github-fine-grained-pat", ("github_pat_",), r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"
    ),
    _prefixed("gitlab-pat", ("glpat-",), r"glpat-[A-Za-z0-9_\-.]{20,80}"),
    _prefixed("gitlab-pipeline-trigger-token", ("glptt-",), r"glptt-[a-f0-9]{40}"),
    _prefixed("gitlab-runner-token", ("glrt-",), r"glrt-[A-Za-z0-9_\-.]{20,80}"),
    _prefixed("gitlab-deploy-token", ("gldt-",), r"gldt-[A-Za-z0-9_\-.]{20,80}"),
    _prefixed("bitbucket-app-password", ("atbb",), r"ATBB[A-Za-z0-9_=.\-]{32}"),
    _prefixed("atlassian-api-token", ("atatt3",), r"ATATT3[A-Za-z0-9_\-=]{150,300}", after=320),
    _prefixed("npm-token", ("npm_",), r"npm_[A-Za-z0-9]{36}", entropy=3.5),
    _prefixed(
        "pypi-token", ("pypi-ageichlwas5vcmc",), r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,300}"
    ),
    _prefixed("dockerhub-pat", ("dckr_pat_",), r"dckr_pat_[A-Za-z0-9_\-]{27}"),
    _prefixed("hashicorp-vault-token", ("hvs.", "hvb."), r"hv[sb]\.[A-Za-z0-9_\-]{24,200}"),
    SecretRule(
        "terraform-cloud-token",
        (".atlasv1.",),
        rf"{L}(?P<v>[A-Za-z0-9]{{14}}\.atlasv1\.[A-Za-z0-9_\-=]{{60,70}}){R}",
        before=16,
        after=90,
        min_entropy=3.5,
        anchored=False,
    ),
    _prefixed("pulumi-access-token", ("pul-",), r"pul-[a-f0-9]{40}"),
    _prefixed("postman-api-key", ("pmak-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    _prefixed("grafana-service-account-token", ("glsa_",), r"glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}"),
    _prefixed(
        "sentry-auth-token",
        ("sntrys_", "sntryu_"),
        r"sntry(?:s_[A-Za-z0-9+/=_]{50,400}|u_[a-f0-9]{64})",
    ),
    _prefixed("linear-api-key", ("lin_api_",), r"lin_api_[A-Za-z0-9]{40}"),
    _prefixed(
        "notion-token",
        ("ntn_", "secret_"),
        r"(?:ntn_[A-Za-z0-9]{46}|secret_[A-Za-z0-9]{43})",
        entropy=3.5,
    ),
    _prefixed(
        "shopify-token",
        ("shpat_", "shpss_", "shpca_", "shppa_"),
        r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
    ),
    _prefixed("new-relic-api-key", ("nrak-",), r"NRAK-[A-Z0-9]{27}"),
    _prefixed("supabase-token", ("sbp_",), r"sbp_[a-f0-9]{40}"),
    _prefixed("doppler-token", ("dp.pt.",), r"dp\.pt\.[A-Za-z0-9]{43}"),
    _context(
        "datadog-api-key",
        ("datadog", "dd_api_key", "dd_app_key", "dd-api-key"),
        r"(?i:datadog[\w.\-]{0,20}?|dd[_\-])(?i:api|app(?:lication)?)[_\-]?key",
        r"[a-f0-9]{32}|[a-f0-9]{40}",
        entropy=3.0,
    ),
    _context(
        "cloudflare-api-token",
        ("cloudflare", "cf_api", "cf_token", "cf-api"),
        r"(?i:cloudflare|cf)[\w.\-]{0,20}?(?i:token|api[_\-]?key)",
        r"[A-Za-z0-9_\-]{37,40}",
    ),
    # Chat platforms and webhooks.
    _prefixed("slack-bot-token", ("xoxb-",), r"xoxb-\d{9,13}-\d{9,13}-[A-Za-z0-9]{24,34}"),
    _prefixed("slack-user-token", ("xoxp-",), r"xoxp-\d{9,13}-\d{9,13}-\d{9,13}-[a-f0-9]{32}"),
    _prefixed(
        "slack-token",
        ("xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxe."),
        r"xox(?:[ars]-|e(?:\.xox[bp])?-)[A-Za-z0-9\-]{20,250}",
    ),
    _prefixed("slack-app-token", ("xapp-",), r"xapp-\d-[A-Z0-9]{9,11}-\d{10,13}-[a-f0-9]{64}"),
    SecretRule(
        "slack-webhook",
        ("hooks.slack.com/",),
        r"(?P<v>https://hooks\.slack\.com/(?:services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/"
        r"[A-Za-z0-9]{24}|(?:workflows|triggers)/T[A-Z0-9]{8,12}/A[A-Z0-9]{8,12}/\d+/"
        r"[A-Za-z0-9]{32}))",
        before=10,
        after=140,
        anchored=False,
    ),
    SecretRule(
        "feishu-lark-webhook",
        ("/open-apis/bot/v2/hook/",),
        r"(?P<v>https?://open\.(?:feishu\.cn|larksuite\.com|larkoffice\.com)/open-apis/bot/v2/"
        r"hook/[0-9a-f\-]{36})",
        before=32,
        after=70,
        anchored=False,
    ),
    SecretRule(
        "dingtalk-webhook",
        ("oapi.dingtalk.com/robot/send",),
        r"(?P<v>https?://oapi\.dingtalk\.com/robot/send\?access_token=[0-9a-f]{64})",
        before=10,
        after=120,
        anchored=False,
    ),
    _context(
        "dingtalk-access-token",
        ("dingtalk", "dingding"),
        r"(?i:ding(?:talk|ding))[\w.\-]{0,30}?(?i:access[_\-]?token|token)",
        r"[0-9a-f]{64}",
        entropy=3.0,
    ),
    replace(
        _prefixed("dingtalk-robot-secret", ("sec",), r"SEC[a-f0-9]{64}", after=70),
        follow="[a-f0-9]{64}",
    ),
    SecretRule(
        "wecom-webhook",
        ("qyapi.weixin.qq.com/cgi-bin/webhook/send",),
        r"(?P<v>https?://qyapi\.weixin\.qq\.com/cgi-bin/webhook/send\?key=[0-9a-f\-]{36})",
        before=10,
        after=100,
        anchored=False,
    ),
    _context(
        "wechat-app-secret",
        ("appsecret", "app_secret", "app-secret", "corpsecret", "corp_secret", "wx_secret"),
        r"(?i:app[_\-]?secret|corp[_\-]?secret|wechat[_\-]?secret|wx[_\-]?secret)",
        r"[a-f0-9]{32}|[A-Za-z0-9_\-]{43}",
        entropy=3.0,
    ),
    SecretRule(
        "discord-webhook",
        ("discord.com/api/webhooks/", "discordapp.com/api/webhooks/"),
        r"(?P<v>https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/"
        r"[A-Za-z0-9_\-]{60,68})",
        before=20,
        after=140,
        anchored=False,
    ),
    SecretRule(
        "discord-bot-token",
        ("discord",),
        rf"{L}(?P<v>[MNO][A-Za-z0-9_\-]{{23,25}}\.[A-Za-z0-9_\-]{{6}}\.[A-Za-z0-9_\-]{{27,38}}){R}",
        before=200,
        after=200,
        min_entropy=3.5,
        anchored=False,
    ),
    SecretRule(
        "telegram-bot-token",
        (":aa",),
        r"(?<![0-9])(?P<v>\d{8,10}:AA[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])",
        before=11,
        after=40,
        min_entropy=3.5,
        anchored=False,
    ),
    SecretRule(
        "teams-webhook",
        ("webhook.office.com/",),
        r"(?P<v>https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[a-f0-9\-]{36}@[a-f0-9\-]{36}"
        r"/IncomingWebhook/[a-f0-9]{32}/[a-f0-9\-]{36})",
        before=40,
        after=220,
        anchored=False,
    ),
    # Payments and messaging services.
    _prefixed("stripe-secret-key", ("sk_live_",), r"sk_live_[A-Za-z0-9]{24,99}"),
    _prefixed("stripe-restricted-key", ("rk_live_",), r"rk_live_[A-Za-z0-9]{24,99}"),
    _prefixed("stripe-webhook-secret", ("whsec_",), r"whsec_[A-Za-z0-9+/=]{32,64}"),
    _prefixed(
        "braintree-access-token",
        ("access_token$production$",),
        r"access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32}",
    ),
    _context(
        "paypal-client-secret",
        ("paypal",),
        r"(?i:paypal)[\w.\-]{0,30}?(?i:secret)",
        r"[A-Za-z0-9_\-]{80}",
    ),
    _prefixed(
        "square-access-token",
        ("sq0atp-", "eaaa"),
        r"sq0atp-[A-Za-z0-9_\-]{22}|EAAA[A-Za-z0-9_\-]{60}",
    ),
    _prefixed("square-oauth-secret", ("sq0csp-",), r"sq0csp-[A-Za-z0-9_\-]{43}"),
    SecretRule(
        "twilio-api-key",
        ("twilio",),
        r"(?<![A-Za-z0-9])(?P<v>SK[0-9a-f]{32})(?![A-Za-z0-9])",
        before=300,
        after=300,
        min_entropy=3.0,
        anchored=False,
    ),
    _context(
        "twilio-auth-token",
        ("twilio",),
        r"(?i:twilio)[\w.\-]{0,30}?(?i:auth[_\-]?token|token|secret)",
        r"[a-f0-9]{32}",
        entropy=3.0,
    ),
    _prefixed(
        "sendgrid-api-key", ("sg.",), r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", entropy=3.5
    ),
    _prefixed("mailgun-api-key", ("key-",), r"key-[0-9a-f]{32}", entropy=3.0, after=40),
    SecretRule(
        "mailchimp-api-key",
        ("-us",),
        rf"{L}(?P<v>[0-9a-f]{{32}}-us\d{{1,2}}){R}",
        before=33,
        after=8,
        min_entropy=3.0,
        anchored=False,
    ),
    _prefixed("facebook-access-token", ("eaa",), r"EAA[B-Z][A-Za-z0-9]{80,300}", entropy=3.5),
    SecretRule(
        "twitter-bearer-token",
        ("aaaaaaaaaaaaaaaaaaaaa",),
        rf"{L}(?P<v>A{{21}}[A-Za-z0-9%]{{30,200}}){R}",
        before=40,
        after=240,
        check=_tail_entropy,
        placeholder_check=False,
    ),
    SecretRule(
        "firebase-cloud-messaging-key",
        (":apa91b",),
        rf"{L}(?P<v>AAAA[A-Za-z0-9_\-]{{7}}:APA91b[A-Za-z0-9_\-]{{134}}){R}",
        before=12,
        after=150,
        min_entropy=3.5,
        anchored=False,
    ),
    # JWTs, URLs and connection strings.
    SecretRule(
        "jwt",
        ("eyj",),
        rf"{L}(?P<v>eyJ[A-Za-z0-9_\-]{{8,}}\.[A-Za-z0-9_\-]{{4,}}\.[A-Za-z0-9_\-]{{16,}}){R}",
        after=8000,
        check=_jwt,
    ),
    SecretRule(
        "url-password",
        ("://",),
        r"://(?P<user>[^\s:/@\"'<>]{1,128}):"
        r"(?P<v>[^\s@/\"'<>]{1,256})@(?P<host>[A-Za-z0-9.\-_\[\]%]+)",
        before=32,
        after=420,
        check=_url_password,
        placeholder_check=False,
    ),
    SecretRule(
        "connection-string-password",
        ("password=", "pwd=", "password =", "pwd ="),
        r"(?i:(?<![A-Za-z0-9_])(?:password|pwd)\s*=\s*)(?P<v>[^;\"'\s]{4,128})",
        before=2,
        after=140,
        check=_conn_string,
        placeholder_check=False,
    ),
    SecretRule(
        "http-bearer-token",
        ("bearer",),
        r"(?i:bearer)\s+(?P<v>[A-Za-z0-9_\-.=+/~]{20,1000})",
        after=1010,
        check=_bearer,
    ),
    SecretRule(
        "http-basic-auth",
        ("basic ",),
        r"(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{12,}={0,2})(?![A-Za-z0-9+/=])",
        after=300,
        check=_basic,
    ),
    SecretRule(
        "cli-secret-argument",
        ("--password", "--token", "--api-key", "--secret", "--apikey", "--access-key"),
        r"--(?i:password|token|api-?key|secret|access-key)(?:=|\s+)[\"']?(?P<v>[^\s\"']{8,200})",
        after=220,
        check=lambda text, m: _generic_value(m.group("v")),
    ),
    SecretRule(
        "generic-secret-assignment",
        (
            "password",
            "passwd",
            "pwd",
            "secret",
            "api_key",
            "api-key",
            "apikey",
            "access_key",
            "access-key",
            "accesskey",
            "token",
            "credential",
            "auth_key",
            "private_key",
        ),
        r"(?P<key>(?i:(?:passw(?:or)?d|pwd|secret|api[_\-]?key|access[_\-]?key|token|"
        r"credentials?|auth[_\-]?key|private[_\-]?key)[A-Za-z0-9_.\-]{0,20}))"
        r"[\"']?[ \t]*(?:=|:=|:|=>)[ \t]*[\"'`]?(?P<v>[^\s\"'`;,)}\]]{6,256})",
        before=42,
        after=320,
        check=_generic,
        placeholder_check=False,
        # The key word (a keyword, or `credentials` for `credential`), up to 20 more name
        # characters, an optional quote and blanks, then the operator's first character.
        follow=r"[A-Za-z0-9_.\-]{0,21}[\"']?[ \t]*[:=]",
    ),
    SecretRule(
        "generic-secret-assignment-cjk",
        ("密码", "口令", "密钥", "秘钥", "令牌"),
        r"(?:密码|口令|密钥|秘钥|令牌)(?:是|为)?[ \t]*+(?:[:：=][ \t]*+)?[\"'“]?"
        r"(?P<v>[!-~]{6,128})",
        after=150,
        check=_generic_cjk,
        placeholder_check=False,
        # After 是/为 and blanks: an operator, a quote or the value's first character.
        follow="(?:是|为)?[ \t]*(?:[!-~]|：|“)",
    ),
)
