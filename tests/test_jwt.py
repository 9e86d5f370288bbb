"""JWT verification against JWKS from a file and from a URL, and claims mapping."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bordergate.identity.auth import Authenticator, AuthError
from bordergate.identity.config import IdentityConfig, JwtConfig
from bordergate.identity.jwt import JwtError, JwtVerifier, claim_at, principal_from_claims

ISS = "https://idp.example.com/"
AUD = "bordergate"
CLAIMS = {
    "user": "sub",
    "team": "org.team",
    "groups": "groups",
    "country": "country",
    "org": "org.name",
    "org_country": "org.country",
}


class Signer:
    """A test identity provider: one key pair, its JWK, and a token factory."""

    def __init__(self, kid: str, kind: str = "rsa") -> None:
        self.kid = kid
        if kind == "rsa":
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            jwk = pyjwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            jwk = pyjwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": kid, "use": "sig", "alg": self.alg}

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISS,
            "aud": AUD,
            "sub": "alice@example.com",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "groups": ["eng", "ml"],
            "country": "de",
            "org": {"team": "research", "name": "Acme GmbH", "country": "us"},
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return pyjwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid})


@pytest.fixture(scope="module")
def rsa_signer() -> Signer:
    return Signer("rsa-1")


@pytest.fixture(scope="module")
def ec_signer() -> Signer:
    return Signer("ec-1", "ec")


def _jwks_file(tmp_path: Path, *signers: Signer) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [s.jwk for s in signers]}))
    return path


def _config(**kw: Any) -> JwtConfig:
    base: dict[str, Any] = {"issuer": ISS, "audience": AUD, "claims": CLAIMS}
    base.update(kw)
    return JwtConfig.model_validate(base)


def _reject(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(JwtError) as info:
        asyncio.run(verifier.verify(token))
    assert token not in info.value.reason
    return info.value.reason


def test_valid_tokens_and_claims_mapping(
    tmp_path: Path, rsa_signer: Signer, ec_signer: Signer
) -> None:
    verifier = JwtVerifier(_config(jwks_file=str(_jwks_file(tmp_path, rsa_signer, ec_signer))))
    for signer in (rsa_signer, ec_signer):
        principal, exp = asyncio.run(verifier.verify(signer.token()))
        assert principal.id == "alice@example.com"
        assert principal.team == "research"
        assert principal.groups == ("eng", "ml")
        assert (principal.country, principal.org, principal.org_country) == (
            "DE",
            "Acme GmbH",
            "US",
        )
        assert exp > time.time()


def test_rejections_name_the_failed_check(tmp_path: Path, rsa_signer: Signer) -> None:
    verifier = JwtVerifier(_config(jwks_file=str(_jwks_file(tmp_path, rsa_signer)), leeway_s=5))
    now = int(time.time())
    assert _reject(verifier, rsa_signer.token(exp=now - 60)) == "JWT expired"
    assert _reject(verifier, rsa_signer.token(nbf=now + 300)) == "JWT not yet valid"
    assert _reject(verifier, rsa_signer.token(iss="https://evil.example/")) == "JWT bad issuer"
    assert _reject(verifier, rsa_signer.token(aud="someone-else")) == "JWT bad audience"
    assert _reject(verifier, rsa_signer.token(exp=None)) == "JWT missing claim exp"
    assert _reject(verifier, rsa_signer.token(sub=None)) == "JWT missing claim sub"
    stranger = Signer("rsa-1")  # same kid, different key: signature must fail
    assert _reject(verifier, stranger.token()) == "JWT bad signature"
    assert _reject(verifier, Signer("rsa-9").token()) == "JWT unknown key id"
    assert _reject(verifier, "eyJnot.a.jwt") == "malformed JWT"
    hs = pyjwt.encode({"iss": ISS, "aud": AUD, "sub": "x", "exp": now + 60}, "k" * 32, "HS256")
    assert _reject(verifier, hs) == "JWT algorithm not allowed"
    # An allowed algorithm of the other family, naming the RSA key: refused, not a crash.
    forged = Signer("rsa-1", "ec").token()
    assert _reject(verifier, forged) == "JWT algorithm does not match its key"
    # Inside the leeway an expired token is still accepted.
    principal, _ = asyncio.run(verifier.verify(rsa_signer.token(exp=now - 2)))
    assert principal.id == "alice@example.com"


def test_claims_helpers() -> None:
    claims = {"sub": "u", "a": {"b": {"c": 1}}, "x.y": "flat", "groups": "g1, g2 g3"}
    assert claim_at(claims, "a.b.c") == 1
    assert claim_at(claims, "x.y") == "flat"
    assert claim_at(claims, "a.missing") is None
    p = principal_from_claims(claims, {"user": "sub", "groups": "groups", "team": "a.b.c"})
    assert (p.groups, p.team) == (("g1", "g2", "g3"), "1")


def test_config_rejects_unsafe_settings() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        _config(jwks_file="x", algorithms=["HS256"])
    with pytest.raises(ValueError, match="exactly one"):
        _config()
    with pytest.raises(ValueError, match="unknown principal"):
        _config(jwks_file="x", claims={"user": "sub", "shoe_size": "s"})


def test_jwks_url_cached_and_refreshed_on_unknown_kid(rsa_signer: Signer) -> None:
    """The JWKS is fetched once, re-fetched when the IdP rotates to a new kid."""
    rotated = Signer("rsa-2")
    state = {"keys": [rsa_signer.jwk], "fetches": 0}

    async def jwks(_: web.Request) -> web.Response:
        state["fetches"] += 1  # type: ignore[operator]
        return web.json_response({"keys": state["keys"]})

    async def go() -> None:
        app = web.Application()
        app.router.add_get("/jwks", jwks)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        cfg = IdentityConfig(
            jwt=_config(jwks_url=f"http://127.0.0.1:{port}/jwks", jwks_min_refresh_s=0)
        )
        auth = Authenticator(cfg)
        try:
            for _ in range(3):
                ident = await auth.authenticate({"authorization": "Bearer " + rsa_signer.token()})
                assert ident.method == "jwt" and ident.principal.team == "research"
            assert state["fetches"] == 1
            state["keys"] = [rsa_signer.jwk, rotated.jwk]
            ident = await auth.authenticate({"authorization": "Bearer " + rotated.token()})
            assert ident.principal.id == "alice@example.com"
            assert state["fetches"] == 2
            with pytest.raises(AuthError) as info:
                await auth.authenticate({"authorization": "Bearer " + rotated.token(aud="other")})
            assert (info.value.status, info.value.reason) == (401, "JWT bad audience")
        finally:
            await auth.close()
            await runner.cleanup()

    asyncio.run(go())
