"""Catalog search: ranked full-text over products, columns, tags and owners."""

from __future__ import annotations
