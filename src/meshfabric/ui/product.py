"""The product page of the web UI (schema versions and diffs, contracts, quality history, lineage,
access, events). Included by the UI's app under ``/products/{domain}/{name}``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
