"""SLOs and domain health over REST (``/api/v1/slos``, ``/api/v1/domains/{domain}/health``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["observability"])
