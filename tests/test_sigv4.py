"""SigV4 signing for Bedrock: the gateway's signer must produce what AWS computes.

The oracle is botocore's own SigV4 signer (a test-only dependency) fed the same request the
gateway sends: the exact wire URL, body and content-type, at a pinned time. The known-answer
vectors come from AWS's published SigV4 documentation and test suite.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bordergate.upstream import sigv4
from bordergate.upstream.sigv4 import AwsCredentials, SigV4Signer

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9SECRETzz"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQTOKENzz+9/abc=="
WHEN = datetime(2025, 10, 14, 9, 30, 15, tzinfo=UTC)
BODY = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[]}'

FRANKFURT = "https://bedrock-runtime.eu-central-1.amazonaws.com"
VIRGINIA = "https://bedrock-runtime.us-east-1.amazonaws.com"
EMULATOR = "http://127.0.0.1:9000"
STREAM = "invoke-with-response-stream"


def botocore_headers(
    url: str,
    payload: bytes,
    region: str,
    when: datetime,
    token: str | None = None,
    content_type: str | None = "application/json",
    method: str = "POST",
    service: str = "bedrock",
) -> dict[str, str]:
    """Headers botocore's SigV4Auth adds to the same request at `when` (lower-case names)."""
    headers = {"content-type": content_type} if content_type is not None else {}
    request = AWSRequest(method=method, url=url, data=payload, headers=headers)
    naive_utc = when.astimezone(UTC).replace(tzinfo=None)
    # botocore >= 1.3x reads the clock through this helper (imported into botocore.auth).
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        SigV4Auth(Credentials(AKID, SECRET, token), service, region).add_auth(request)
    signed = {name.lower(): value for name, value in request.headers.items()}
    # Guard against the hook moving in a future botocore: the pinned time must be the one used.
    assert signed["x-amz-date"] == naive_utc.strftime("%Y%m%dT%H%M%SZ")
    return signed


def ours(
    url: str,
    payload: bytes,
    region: str,
    when: datetime | None,
    token: str | None = None,
    content_type: str | None = "application/json",
) -> dict[str, str]:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET, token), region, content_type=content_type)
    return signer.sign("POST", url, payload, when)


def assert_same(mine: dict[str, str], oracle: dict[str, str], token: str | None) -> None:
    assert mine["authorization"] == oracle["authorization"]
    assert mine["x-amz-date"] == oracle["x-amz-date"]
    if token is None:
        assert "x-amz-security-token" not in mine
    else:
        assert mine["x-amz-security-token"] == oracle["x-amz-security-token"] == token
    if "content-type" in mine:
        assert mine["content-type"] == oracle["content-type"]


MODEL_URLS = [
    # Plain model id: ':' percent-encoded by the gateway, dots left alone.
    f"{FRANKFURT}/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke",
    # Cross-region inference profiles.
    f"{FRANKFURT}/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/{STREAM}",
    f"{VIRGINIA}/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
    # An ARN as the model id: ':' and '/' both encoded inside the one path segment.
    f"{VIRGINIA}/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
    f"application-inference-profile%2Fa1b2c3d4e5f6/{STREAM}",
    # Lower-case hex from another URL builder: re-encoded as sent, like AWS does.
    f"{VIRGINIA}/model/us.anthropic.claude-opus-4-1-20250805-v1%3a0/invoke",
]


@pytest.mark.parametrize("url", MODEL_URLS)
@pytest.mark.parametrize("payload", [BODY, b""], ids=["body", "empty"])
@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
def test_matches_botocore_for_bedrock_model_urls(
    url: str, payload: bytes, token: str | None
) -> None:
    region = url.split(".")[1]
    mine = ours(url, payload, region, WHEN, token)
    assert_same(mine, botocore_headers(url, payload, region, WHEN, token), token)
    assert "SignedHeaders=content-type;host;x-amz-date" in mine["authorization"]
    assert f"Credential={AKID}/20251014/{region}/bedrock/aws4_request" in mine["authorization"]


def test_canonical_uri_encodes_the_wire_path_once_more() -> None:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "eu-central-1")
    url = f"{FRANKFURT}/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A1%3Ax%2Fy.z_~-1/invoke"
    canonical = signer.canonical_request("POST", url, BODY, WHEN).split("\n")
    assert canonical[0] == "POST"
    assert (
        canonical[1]
        == "/model/arn%253Aaws%253Abedrock%253Aeu-central-1%253A1%253Ax%252Fy.z_~-1/invoke"
    )
    assert canonical[2] == ""  # no query
    assert canonical[3:6] == [
        "content-type:application/json",
        "host:bedrock-runtime.eu-central-1.amazonaws.com",
        "x-amz-date:20251014T093015Z",
    ]
    assert canonical[-1] == hashlib.sha256(BODY).hexdigest()


