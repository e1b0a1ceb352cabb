"""Authentication for the REST API: JWT bearer tokens and hashed API keys.

A request carries ``Authorization: Bearer <JWT or API key>`` or ``X-API-Key: <API key>``;
:meth:`AuthService.authenticate` turns it into the NAME of a principal known to the access layer,
or raises :class:`AuthenticationFailed` (HTTP 401). What that principal may do is the access
layer's decision, not this package's.

>>> from meshfabric.auth import AuthService          # doctest: +SKIP
>>> auth = mesh.auth                                  # doctest: +SKIP
>>> issued = auth.issue_token("alice", ttl="1h")     # doctest: +SKIP
>>> auth.authenticate(f"Bearer {issued.token}")      # doctest: +SKIP
'alice'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError

if TYPE_CHECKING:
    from meshfabric.auth.apikeys import ApiKeyInfo, CreatedApiKey
    from meshfabric.auth.service import AuthService
    from meshfabric.auth.tokens import IssuedToken, TokenVerifier

__all__ = ["ApiKeyInfo", "AuthService", "AuthenticationFailed", "CreatedApiKey", "IssuedToken", "TokenVerifier"]


class AuthenticationFailed(MeshfabricError):
    """No credentials, or credentials that do not identify a principal (HTTP 401).

    ``reason`` is what the client may be told; it never says whether a principal exists.
    ``missing`` is true when no credentials were sent at all.
    """

    http_status = 401
    title = "authentication required"

    def __init__(self, message: str, *, missing: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing


_LAZY = {
    "AuthService": "meshfabric.auth.service",
    "TokenVerifier": "meshfabric.auth.tokens",
    "IssuedToken": "meshfabric.auth.tokens",
    "ApiKeyInfo": "meshfabric.auth.apikeys",
    "CreatedApiKey": "meshfabric.auth.apikeys",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'meshfabric.auth' has no attribute {name!r}")
