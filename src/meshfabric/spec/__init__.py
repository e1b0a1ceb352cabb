"""Spec files: models and loaders."""

from meshfabric.spec.loader import LoadedProduct, WorkspaceSpecs, load_mesh, load_workspace, resolved_source
from meshfabric.spec.models import (
    LIFECYCLE,
    ColumnSpec,
    DomainSpec,
    MeshSpec,
    OutputPort,
    ProductSpec,
    SourceSpec,
)

__all__ = [
    "LIFECYCLE",
    "ColumnSpec",
    "DomainSpec",
    "LoadedProduct",
    "MeshSpec",
    "OutputPort",
    "ProductSpec",
    "SourceSpec",
    "WorkspaceSpecs",
    "load_mesh",
    "load_workspace",
    "resolved_source",
]
