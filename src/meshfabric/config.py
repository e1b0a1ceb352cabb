"""The workspace: a folder with ``mesh.yaml`` and spec files, and where its store lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from meshfabric.errors import ConfigError
from meshfabric.spec.loader import MESH_FILE, resolve_env
from meshfabric.spec.models import MeshSpec

STORE_ENV = "MESHFABRIC_STORE_URL"
STATE_DIR = ".meshfabric"


@dataclass
class Settings:
    """The workspace folder and its ``mesh.yaml`` as last loaded: one object the services share,
    updated in place when an apply loads a new ``mesh.yaml`` (``spec`` None: a store opened
    without a workspace)."""

    root: Path | None = None
    spec: MeshSpec | None = None
    #: the principal calls without ``user=`` act as (``meshfabric --as NAME``); None: the local one
    acting: str | None = None


def find_root(start: Path | str | None = None) -> Path:
    """The nearest folder at or above ``start`` holding mesh.yaml."""
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / MESH_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {MESH_FILE} found in {here} or any folder above it",
        hint="run `meshfabric init DIR` to create a workspace, or cd into one",
    )


def store_url(root: Path, mesh: MeshSpec | None) -> str:
    """MESHFABRIC_STORE_URL, else ``store:`` in mesh.yaml, else a SQLite file in the workspace."""
    url = os.environ.get(STORE_ENV) or (mesh.store if mesh else None)
    if url:
        url = resolve_env(url, where="store URL")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:" and not Path(rel).is_absolute():
                url = f"sqlite:///{(root / rel).resolve()}"
        return url
    return f"sqlite:///{root / STATE_DIR / 'store.db'}"
