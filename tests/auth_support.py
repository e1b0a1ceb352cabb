"""What the authentication tests share: a workspace whose mesh.yaml configures ``auth:``, its
principals, and tokens built by hand (signed, forged or tampered) to present to the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers import MESH_YAML, build_workspace

SECRET_ENV = "MF_TEST_JWT_SECRET"
SECRET = "test-secret-" + "0123456789abcdef" * 3
ISSUER = "https://id.example.test/"
AUDIENCE = "meshfabric-test"

HS_AUTH = f"""\
auth:
  issuer: {ISSUER}
  audience: {AUDIENCE}
  algorithms: [HS256]
  secret: ${{{SECRET_ENV}}}
"""


def rs_auth(key_file: str = "keys/idp.pem") -> str:
    return f"""\
auth:
  issuer: {ISSUER}
  audience: {AUDIENCE}
  algorithms: [RS256]
  public_key_file: {key_file}
"""


@contextmanager
def secret_env(value: str = SECRET) -> Iterator[None]:
    saved = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = saved


def auth_workspace(root: Path, auth_yaml: str = HS_AUTH) -> Path:
    """The standard workspace with an ``auth:`` section (and no ``access:``: the local principal
    administers it)."""
    return build_workspace(root, mesh=MESH_YAML + auth_yaml)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def claims(**over: Any) -> dict[str, Any]:
    """Valid claims for alice; pass ``name=None`` to leave a claim out."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
                            "exp": now + 600, "jti": f"jti-{time.time_ns()}"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs_sign(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, key: bytes, digest: str = "sha256") -> str:
    """A compact JWS signed with HMAC over whatever header and payload are given (no checks)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64(mac)}"


def hs_token(secret: str = SECRET, **over: Any) -> str:
    return hs_sign({"alg": "HS256", "typ": "JWT"}, claims(**over), secret.encode())


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(payload)}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