def test_large_and_binary_payloads_match_botocore() -> None:
    url = MODEL_URLS[1]
    payload = bytes(range(256)) * 64 + "é漢字".encode()
    mine = ours(url, payload, "eu-central-1", WHEN)
    assert_same(mine, botocore_headers(url, payload, "eu-central-1", WHEN), None)


def test_two_regions_differ_and_each_matches_botocore() -> None:
    path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    signed = {}
    for region, base in (("eu-central-1", FRANKFURT), ("us-east-1", VIRGINIA)):
        signed[region] = ours(base + path, BODY, region, WHEN)
        assert_same(signed[region], botocore_headers(base + path, BODY, region, WHEN), None)
    assert signed["eu-central-1"]["authorization"] != signed["us-east-1"]["authorization"]


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
def test_emulator_port_is_part_of_the_host(token: str | None) -> None:
    url = f"{EMULATOR}/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/{STREAM}"
    mine = ours(url, BODY, "eu-central-1", WHEN, token)
    assert_same(mine, botocore_headers(url, BODY, "eu-central-1", WHEN, token), token)
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "eu-central-1")
    assert "\nhost:127.0.0.1:9000\n" in signer.canonical_request("POST", url, BODY, WHEN)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (f"{VIRGINIA}:443/model/m%3A0/invoke", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:80/model/m%3A0/invoke", "127.0.0.1"),
        ("https://127.0.0.1:80/model/m%3A0/invoke", "127.0.0.1:80"),
        ("http://[::1]:9000/model/m%3A0/invoke", "[::1]:9000"),
        ("https://Bedrock-Runtime.US-EAST-1.amazonaws.com/model/m/invoke", None),
    ],
)
def test_host_header_value_drops_only_the_default_port(url: str, host: str | None) -> None:
    expected = host or "bedrock-runtime.us-east-1.amazonaws.com"
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "us-east-1")
    assert f"\nhost:{expected}\n" in signer.canonical_request("POST", url, BODY, WHEN)
    assert_same(
        signer.sign("POST", url, BODY, WHEN), botocore_headers(url, BODY, "us-east-1", WHEN), None
    )


@pytest.mark.parametrize(
    "query",
    [
        "b=2&a=1",
        "a=2&a=1&a=10",
        "x=a%2Fb&Upper=1&lower=2",
        "key=value%20with%20spaces&empty=",
        "flag&z=%E2%82%AC",
        "unreserved=-_.~AZaz09",
    ],
)
def test_query_strings_are_sorted_and_encoded_like_botocore(query: str) -> None:
    url = f"{VIRGINIA}/model/m%3A0/invoke?{query}"
    mine = ours(url, BODY, "us-east-1", WHEN)
    assert_same(mine, botocore_headers(url, BODY, "us-east-1", WHEN), None)


def test_query_is_canonicalized_whatever_the_builder_encoded() -> None:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "us-east-1")

    def query_line(query: str) -> str:
        url = f"{VIRGINIA}/x?{query}"
        return signer.canonical_request("GET", url, b"", WHEN).split("\n")[2]

    assert query_line("b=%7e&a=x%2fy&c=%41") == "a=x%2Fy&b=~&c=A"
    assert query_line("q=a+b&r=a%20b&s=a b") == "q=a%2Bb&r=a%20b&s=a%20b"
    assert query_line("k=2&k=1&&j") == "j=&k=1&k=2"


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/a/./b/../c", "/a/c"),
        ("/a//b/", "/a/b/"),
        ("/a/b/..", "/a"),
        ("/a%2E/b", "/a%252E/b"),
    ],
)
def test_paths_are_normalized_before_encoding(path: str, canonical: str) -> None:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "us-east-1")
    url = f"{VIRGINIA}{path}"
    assert signer.canonical_request("POST", url, b"", WHEN).split("\n")[1] == canonical
    assert_same(
        signer.sign("POST", url, b"", WHEN), botocore_headers(url, b"", "us-east-1", WHEN), None
    )


