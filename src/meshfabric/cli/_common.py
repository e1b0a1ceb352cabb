"""What every command shares: opening the workspace, printing tables and JSON, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    from meshfabric.mesh import Mesh

console = Console()
err_console = Console(stderr=True)

#: passed with -w/--workspace before the command; default: the current folder
STATE: dict[str, Any] = {"workspace": None, "acting": None}

JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def open_mesh(*, applied: bool = False) -> Mesh:
    """The workspace's Mesh; ``applied``: a read-only command that needs a store an apply made."""
    from meshfabric.mesh import Mesh

    if applied:
        require_applied()
    mesh = Mesh.open(STATE["workspace"])
    mesh.settings.acting = STATE.get("acting")
    return mesh


def require_applied() -> None:
    """Refuse to read a default store that does not exist yet instead of creating an empty one.

    Only the default SQLite store is checked: a `store:` URL or MESHFABRIC_STORE_URL names a store
    someone set up, and opening it reports it unreachable. A mesh.yaml that does not parse is left
    to Mesh.open, which names the line.
    """
    import os

    import yaml

    from meshfabric import safe_yaml
    from meshfabric.config import STATE_DIR, STORE_ENV, find_root
    from meshfabric.errors import MeshfabricError
    from meshfabric.spec.loader import MESH_FILE

    if os.environ.get(STORE_ENV):
        return
    root = find_root(STATE["workspace"])
    try:
        doc = safe_yaml.load_one(safe_yaml.read_text(root / MESH_FILE, MESH_FILE), MESH_FILE)
    except (OSError, yaml.YAMLError, MeshfabricError):
        return  # the command itself reports a broken mesh.yaml
    if isinstance(doc, dict) and doc.get("store"):
        return
    if not (root / STATE_DIR / "store.db").exists():
        raise ConfigError(f"the workspace {root} has not been applied yet: there is no store at "
                          f"{STATE_DIR}/store.db", hint="run `meshfabric apply` in the workspace first")


def prepare_output(path: Path, option: str = "--output") -> Path:
    """Create the folders above a file a command is about to write (`-o contracts/x.odcs.yaml`)."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder, not a file",
                          hint=f"name a file inside it, e.g. {path / 'out'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {path.parent} for {option} {path}: {exc.strerror or exc}",
                          hint="choose a path in a folder you can write to") from None
    return path


def write_output(path: Path, text: str, option: str = "--output") -> None:
    """Write a command's text output to FILE, creating its folders; a failure is bad input, not a traceback."""
    prepare_output(path, option)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {option} {path}: {exc.strerror or exc}",
                          hint="choose a path in a folder you can write to") from None


def print_json(data: Any) -> None:
    """``--json`` output of every command: numbers exact (decimals and big integers as JSON
    numbers, not strings), the same encoding as ``query --format json`` and the REST API."""
    from meshfabric.query.result import json_dumps

    sys.stdout.write(json_dumps(data, indent=2) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
