"""Attacks on REST authentication: every forged, stale, misdirected, tampered, revoked or
malformed credential gets a 401 problem document — never a 2xx, never a 5xx.

Two servers: one verifying HS256 with a secret from the environment, one verifying RS256 with a
public key file (where an HS256 token signed with that public key — algorithm confusion — must
fail). Each attack has a positive control: the same request with a valid credential succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth_support import (
    AUDIENCE,
    ISSUER,
    SECRET,
    auth_workspace,
    bearer,
    claims,
    hs_sign,
    hs_token,
    rs_auth,
    secret_env,
    segment,
    unsigned,
)
from meshfabric import Mesh
from meshfabric.api.app import PROBLEM, create_app
from meshfabric.auth import apikeys

PROBE = "/api/v1/domains"


def _refused(response: Any) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] == "authentication required"
    # nothing tells a caller which principals exist
    assert "alice" not in body["detail"] and "mallory" not in body["detail"]


@pytest.fixture(scope="module")
def hs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Mesh]]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path_factory.mktemp("jwt") / "ws")
        mesh = Mesh.open(root)
        mesh.apply()
        mesh.access.create_principal("alice")
        mesh.access.create_principal("etl", kind="service")
        try:
            with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
                yield client, mesh
        finally:
            mesh.close()


@pytest.fixture(scope="module")
def client(hs: tuple[TestClient, Mesh]) -> TestClient:
    return hs[0]


def test_valid_token_is_the_positive_control(client: TestClient) -> None:
    r = client.get(PROBE, headers=bearer(hs_token()))
    assert r.status_code == 200, r.text


def test_no_credentials(client: TestClient) -> None:
    r = client.get(PROBE)
    _refused(r)
    assert r.headers["www-authenticate"] == 'Bearer realm="meshfabric"'
    assert "Authorization: Bearer" in r.json()["detail"]


NOW = int(time.time())
ATTACKS: dict[str, str] = {
    "alg none": unsigned(claims()),
    "alg None": unsigned(claims(), alg="None"),
    "alg NONE with a signature": unsigned(claims(), alg="NONE") + "c2ln",
    "alg none without its dot": unsigned(claims()).rstrip("."),
    "expired": hs_token(exp=NOW - 3600),
    "expired beyond the leeway": hs_token(exp=NOW - 90),
    "not valid yet (nbf)": hs_token(nbf=NOW + 3600),
    "issued in the future (iat)": hs_token(iat=NOW + 3600),
    "wrong audience": hs_token(aud="someone-else"),
    "audience list without ours": hs_token(aud=["a", "b"]),
    "wrong issuer": hs_token(iss="https://evil.example/"),
    "missing exp": hs_token(exp=None),
    "missing iss": hs_token(iss=None),
    "missing aud": hs_token(aud=None),
    "missing jti": hs_token(jti=None),
    "missing sub": hs_token(sub=None),
    "empty sub": hs_token(sub=" "),
    "sub not a string": hs_token(sub=42),
    "exp not a number": hs_token(exp="tomorrow"),
    "jti not a string": hs_token(jti=["a"]),
    "another secret": hs_token(secret="another-secret-" + "x" * 40),
    "HS384 with the right secret (alg not configured)": hs_sign({"alg": "HS384", "typ": "JWT"}, claims(),
                                                               SECRET.encode(), "sha384"),
    "HS256 header, HS384 signature": hs_sign({"alg": "HS256"}, claims(), SECRET.encode(), "sha384"),
    "unknown principal": hs_token(sub="mallory"),
    "the implicit local principal": hs_token(sub="local"),
    "header is not JSON": f"{segment(b'{not json')}.{segment(claims())}.c2ln",
    "payload is a JSON list": hs_sign({"alg": "HS256"}, b'["sub", "alice"]', SECRET.encode()),
    "payload is not JSON": hs_sign({"alg": "HS256"}, b"alice", SECRET.encode()),
    "kid path injection": hs_sign({"alg": "HS256", "kid": "../../../../dev/null"}, claims(sub="mallory"), b""),
    "jku/x5u pointing elsewhere": hs_sign({"alg": "HS256", "jku": "http://127.0.0.1:1/jwks"}, claims(), b"k"),
    "two segments": ".".join(hs_token().split(".")[:2]),
    "four segments": hs_token() + ".x",
    "base64 garbage": "!!!.???.***",
    "empty segments": "..",
}


@pytest.mark.parametrize("token", list(ATTACKS.values()), ids=list(ATTACKS))
def test_forged_or_invalid_tokens_are_refused(client: TestClient, token: str) -> None:
    _refused(client.get(PROBE, headers=bearer(token)))


def test_tampered_claims_keep_the_old_signature(client: TestClient) -> None:
    token = hs_token()
    header, _, signature = token.split(".")
    forged = f"{header}.{segment(claims(sub='etl'))}.{signature}"
    _refused(client.get(PROBE, headers=bearer(forged)))
    # a longer lifetime in the same token, likewise
    forged = f"{header}.{segment(claims(exp=NOW + 10**8))}.{signature}"
    _refused(client.get(PROBE, headers=bearer(forged)))


def test_tampered_signature(client: TestClient) -> None:
    token = hs_token()
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _refused(client.get(PROBE, headers=bearer(f"{head}.{payload}.{flipped}")))
    _refused(client.get(PROBE, headers=bearer(f"{head}.{payload}.")))


def test_revoked_jti(hs: tuple[TestClient, Mesh]) -> None:
    client, mesh = hs
    token = hs_token(jti="to-be-revoked")
    assert client.get(PROBE, headers=bearer(token)).status_code == 200
    mesh.auth.revoke_token("to-be-revoked", reason="laptop lost")
    _refused(client.get(PROBE, headers=bearer(token)))
    # revoking by the token itself works too, and records its expiry
    other = hs_token()
    done = mesh.auth.revoke_token(other)
    assert done["subject"] == "alice" and done["expires_at"]
    _refused(client.get(PROBE, headers=bearer(other)))


MALFORMED = {
    "Bearer without a token": "Bearer",
    "Bearer and spaces": "Bearer    ",
    "Basic scheme": "Basic YWxpY2U6cGFzc3dvcmQ=",
    "token with a space inside": "Bearer abc def",
    "no scheme": "just-a-token",
    "10 kB header": "Bearer " + "A" * 10_000,
    "control characters": "Bearer \tabc",
}


@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_authorization_headers(client: TestClient, value: str) -> None:
    _refused(client.get(PROBE, headers={"Authorization": value}))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300))
def test_arbitrary_bearer_values_are_refused(client: TestClient, value: str) -> None:
    _refused(client.get(PROBE, headers={"Authorization": f"Bearer {value}"}))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["sub", "iss", "aud", "exp", "nbf", "iat", "jti"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=2),
                                 st.floats(allow_nan=True)), min_size=1))
def test_arbitrary_claim_values_never_cause_a_5xx(client: TestClient, override: dict[str, Any]) -> None:
    token = hs_sign({"alg": "HS256"}, {**claims(), **override}, SECRET.encode())
    assert client.get(PROBE, headers=bearer(token)).status_code in (200, 401)


# -- API keys ------------------------------------------------------------------------------------


def test_api_keys(hs: tuple[TestClient, Mesh]) -> None:
    client, mesh = hs
    auth = mesh.auth
    key = auth.create_api_key("etl", name="nightly load").key
    assert client.get(PROBE, headers={"X-API-Key": key}).status_code == 200
    assert client.get(PROBE, headers=bearer(key)).status_code == 200

    key_id, secret = apikeys.KEY_RE.match(key).groups()  # type: ignore[union-attr]
    wrong_secret = f"mf_{key_id}_{'x' * len(secret)}"
    unknown_id = f"mf_{'0' * 16}_{secret}"
    for bad in (wrong_secret, unknown_id, "mf_", "mf_short_key", key + "x", key[:-1], key.upper()):
        _refused(client.get(PROBE, headers={"X-API-Key": bad}))
        _refused(client.get(PROBE, headers=bearer(bad)))
    # one credential per request
    _refused(client.get(PROBE, headers={"X-API-Key": key, "Authorization": f"Bearer {hs_token()}"}))

    auth.revoke_api_key(key_id)
    _refused(client.get(PROBE, headers={"X-API-Key": key}))
    _refused(client.get(PROBE, headers=bearer(key)))


def test_expired_api_key(hs: tuple[TestClient, Mesh]) -> None:
    client, mesh = hs
    past = datetime.now(UTC) - timedelta(minutes=1)
    created = apikeys.create(mesh.store, "etl", expires_at=past)
    r = client.get(PROBE, headers={"X-API-Key": created.key})
    _refused(r)
    assert "expired" in r.json()["detail"]


def test_api_key_of_a_principal_that_no_longer_exists(hs: tuple[TestClient, Mesh]) -> None:
    client, mesh = hs
    created = apikeys.create(mesh.store, "ghost")  # written directly: the service refuses unknown principals
    _refused(client.get(PROBE, headers={"X-API-Key": created.key}))


# -- RS256: algorithm confusion ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any, bytes]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path_factory.mktemp("rs") / "ws", rs_auth())
        (root / "keys").mkdir()
        (root / "keys" / "idp.pem").write_bytes(pem)
        mesh = Mesh.open(root)
        mesh.apply()
        mesh.access.create_principal("alice")
        try:
            with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
                yield client, key, pem
        finally:
            mesh.close()


def test_rs256_positive_control(rs: tuple[TestClient, Any, bytes]) -> None:
    client, key, _ = rs
    token = jwt.encode(claims(), key, algorithm="RS256")
    assert client.get(PROBE, headers=bearer(token)).status_code == 200


def test_hs256_signed_with_the_public_key_is_refused(rs: tuple[TestClient, Any, bytes]) -> None:
    """The classic confusion: the server's public key used as an HMAC secret."""
    client, _, pem = rs
    for key_bytes in (pem, pem.strip(), pem.decode().replace("\n", "").encode()):
        for alg, digest in (("HS256", "sha256"), ("HS512", "sha512")):
            _refused(client.get(PROBE, headers=bearer(hs_sign({"alg": alg, "typ": "JWT"}, claims(), key_bytes,
                                                              digest))))


