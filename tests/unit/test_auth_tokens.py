"""TokenVerifier: issuing and verifying HS256 tokens, RS256 from a PEM key or a JWKS file, key loading errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from meshfabric.auth import AuthenticationFailed
from meshfabric.auth.tokens import TokenVerifier
from meshfabric.errors import ConfigError
from meshfabric.spec.auth_models import AuthSpec

SECRET = "s" * 20 + "-a-test-secret-of-48-bytes-----"


@pytest.fixture()
def hs(monkeypatch: pytest.MonkeyPatch) -> TokenVerifier:
    monkeypatch.setenv("MF_TEST_JWT_SECRET", SECRET)
    return TokenVerifier(AuthSpec(secret="${MF_TEST_JWT_SECRET}", issuer="iss-a", audience="aud-a"))


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "iss": "iss-a", "aud": "aud-a", "exp": now + 600, "iat": now, "jti": "j-1"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_issue_then_verify(hs: TokenVerifier) -> None:
    issued = hs.issue("alice", "10m")
    claims = hs.verify(issued.token)
    assert hs.subject_of(claims) == "alice" and claims["jti"] == issued.jti
    assert claims["iss"] == "iss-a" and claims["aud"] == "aud-a"
    assert claims["exp"] - claims["iat"] == 600
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    # each token has its own jti
    assert hs.issue("alice").jti != issued.jti


@given(subject=st.text(min_size=1, max_size=60).filter(lambda s: s.strip()),
       ttl=st.integers(min_value=1, max_value=30 * 86400))
def test_any_subject_and_lifetime_round_trip(subject: str, ttl: int) -> None:
    spec = AuthSpec(secret="${MF_TEST_JWT_SECRET}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MF_TEST_JWT_SECRET", SECRET)
        verifier = TokenVerifier(spec)
    issued = verifier.issue(subject, ttl)
    assert verifier.subject_of(verifier.verify(issued.token)) == subject


def test_lifetimes_outside_the_bounds_are_refused(hs: TokenVerifier) -> None:
    for ttl in ("0s", "31d", "forever"):
        with pytest.raises(ConfigError):
            hs.issue("alice", ttl)


def test_secret_comes_from_the_environment_and_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = AuthSpec(secret="${MF_TEST_JWT_SECRET}")
    monkeypatch.delenv("MF_TEST_JWT_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"\$\{MF_TEST_JWT_SECRET\}, which is not set"):
        TokenVerifier(spec)
    monkeypatch.setenv("MF_TEST_JWT_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        TokenVerifier(spec)


def test_without_key_material_every_token_fails_and_none_is_issued() -> None:
    verifier = TokenVerifier(AuthSpec())
    assert not verifier.enabled and not verifier.can_issue
    token = jwt.encode(_claims(iss="meshfabric", aud="meshfabric"), SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationFailed):
        verifier.verify(token)
    with pytest.raises(ConfigError, match="no HMAC secret"):
        verifier.issue("alice")


def test_leeway_accepts_small_skew_only(hs: TokenVerifier) -> None:
    now = int(time.time())
    assert hs.verify(jwt.encode(_claims(exp=now - 10), SECRET, algorithm="HS256"))["sub"] == "alice"
    with pytest.raises(AuthenticationFailed, match="expired"):
        hs.verify(jwt.encode(_claims(exp=now - 120), SECRET, algorithm="HS256"))


def test_custom_subject_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_TEST_JWT_SECRET", SECRET)
    verifier = TokenVerifier(AuthSpec(secret="${MF_TEST_JWT_SECRET}", subject_claim="preferred_username"))
    token = jwt.encode(_claims(iss="meshfabric", aud="meshfabric", preferred_username="bob"), SECRET)
    assert verifier.subject_of(verifier.verify(token)) == "bob"
    # a token without that claim names nobody
    with pytest.raises(AuthenticationFailed):
        verifier.verify(jwt.encode(_claims(iss="meshfabric", aud="meshfabric"), SECRET))


def test_jti_may_be_optional_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_TEST_JWT_SECRET", SECRET)
    token = jwt.encode(_claims(iss="meshfabric", aud="meshfabric", jti=None), SECRET)
    with pytest.raises(AuthenticationFailed):
        TokenVerifier(AuthSpec(secret="${MF_TEST_JWT_SECRET}")).verify(token)
    relaxed = TokenVerifier(AuthSpec(secret="${MF_TEST_JWT_SECRET}", require_jti=False))
    assert relaxed.verify(token)["sub"] == "alice"


def _rsa() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem


def test_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    key, pem = _rsa()
    (tmp_path / "idp.pem").write_bytes(pem)
    verifier = TokenVerifier(AuthSpec(algorithms=["RS256"], public_key_file="idp.pem", issuer="iss-a",
                                      audience="aud-a"), tmp_path)
    assert verifier.verify(jwt.encode(_claims(), key, algorithm="RS256"))["sub"] == "alice"
    other, _ = _rsa()
    with pytest.raises(AuthenticationFailed, match="invalid token"):
        verifier.verify(jwt.encode(_claims(), other, algorithm="RS256"))
    # meshfabric holds no private key: it cannot issue RS256 tokens
    with pytest.raises(ConfigError, match="identity provider"):
        verifier.issue("alice")


def test_rs256_with_a_jwks_file_picks_the_key_by_kid(tmp_path: Path) -> None:
    k1, _ = _rsa()
    k2, _ = _rsa()
    eck = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, k, alg in (("one", k1, "RS256"), ("two", k2, "RS256"), ("ec", eck, "ES256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(k.public_key()))
        keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": keys}))
    verifier = TokenVerifier(AuthSpec(algorithms=["RS256"], jwks_file="jwks.json", issuer="iss-a",
                                      audience="aud-a"), tmp_path)
    assert verifier.verify(jwt.encode(_claims(sub="a"), k1, algorithm="RS256", headers={"kid": "one"}))["sub"] == "a"
    assert verifier.verify(jwt.encode(_claims(sub="b"), k2, algorithm="RS256", headers={"kid": "two"}))["sub"] == "b"
    for headers in ({"kid": "two"}, {"kid": "nope"}, {}):
        with pytest.raises(AuthenticationFailed):
            verifier.verify(jwt.encode(_claims(), k1, algorithm="RS256", headers=headers))
    # the ES256 key is bound to an algorithm the configuration does not accept: never used
    with pytest.raises(AuthenticationFailed):
        verifier.verify(jwt.encode(_claims(), eck, algorithm="ES256", headers={"kid": "ec"}))


def test_bad_key_files_are_configuration_errors(tmp_path: Path) -> None:
    spec = AuthSpec(algorithms=["RS256"], public_key_file="missing.pem")
    with pytest.raises(ConfigError, match=r"cannot read auth\.public_key_file"):
        TokenVerifier(spec, tmp_path)
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM public key"):
        TokenVerifier(AuthSpec(algorithms=["RS256"], public_key_file="bad.pem"), tmp_path)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "abc", "alg": "HS256"}]}))
    with pytest.raises(ConfigError, match="no signing key"):
        TokenVerifier(AuthSpec(algorithms=["RS256"], jwks_file="jwks.json"), tmp_path)
    (tmp_path / "jwks.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        TokenVerifier(AuthSpec(algorithms=["RS256"], jwks_file="jwks.json"), tmp_path)
