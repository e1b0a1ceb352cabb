"""Spec models of REST authentication: the ``auth:`` section of mesh.yaml (JWT issuer, audience,
accepted algorithms, key material references).

Example::

    auth:
      issuer: https://login.example.com/
      audience: meshfabric
      algorithms: [RS256]
      jwks_file: keys/jwks.json        # or public_key_file: keys/idp.pem
      leeway: 30s

or, for tokens meshfabric issues itself (``meshfabric token create``)::

    auth:
      algorithms: [HS256]
      secret: ${MF_JWT_SECRET}

The accepted algorithms come from here and nowhere else; a token's own ``alg`` header never
widens them. One configuration verifies either HMAC (shared secret) or public-key signatures,
never both: mixing them is what lets a public key be used as an HMAC secret.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
PUBLIC_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
Algorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
    "EdDSA",
]

#: exactly one ${ENV} reference (no default: a default would be a literal secret in the file)
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds_of(value: str | float | int) -> float:
    """A duration as seconds: a number of seconds, or ``30s``, ``15m``, ``1h``, ``7d``, ``2w``.

    >>> seconds_of("15m"), seconds_of(30), seconds_of("1.5h")
    (900.0, 30.0, 5400.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a duration")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"'{value}' is not a duration: write a number and one of s, m, h, d, w (e.g. 1h)")
    return float(m.group(1)) * _UNIT[m.group(2) or "s"]


class AuthSpec(BaseModel):
    """``auth:`` in mesh.yaml."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field("meshfabric", min_length=1, description="required `iss` of every token")
    audience: str = Field("meshfabric", min_length=1, description="required `aud` of every token")
    algorithms: list[Algorithm] = Field(
        default_factory=lambda: ["HS256"], min_length=1,
        description="the only signature algorithms accepted; the token's header never chooses",
    )
    secret: str | None = Field(None, description="HMAC secret, only as a ${ENV_VAR} reference")
    public_key_file: str | None = Field(None, description="PEM public key (relative to the workspace)")
    jwks_file: str | None = Field(None, description="JSON Web Key Set file (offline; relative to the workspace)")
    leeway: str | float = Field("30s", description="clock skew tolerated on exp/nbf/iat (at most 5m)")
    subject_claim: str = Field("sub", min_length=1, description="the claim naming the principal")
    require_jti: bool = Field(True, description="refuse tokens without a `jti` (they could not be revoked)")
    token_ttl: str | float = Field("1h", description="default lifetime of tokens from `meshfabric token create`")
    max_token_ttl: str | float = Field("30d", description="longest lifetime `token create` will issue")

    @field_validator("secret")
    @classmethod
    def _secret_is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_ONLY.match(value):
            raise ValueError("a literal secret would sit in mesh.yaml and in git: write it as ${ENV_VAR} "
                             "(e.g. secret: ${MF_JWT_SECRET}) and export the variable where the server runs")
        return value

    @field_validator("leeway", "token_ttl", "max_token_ttl")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        if seconds_of(value) < 0:
            raise ValueError("a duration cannot be negative")
        return value

    @field_validator("algorithms")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _key_material(self) -> AuthSpec:
        hmac = [a for a in self.algorithms if a in HMAC_ALGORITHMS]
        public = [a for a in self.algorithms if a in PUBLIC_KEY_ALGORITHMS]
        if hmac and public:
            raise ValueError(
                f"algorithms mix HMAC ({', '.join(hmac)}) and public-key ({', '.join(public)}) signatures: "
                "a public key could then be used as an HMAC secret; choose one family"
            )
        if public and not (self.public_key_file or self.jwks_file):
            raise ValueError(f"{public[0]} needs the issuer's public key: set public_key_file or jwks_file")
        if hmac and (self.public_key_file or self.jwks_file):
            raise ValueError("public_key_file/jwks_file are for RS/PS/ES/EdDSA algorithms; HS* uses 'secret'")
        if self.leeway_seconds > 300:
            raise ValueError("leeway above 5m would accept long-expired tokens; clocks that far apart need fixing")
        if self.token_ttl_seconds > self.max_token_ttl_seconds:
            raise ValueError("token_ttl cannot exceed max_token_ttl")
        return self

    @property
    def hmac(self) -> bool:
        return self.algorithms[0] in HMAC_ALGORITHMS

    @property
    def leeway_seconds(self) -> float:
        return seconds_of(self.leeway)

    @property
    def token_ttl_seconds(self) -> float:
        return seconds_of(self.token_ttl)

    @property
    def max_token_ttl_seconds(self) -> float:
        return seconds_of(self.max_token_ttl)
