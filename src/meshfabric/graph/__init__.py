"""The metadata graph: every entity a node with properties, every relationship a typed edge."""

from __future__ import annotations