def test_rs256_server_refuses_none_other_keys_and_hs_secrets(rs: tuple[TestClient, Any, bytes]) -> None:
    client, _, _ = rs
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (unsigned(claims()), jwt.encode(claims(), other, algorithm="RS256"), hs_token(),
                  jwt.encode(claims(), other, algorithm="PS256")):
        _refused(client.get(PROBE, headers=bearer(token)))


def test_rs256_claims_are_checked_too(rs: tuple[TestClient, Any, bytes]) -> None:
    client, key, _ = rs
    for over in ({"aud": "x"}, {"iss": "x"}, {"exp": NOW - 3600}, {"exp": None}, {"sub": "mallory"}):
        _refused(client.get(PROBE, headers=bearer(jwt.encode(claims(**over), key, algorithm="RS256"))))


def test_public_routes_stay_public(client: TestClient) -> None:
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    # and a bad credential on a public route is ignored rather than refused
    assert client.get("/api/v1/health", headers=bearer("garbage")).status_code == 200


def test_audience_and_issuer_of_the_fixture(client: TestClient) -> None:
    """The fixture's tokens carry the configured issuer and audience (so the attacks differ from
    the control in exactly one way)."""
    decoded = jwt.decode(hs_token(), SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == "alice"


def test_workspace_has_no_secret_in_the_store(hs: tuple[TestClient, Mesh]) -> None:
    from helpers import store_dump_text

    _, mesh = hs
    dump = store_dump_text(mesh.store.url)
    assert SECRET not in dump
    key = mesh.auth.create_api_key("etl").key
    dump = store_dump_text(mesh.store.url)
    assert key not in dump and key.split("_", 2)[2] not in dump


def test_jwks_server_refuses_confusion_and_unknown_kids(tmp_path: Path) -> None:
    """With a JWKS file: the key is chosen by kid, but never the algorithm — an HS256 token
    'signed' with the public JWK or its PEM fails, as does a kid that is not in the set."""
    import json

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    auth = rs_auth().replace("public_key_file: keys/idp.pem", "jwks_file: keys/jwks.json")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path / "ws", auth)
        (root / "keys").mkdir()
        (root / "keys" / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
        with Mesh.open(root) as mesh:
            mesh.access.create_principal("alice")
            with TestClient(create_app(mesh), raise_server_exceptions=False) as c:
                good = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "k1"})
                assert c.get(PROBE, headers=bearer(good)).status_code == 200
                for secret in (pem, json.dumps(jwk).encode(), jwk["n"].encode()):
                    _refused(c.get(PROBE, headers=bearer(hs_sign({"alg": "HS256", "kid": "k1"}, claims(), secret))))
                _refused(c.get(PROBE, headers=bearer(jwt.encode(claims(), key, algorithm="RS256",
                                                                headers={"kid": "k2"}))))
                _refused(c.get(PROBE, headers=bearer(hs_sign({"alg": "RS256", "kid": {"$ne": 1}}, claims(), b""))))
