"""meshfabric: a data mesh and a data fabric in one package.

``import meshfabric`` stays light: the SDK facade and everything heavy behind it are imported
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshfabric.errors import (
    AccessDenied,
    CheckFailed,
    ConfigError,
    IncompatibleSchema,
    MeshfabricError,
    NotFound,
    QueryError,
    SourceError,
    SpecError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from meshfabric.mesh import Mesh


def __getattr__(name: str) -> Any:
    if name == "Mesh":
        from meshfabric.mesh import Mesh

        return Mesh
    raise AttributeError(name)


__all__ = [
    "AccessDenied",
    "CheckFailed",
    "ConfigError",
    "IncompatibleSchema",
    "Mesh",
    "MeshfabricError",
    "NotFound",
    "QueryError",
    "SourceError",
    "SpecError",
    "__version__",
]
