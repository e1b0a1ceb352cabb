"""What every router shares: the Mesh of the app and the principal of the request.

Routers take ``mesh: Mesh = Depends(mesh_of)`` and ``user: str | None = Depends(principal_of)``
and pass ``user=`` on to the SDK, which authorises, masks, filters and audits. Authentication
itself is :func:`authenticate`, which ``create_app`` applies to every router it includes.
"""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from meshfabric.mesh import Mesh

#: declared in OpenAPI; the header is parsed by the auth service, so auto_error stays off and a
#: missing or malformed credential is reported as meshfabric's own 401 problem document
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="A JWT (signed with the configured algorithm) or an API key `mf_<id>_<secret>`",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key `mf_<id>_<secret>`",
)


#: the largest ``offset`` a list accepts: far beyond any real page, and far below the 64-bit integers
#: a store's OFFSET overflows at (an unbounded offset reached SQLite as an OverflowError: a 500)
MAX_OFFSET = 1_000_000_000


def mesh_of(request: Request) -> Mesh:
    return request.app.state.mesh  # type: ignore[no-any-return]


def principal_of(request: Request) -> str | None:
    """The authenticated principal's name (set by the authentication dependency); ``None`` means
    the server runs without authentication and acts as the workspace's local principal."""
    return getattr(request.state, "principal", None)


def authenticate(
    request: Request,
    _bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
    api_key: str | None = Security(api_key_scheme),
) -> str | None:
    """Map the request's credential to a principal name (``request.state.principal``), or raise
    ``AuthenticationFailed`` (401). A no-op when the app was created without authentication."""
    service = getattr(request.app.state, "auth", None)
    if service is None:
        return None
    name: str = service.authenticate(request.headers.get("authorization"), api_key)
    request.state.principal = name
    return name
