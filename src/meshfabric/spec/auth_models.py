"""Spec models of REST authentication: the ``auth:`` section of mesh.yaml (JWT issuer, audience,
accepted algorithms, key material references)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AuthSpec(BaseModel):
    """``auth:`` in mesh.yaml."""

    model_config = ConfigDict(extra="forbid")
