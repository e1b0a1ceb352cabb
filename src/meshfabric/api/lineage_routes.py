"""REST endpoints of the lineage capability; included by ``meshfabric.api.app.create_app``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["lineage"])