def test_content_type_can_be_left_unsigned() -> None:
    url = MODEL_URLS[0]
    mine = ours(url, BODY, "eu-central-1", WHEN, content_type=None)
    oracle = botocore_headers(url, BODY, "eu-central-1", WHEN, content_type=None)
    assert_same(mine, oracle, None)
    assert "SignedHeaders=host;x-amz-date," in mine["authorization"]
    assert "content-type" not in mine


def test_session_token_is_signed_and_returned() -> None:
    mine = ours(MODEL_URLS[0], BODY, "eu-central-1", WHEN, TOKEN)
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (mine["authorization"])
    )
    assert set(mine) == {"authorization", "x-amz-date", "content-type", "x-amz-security-token"}
    assert all(name == name.lower() for name in mine)


def test_returned_headers_are_all_the_request_needs() -> None:
    mine = ours(MODEL_URLS[0], BODY, "eu-central-1", WHEN)
    assert set(mine) == {"authorization", "x-amz-date", "content-type"}
    assert mine["content-type"] == "application/json"
    assert "x-amz-content-sha256" not in mine


def test_time_zones_and_naive_datetimes_are_utc() -> None:
    url = MODEL_URLS[0]
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "eu-central-1")
    berlin = WHEN.astimezone(timezone(timedelta(hours=2)))
    naive = WHEN.replace(tzinfo=None, microsecond=999_999)
    reference = signer.sign("POST", url, BODY, WHEN)
    assert signer.sign("POST", url, BODY, berlin) == reference
    assert signer.sign("POST", url, BODY, naive) == reference
    assert reference["x-amz-date"] == "20251014T093015Z"
    # An offset can move the UTC date back a day: the scope follows UTC.
    early = datetime(2025, 10, 15, 1, 0, tzinfo=timezone(timedelta(hours=3)))
    signed = signer.sign("POST", url, BODY, early)
    assert signed["x-amz-date"] == "20251014T220000Z"
    assert "/20251014/eu-central-1/" in signed["authorization"]


def test_default_time_is_now_in_utc() -> None:
    url = MODEL_URLS[0]
    before = datetime.now(UTC).replace(microsecond=0)
    mine = ours(url, BODY, "eu-central-1", None)
    after = datetime.now(UTC)
    stamped = datetime.strptime(mine["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamped <= after
    assert_same(mine, botocore_headers(url, BODY, "eu-central-1", stamped), None)


def test_default_clock_follows_time_across_calls() -> None:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "eu-central-1")
    url = MODEL_URLS[0]
    with mock.patch.object(
        sigv4.time, "time", side_effect=[1760434215.2, 1760434215.9, 1760520615.0]
    ):
        first = signer.sign("POST", url, BODY)
        same_second = signer.sign("POST", url, BODY)
        next_day = signer.sign("POST", url, BODY)
    assert first == same_second and first["x-amz-date"] == "20251014T093015Z"
    assert next_day["x-amz-date"] == "20251015T093015Z"
    expected = botocore_headers(url, BODY, "eu-central-1", WHEN + timedelta(days=1))
    assert_same(next_day, expected, None)


def test_day_boundary_derives_a_new_key_and_reuses_it_within_the_day() -> None:
    url = MODEL_URLS[1]
    signer = SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), "eu-central-1")
    last_second = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    midnight = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    derive = mock.Mock(wraps=sigv4._derive_signing_key)
    with mock.patch.object(sigv4, "_derive_signing_key", derive):
        for when in (last_second - timedelta(hours=5), last_second):
            assert_same(
                signer.sign("POST", url, BODY, when),
                botocore_headers(url, BODY, "eu-central-1", when, TOKEN),
                TOKEN,
            )
        assert derive.call_count == 1  # one derivation for the whole day
        for when in (midnight, midnight + timedelta(hours=12)):
            signed = signer.sign("POST", url, BODY, when)
            # Yesterday's key would give a wrong signature (and scope) from midnight on.
            assert_same(signed, botocore_headers(url, BODY, "eu-central-1", when, TOKEN), TOKEN)
            assert "/20260101/eu-central-1/bedrock/" in signed["authorization"]
        assert derive.call_count == 2
        assert [c.args[1] for c in derive.call_args_list] == ["20251231", "20260101"]
        # A late request stamped for the previous day still gets that day's key.
        assert_same(
            signer.sign("POST", url, BODY, last_second),
            botocore_headers(url, BODY, "eu-central-1", last_second, TOKEN),
            TOKEN,
        )
    assert derive.call_count == 3


