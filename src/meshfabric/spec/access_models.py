"""Spec models of the access layer: the ``access:`` section of mesh.yaml (the local principal and
workspace admins); policy files have models here too."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AccessSpec(BaseModel):
    """``access:`` in mesh.yaml."""

    model_config = ConfigDict(extra="forbid")
