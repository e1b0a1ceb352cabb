"""JWT bearer tokens: verification with algorithms fixed by configuration, and HS256 issuing.

The accepted algorithms are ``auth.algorithms`` from mesh.yaml. A token's header is read for
one thing only, the ``kid`` that picks a key out of a JWKS file; its ``alg`` never chooses how the
signature is checked. ``exp``, ``iss`` and ``aud`` (and ``jti`` unless disabled) must be present.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshfabric.auth import AuthenticationFailed
from meshfabric.errors import ConfigError
from meshfabric.spec.auth_models import AuthSpec, seconds_of

#: HMAC secrets shorter than this are guessable offline from one captured token
MIN_SECRET_BYTES = 32
INVALID = "invalid token"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    subject: str
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "jti": self.jti, "subject": self.subject,
                "expires_at": self.expires_at.isoformat()}


class TokenVerifier:
    """Checks tokens against one ``auth:`` configuration; keys are loaded once, at construction.

    ``root`` is the workspace folder that relative key file paths are read from.
    """

    def __init__(self, spec: AuthSpec, root: Path | None = None) -> None:
        self.spec = spec
        self._secret: bytes | None = None
        self._public_key: Any = None
        self._jwks: dict[str | None, Any] = {}
        if spec.hmac:
            if spec.secret:
                from meshfabric.spec.loader import resolve_env

                value = resolve_env(spec.secret, where="auth.secret").encode()
                if len(value) < MIN_SECRET_BYTES:
                    raise ConfigError(
                        f"auth.secret is {len(value)} bytes; an HMAC secret needs at least {MIN_SECRET_BYTES}",
                        hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                    )
                self._secret = value
        elif spec.jwks_file:
            self._jwks = _load_jwks(_path(spec.jwks_file, root), spec)
        elif spec.public_key_file:
            self._public_key = _load_public_key(_path(spec.public_key_file, root))

    @property
    def enabled(self) -> bool:
        """False when no key material is configured (HS* without a secret): every token fails."""
        return self._secret is not None or self._public_key is not None or bool(self._jwks)

    @property
    def can_issue(self) -> bool:
        return self._secret is not None

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`AuthenticationFailed`. Never raises anything else."""
        import jwt

        if not self.enabled:
            raise AuthenticationFailed(INVALID, hint="this server has no JWT key configured; use an API key")
        spec = self.spec
        required = ["exp", "iss", "aud", *(["jti"] if spec.require_jti else [])]
        try:
            key = self._key_for(token)
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(spec.algorithms), audience=spec.audience, issuer=spec.issuer,
                leeway=spec.leeway_seconds, options={"require": required, "verify_signature": True},
            )
        except AuthenticationFailed:
            raise
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("the token has expired", hint="ask for a new token") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationFailed("the token is not valid yet (nbf/iat in the future)") from None
        except Exception:
            # any other failure (signature, algorithm, audience, issuer, missing claim, a key that
            # cannot be used, garbage) reads the same to the client
            raise AuthenticationFailed(INVALID) from None
        subject = claims.get(spec.subject_claim)
        if not isinstance(subject, str) or not subject.strip():
            raise AuthenticationFailed(INVALID)
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 256):
            raise AuthenticationFailed(INVALID)
        return claims

    def subject_of(self, claims: dict[str, Any]) -> str:
        return str(claims[self.spec.subject_claim])

    def issue(self, subject: str, ttl: str | float | None = None, *,
              claims: dict[str, Any] | None = None) -> IssuedToken:
        """A signed token for ``subject`` (HMAC configurations only: meshfabric holds no private key)."""
        import jwt

        if not self.can_issue:
            raise ConfigError(
                "cannot issue tokens: no HMAC secret is configured",
                hint="set auth.algorithms: [HS256] and auth.secret: ${MF_JWT_SECRET} in mesh.yaml and export "
                     "MF_JWT_SECRET; with RS*/ES* keys, tokens come from your identity provider",
            )
        spec = self.spec
        try:
            seconds = seconds_of(ttl) if ttl is not None else spec.token_ttl_seconds
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if seconds <= 0 or seconds > spec.max_token_ttl_seconds:
            raise ConfigError(f"a token lifetime must be above 0 and at most {spec.max_token_ttl} (auth.max_token_ttl)",
                              hint="pass e.g. --ttl 1h")
        now = int(time.time())
        jti = secrets.token_hex(16)
        payload: dict[str, Any] = {**(claims or {}), spec.subject_claim: subject, "iss": spec.issuer,
                                   "aud": spec.audience, "iat": now, "nbf": now, "exp": now + int(seconds), "jti": jti}
        token = jwt.encode(payload, self._secret, algorithm=spec.algorithms[0])
        return IssuedToken(token, jti, subject, datetime.fromtimestamp(now + int(seconds), UTC))

    def _key_for(self, token: str) -> Any:
        if self._secret is not None:
            return self._secret
        if self._public_key is not None:
            return self._public_key
        import jwt

        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str | None):
            raise AuthenticationFailed(INVALID)
        if kid in self._jwks:
            return self._jwks[kid]
        if kid is None and len(self._jwks) == 1:
            return next(iter(self._jwks.values()))
        raise AuthenticationFailed(INVALID)


def _path(value: str, root: Path | None) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or root is None else root / path


def _load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read auth.public_key_file {path}: {exc.strerror}") from None
    try:
        if b"BEGIN CERTIFICATE" in data:
            from cryptography.x509 import load_pem_x509_certificate

            return load_pem_x509_certificate(data).public_key()
        return load_pem_public_key(data)
    except ValueError:
        raise ConfigError(f"auth.public_key_file {path} is not a PEM public key or certificate",
                          hint="export the issuer's public key with: openssl rsa -in key.pem -pubout") from None


def _load_jwks(path: Path, spec: AuthSpec) -> dict[str | None, Any]:
    import jwt

    try:
        from meshfabric import safe_yaml

        document = safe_yaml.load_json(path.read_bytes(), f"auth.jwks_file {path}")
    except OSError as exc:
        raise ConfigError(f"cannot read auth.jwks_file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"auth.jwks_file {path} is not JSON: {exc}") from None
    raw_keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(raw_keys, list):
        raise ConfigError(f"auth.jwks_file {path} is not a JSON Web Key Set: it needs a 'keys' list")
    keys: dict[str | None, Any] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        # a key bound to an algorithm outside the configured ones can never verify anything
        if raw.get("alg") and raw["alg"] not in spec.algorithms:
            continue
        try:
            jwk = jwt.PyJWK(raw, algorithm=raw.get("alg") or spec.algorithms[0])
        except jwt.PyJWTError:
            continue
        keys[jwk.key_id] = jwk.key
    if not keys:
        raise ConfigError(f"auth.jwks_file {path} holds no signing key for {', '.join(spec.algorithms)}")
    return keys