def test_repeated_signing_of_cached_urls_stays_correct() -> None:
    signer = SigV4Signer(AwsCredentials(AKID, SECRET), "us-east-1")
    urls = [u for u in MODEL_URLS if "us-east-1" in u]
    for _ in range(3):
        for url in urls:
            for method in ("POST", "post"):
                assert_same(
                    signer.sign(method, url, BODY, WHEN),
                    botocore_headers(url, BODY, "us-east-1", WHEN),
                    None,
                )


# AWS's published examples: AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY.
DOC_AKID = "AKIDEXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DOC_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmx"
    "fpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KP"
    "kyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqB"
    "Az+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
DOC_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("20110909", "98f1d889fec4f4421adc522bab0ce1f82e6929c262ed15e5a94c90efd1e3b0e7"),
        ("20120215", "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"),
        ("20150830", "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"),
    ],
)
def test_derived_signing_key_matches_aws_examples(date: str, expected: str) -> None:
    assert sigv4._derive_signing_key(DOC_SECRET, date, "us-east-1", "iam").hex() == expected


@pytest.mark.parametrize(
    ("name", "method", "url", "token", "signature"),
    [
        (
            "post-vanilla",
            "POST",
            "https://example.amazonaws.com/",
            None,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "post-vanilla-query",
            "POST",
            "https://example.amazonaws.com/?Param1=value1",
            None,
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ),
        (
            "get-vanilla-query-order-value",
            "GET",
            "https://example.amazonaws.com/?Param1=value2&Param1=value1",
            None,
            "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
        ),
        (
            "post-sts-header-before",
            "POST",
            "https://example.amazonaws.com/",
            DOC_TOKEN,
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ),
    ],
)
def test_aws_signature_test_suite(
    name: str, method: str, url: str, token: str | None, signature: str
) -> None:
    credentials = AwsCredentials(DOC_AKID, DOC_SECRET, token)
    signer = SigV4Signer(credentials, "us-east-1", "service", content_type=None)
    signed = signer.sign(method, url, b"", DOC_TIME)
    signed_headers = "host;x-amz-date" + (";x-amz-security-token" if token else "")
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    ), name
    assert signed["x-amz-date"] == "20150830T123600Z"


def test_iam_list_users_example_from_the_aws_docs() -> None:
    signer = SigV4Signer(
        AwsCredentials(DOC_AKID, DOC_SECRET),
        "us-east-1",
        "iam",
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
    canonical = signer.canonical_request("GET", url, b"", DOC_TIME)
    assert (
        hashlib.sha256(canonical.encode()).hexdigest()
        == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    assert signer.sign("GET", url, b"", DOC_TIME)["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def test_secrets_stay_out_of_repr_and_str() -> None:
    credentials = AwsCredentials(AKID, SECRET, TOKEN)
    signer = SigV4Signer(credentials, "eu-central-1")
    signer.sign("POST", MODEL_URLS[0], BODY, WHEN)  # fill the caches too
    for text in (repr(credentials), str(credentials), repr(signer), str(signer)):
        assert SECRET not in text and TOKEN not in text
        assert "secret" not in text.lower() and "token" not in text.lower()
    assert AKID in repr(credentials) and AKID in repr(signer)
    assert "eu-central-1" in repr(signer)


def test_the_secret_never_leaves_in_headers() -> None:
    signed = ours(MODEL_URLS[0], BODY, "eu-central-1", WHEN, TOKEN)
    assert not any(SECRET in value for value in signed.values())


@pytest.mark.parametrize(
    "build",
    [
        lambda: AwsCredentials("", SECRET),
        lambda: AwsCredentials(AKID, ""),
        lambda: AwsCredentials(AKID, SECRET, ""),
        lambda: SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), ""),
        lambda: SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), "eu-central-1/x"),
        lambda: SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), "eu-central-1", " bedrock"),
        lambda: SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), "eu-central-1").sign(
            "POST", f"ftp://user:{SECRET}@example.com/x", BODY, WHEN
        ),
        lambda: SigV4Signer(AwsCredentials(AKID, SECRET, TOKEN), "eu-central-1").sign(
            "POST", "/model/x/invoke", BODY, WHEN
        ),
    ],
)
def test_errors_are_value_errors_without_secrets(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError) as caught:
        build()
    message = str(caught.value)
    assert message and SECRET not in message and TOKEN not in message
