"""``lineage ingest FILE…|-``: OpenLineage events from files into the store, as the REST endpoint
takes them — e.g. what the OpenLineage file or console transport wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from meshfabric.cli._common import console, err_console, open_mesh, print_json, table
from meshfabric.safe_yaml import MAX_DEPTH as MAX_EVENT_DEPTH


def register(lineage: typer.Typer) -> None:
    """Add the ``ingest`` command to the ``lineage`` group."""
    lineage.command("ingest")(ingest_cmd)


#: the largest events file read (the REST endpoint takes events of up to 64 MB too)
MAX_FILE_BYTES = 64 * 1024 * 1024


def read_events(text: str, source: str) -> list[tuple[str, Any]]:
    """``(where, event)`` pairs from one JSON event, a JSON array of events, or JSON Lines (one
    event per line, blank lines skipped). Raises ConfigError naming the file and line that is
    not JSON, or that nests deeper than events do (see :func:`meshfabric.safe_yaml.load_json`)."""
    from meshfabric.errors import ConfigError
    from meshfabric.safe_yaml import load_json

    stripped = text.strip()
    if not stripped:
        return []
    array = stripped.startswith("[")  # an array of events is one level deeper than an event
    try:
        whole = load_json(stripped, source, max_bytes=MAX_FILE_BYTES, max_depth=MAX_EVENT_DEPTH + array)
    except json.JSONDecodeError:
        whole = None
    except ConfigError as exc:
        if array and "nests deeper" in exc.message:
            raise ConfigError(f"{source}: an event in the array nests deeper than {MAX_EVENT_DEPTH} levels",
                              hint=exc.hint) from None
        raise
    else:
        if isinstance(whole, list):
            return [(f"{source}[{i}]", e) for i, e in enumerate(whole)]
        return [(source, whole)]
    out: list[tuple[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{source}:{n}", load_json(line, f"{source}:{n}", max_bytes=MAX_FILE_BYTES,
                                                    max_depth=MAX_EVENT_DEPTH)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}:{n}: not JSON ({exc.msg} at column {exc.colno})",
                              hint="give one JSON event, a JSON array of events, or one event per line") from None
    return out


def _read_file(path: Path, name: str) -> str:
    """A file's text, refused before it is read when larger than :data:`MAX_FILE_BYTES`."""
    from meshfabric.errors import ConfigError

    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{name} is larger than {MAX_FILE_BYTES // 1048576} MB",
                          hint="split the events into smaller files")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name}: {exc}", hint="give a UTF-8 JSON or JSON Lines file") from None


def _read_stdin() -> str:
    from meshfabric.errors import ConfigError

    text = sys.stdin.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"standard input is larger than {MAX_FILE_BYTES // 1048576} MB",
                          hint="send the events in smaller batches")
    return text


def ingest_cmd(
    files: list[str] = typer.Argument(..., metavar="FILE…|-", help="JSON / JSON Lines files, or '-' for stdin."),
    json_out: bool = typer.Option(False, "--json", help="Print the outcome of every event as JSON."),
) -> None:
    """Validate OpenLineage events and fold them into the lineage graph (exit 2 if any is invalid;
    the valid ones are stored, and an event stored before is recognised, not stored twice)."""
    from meshfabric.errors import MeshfabricError
    from meshfabric.lineage.openlineage import InvalidOpenLineageEvent

    try:
        events: list[tuple[str, Any]] = []
        for name in files:
            if name == "-":
                events += read_events(_read_stdin(), "<stdin>")
                continue
            path = Path(name)
            if not path.is_file():
                from meshfabric.errors import ConfigError

                raise ConfigError(f"no file {name}", hint="name a JSON or JSON Lines file of OpenLineage events")
            events += read_events(_read_file(path, name), name)
        mesh = open_mesh()
    except MeshfabricError as exc:
        _fail(exc)
        raise typer.Exit(exc.exit_code) from None
    outcomes: list[dict[str, Any]] = []
    try:
        for where, event in events:
            try:
                result = mesh.lineage.ingest(event)
            except InvalidOpenLineageEvent as exc:
                outcomes.append({"source": where, "status": "invalid",
                                 "problems": [p.to_dict() for p in exc.problems]})
                continue
            outcomes.append({"source": where, "status": "duplicate" if result.duplicate else "stored",
                             **result.to_dict()})
    except MeshfabricError as exc:
        _fail(exc)
        raise typer.Exit(exc.exit_code) from None
    finally:
        mesh.close()
    invalid = [o for o in outcomes if o["status"] == "invalid"]
    if json_out:
        print_json(outcomes)
    else:
        _render(outcomes)
    if invalid:
        raise typer.Exit(2)


def _fail(exc: Any) -> None:
    err_console.print(Text("error: ", style="bold red") + Text(exc.message), soft_wrap=True)
    if exc.hint:
        err_console.print(Text("hint: ", style="yellow") + Text(exc.hint), soft_wrap=True)


def _render(outcomes: list[dict[str, Any]]) -> None:
    rows = []
    for o in outcomes:
        if o["status"] == "invalid":
            what = "; ".join(f"{p['path']}: {p['message']}" for p in o["problems"])
        else:
            what = " ".join(str(x) for x in (o.get("kind"), o.get("eventType") or "", o.get("job") or "",
                                             o.get("runId") or "") if x)
        rows.append([o["source"], o["status"], what])
    console.print(table("OpenLineage events", ["source", "status", "event"], rows))
    counts = {s: sum(1 for o in outcomes if o["status"] == s) for s in ("stored", "duplicate", "invalid")}
    console.print(f"{counts['stored']} stored, {counts['duplicate']} already stored, {counts['invalid']} invalid")
