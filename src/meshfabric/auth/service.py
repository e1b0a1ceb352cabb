"""``AuthService``: authenticate a request's credentials to a principal name; issue and revoke
tokens and API keys (admins only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from meshfabric.auth import AuthenticationFailed
from meshfabric.auth import apikeys as _keys
from meshfabric.auth.tokens import INVALID, IssuedToken, TokenVerifier
from meshfabric.errors import ConfigError, NotFound
from meshfabric.spec.auth_models import AuthSpec, seconds_of
from meshfabric.store.models_auth import RevokedTokenRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from meshfabric.access.service import AccessService
    from meshfabric.auth.apikeys import ApiKeyInfo, CreatedApiKey
    from meshfabric.config import Settings
    from meshfabric.store import Store

MISSING = "authentication required: send 'Authorization: Bearer <token or API key>' or 'X-API-Key: <API key>'"


class AuthService:
    """Credentials of one mesh. Build it once per server: key material is loaded on first use."""

    def __init__(self, store: Store, settings: Settings, access: AccessService, spec: AuthSpec | None = None) -> None:
        self.store = store
        self.settings = settings
        self.access = access
        self.spec = spec or (settings.spec.auth if settings.spec is not None else AuthSpec())
        self._verifier: TokenVerifier | None = None

    @property
    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            self._verifier = TokenVerifier(self.spec, self.settings.root)
        return self._verifier

    def _admin(self, acting: str | None) -> str:
        """The acting principal's name once the access service says it manages credentials."""
        return self.access.decide(acting, "credentials.manage").principal.name

    def _require_principal(self, name: str) -> None:
        with self.store.read() as s:
            if not _stored_principal(s, name):
                raise NotFound(f"no principal named '{name}'", hint=f"create it first: meshfabric users add {name} "
                                                                    "(or --service for a service account)")

    # -- requests ------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None = None, api_key: str | None = None) -> str:
        """The principal named by the request's credentials, or :class:`AuthenticationFailed`.

        ``authorization`` is the Authorization header's value (``Bearer <JWT>`` or
        ``Bearer mf_…``, the way OpenLineage clients send an API key); ``api_key`` the X-API-Key
        header's. A name the access layer does not know fails exactly like a bad signature.
        """
        if authorization is None and api_key is None:
            raise AuthenticationFailed(MISSING, missing=True)
        if authorization is not None and api_key is not None:
            raise AuthenticationFailed("send one credential, not both an Authorization and an X-API-Key header")
        jti = None
        if api_key is not None:
            name = _keys.verify(self.store, api_key)
        else:
            assert authorization is not None
            scheme, _, credential = authorization.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() != "bearer" or not credential or " " in credential:
                raise AuthenticationFailed("malformed Authorization header: expected 'Bearer <token or API key>'")
            if _keys.looks_like_api_key(credential):
                name = _keys.verify(self.store, credential)
            else:
                claims = self.verifier.verify(credential)
                name, jti = self.verifier.subject_of(claims), claims.get("jti")
        # one read for both checks: this runs on every request
        with self.store.read() as s:
            if jti is not None and s.get(RevokedTokenRow, jti) is not None:
                raise AuthenticationFailed(INVALID)
            if not _stored_principal(s, name):
                raise AuthenticationFailed(INVALID)
        return name

    # -- tokens --------------------------------------------------------------------------------
    def issue_token(self, user: str, *, ttl: str | float | None = None, acting: str | None = None) -> IssuedToken:
        """An HS* token for ``user`` (an existing principal); the acting principal must be an admin."""
        who = self._admin(acting)
        self._require_principal(user)
        issued = self.verifier.issue(user, ttl)
        from meshfabric.events import DomainEvent, append

        with self.store.write() as s:
            append(s, DomainEvent("auth.token_issued", None, {"jti": issued.jti, "subject": user, "by": who,
                                                                 "expires_at": issued.expires_at.isoformat()}))
        return issued

    def revoke_token(self, jti_or_token: str, *, reason: str = "", acting: str | None = None) -> dict[str, Any]:
        """Put a token's ``jti`` on the revocation list. Given the token itself (one this server
        verifies), its expiry is kept too, so the entry can be pruned once the token is dead."""
        who = self._admin(acting)
        jti, subject, expires = jti_or_token.strip(), "", None
        if jti.count(".") == 2:
            claims = self.verifier.verify(jti)
            if not isinstance(claims.get("jti"), str):
                raise ConfigError("the token has no jti, so it cannot be revoked; rotate the signing key instead")
            jti, subject = claims["jti"], self.verifier.subject_of(claims)
            expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if not jti or len(jti) > 256:
            raise ConfigError("give the token's jti (or the token itself)")
        with self.store.write() as s:
            row = s.get(RevokedTokenRow, jti)
            if row is None:
                from meshfabric.events import DomainEvent, append

                s.add(RevokedTokenRow(jti=jti, subject=subject, expires_at=expires, revoked_by=who, reason=reason,
                                      revoked_at=datetime.now(UTC)))
                append(s, DomainEvent("auth.token_revoked", None, {"jti": jti, "subject": subject, "by": who,
                                                                     "reason": reason}))
            # tokens past expiry (plus leeway) are refused anyway: their entries are dead weight
            cutoff = datetime.now(UTC) - timedelta(seconds=self.spec.leeway_seconds + 60)
            s.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at.is_not(None),
                                                    RevokedTokenRow.expires_at < cutoff))
        return {"jti": jti, "subject": subject, "expires_at": expires.isoformat() if expires else None,
                "revoked_by": who}

    def revoked_tokens(self, *, acting: str | None = None) -> list[dict[str, Any]]:
        self._admin(acting)
        with self.store.read() as s:
            rows = list(s.scalars(select(RevokedTokenRow).order_by(RevokedTokenRow.revoked_at)))
        return [{"jti": r.jti, "subject": r.subject, "revoked_by": r.revoked_by, "reason": r.reason,
                 "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                 "revoked_at": r.revoked_at.isoformat()} for r in rows]

    # -- API keys ------------------------------------------------------------------------------
    def create_api_key(self, principal: str, *, expires: str | datetime | None = None, name: str = "",
                       acting: str | None = None) -> CreatedApiKey:
        """A new key for ``principal``; ``expires`` is a duration (``90d``) or a date/time."""
        who = self._admin(acting)
        self._require_principal(principal)
        return _keys.create(self.store, principal, name=name, expires_at=expiry(expires), created_by=who)

    def api_keys(self, *, principal: str | None = None, include_inactive: bool = False,
                 acting: str | None = None) -> list[ApiKeyInfo]:
        self._admin(acting)
        return _keys.list_keys(self.store, principal=principal, include_inactive=include_inactive)

    def revoke_api_key(self, key_id: str, *, acting: str | None = None) -> ApiKeyInfo:
        who = self._admin(acting)
        return _keys.revoke(self.store, key_id, by=who)


def expiry(value: str | datetime | None) -> datetime | None:
    """``None``, a duration from now (``90d``), an ISO date (midnight UTC) or date-time.

    >>> expiry("2030-01-02").isoformat()
    '2030-01-02T00:00:00+00:00'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value
    else:
        text = value.strip()
        try:
            when = datetime.now(UTC) + timedelta(seconds=seconds_of(text))
        except ValueError:
            try:
                when = datetime.fromisoformat(text) if "T" in text or " " in text else \
                    datetime.combine(date.fromisoformat(text), datetime.min.time())
            except ValueError:
                raise ConfigError(f"'{value}' is neither a duration nor a date",
                                  hint="write e.g. 90d, 12h or 2030-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when <= datetime.now(UTC):
        raise ConfigError(f"the expiry {when.isoformat()} is in the past")
    return when


# -- the access layer's principals ---------------------------------------------------------------
def _stored_principal(session: Session, name: str) -> bool:
    """Whether ``name`` is a principal created in the store. The workspace's implicit local
    principal is not one: it acts on this machine (CLI, SDK) and is never reachable over REST."""
    # the access layer's table read by primary key: its full snapshot (principals, groups, roles,
    # grants, policies) costs ~10x more, and authentication needs only existence
    from meshfabric.store.models_access import PrincipalRow

    return len(name) <= 256 and session.get(PrincipalRow, name) is not None
