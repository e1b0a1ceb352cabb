"""What every router shares: the Mesh of the app and the principal of the request.

Routers take ``mesh: Mesh = Depends(mesh_of)`` and ``user: str | None = Depends(principal_of)``
and pass ``user=`` on to the SDK, which authorises, masks, filters and audits.
"""

from __future__ import annotations

from fastapi import Request

from meshfabric.mesh import Mesh


def mesh_of(request: Request) -> Mesh:
    return request.app.state.mesh  # type: ignore[no-any-return]


def principal_of(request: Request) -> str | None:
    """The authenticated principal's name (set by the authentication dependency); ``None`` means
    the server runs without authentication and acts as the workspace's local principal."""
    return getattr(request.state, "principal", None)
