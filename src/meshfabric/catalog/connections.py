"""The connectors of a workspace's sources, opened once and shared (``Connections``).

A source is looked up in the applied catalog first (what ``apply`` stored), else in
``mesh.yaml``; its connector is created on first use and kept, so its pooled connections serve
every later query, quality run and profile. An apply that changes sources calls :meth:`reset`.
"""

from __future__ import annotations

import difflib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from meshfabric.catalog.read import SourceInfo, list_sources
from meshfabric.config import Settings
from meshfabric.errors import NotFound
from meshfabric.spec.models import SourceSpec

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector
    from meshfabric.store import Store


class Connections:
    """The connector provider every service receives: ``connections(name)`` is the source's
    connector."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._open: dict[str, Connector] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Connector:
        with self._lock:
            if name in self._open:
                return self._open[name]
            conn = make_connector(name, self.spec(name), self.settings.root or Path.cwd())
            self._open[name] = conn
            return conn

    def sources(self) -> list[SourceInfo]:
        """Applied sources, and those only declared in mesh.yaml so far."""
        applied = {s.name: s for s in list_sources(self.store)}
        if self.settings.spec:
            for name, src in self.settings.spec.sources.items():
                applied.setdefault(name, SourceInfo(name, src.kind, src.description,
                                                    src.model_dump(mode="json", exclude_none=True)))
        return sorted(applied.values(), key=lambda s: s.name)

    def spec(self, name: str) -> SourceSpec:
        for info in list_sources(self.store):
            if info.name == name:
                return SourceSpec.model_validate(info.spec)
        if self.settings.spec and name in self.settings.spec.sources:
            return self.settings.spec.sources[name]
        known = [s.name for s in self.sources()]
        close = difflib.get_close_matches(name, known, n=1)
        raise NotFound(
            f"source '{name}' is not configured",
            hint=f"did you mean '{close[0]}'?" if close else f"known sources: {', '.join(known) or 'none'}",
        )

    def reset(self) -> None:
        """Close every open connector (sources may have changed); the next use opens anew."""
        with self._lock:
            for conn in self._open.values():
                conn.close()
            self._open.clear()

    close = reset


def make_connector(name: str, spec: SourceSpec, root: Path) -> Connector:
    """A new connector for source ``name`` (``${ENV}`` references resolved now)."""
    from meshfabric.connectors import get_connector
    from meshfabric.spec.loader import resolved_source

    return get_connector(name, resolved_source(name, spec), root)
