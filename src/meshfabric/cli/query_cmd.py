"""``query``: one SELECT over data products, results as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.text import Text

from meshfabric.cli._common import console, err_console, open_mesh, prepare_output, print_json, table
from meshfabric.errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet")


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.command("explain")(explain)


def _read_sql(sql: str) -> str:
    if sql == "-":
        return sys.stdin.read()
    if sql.startswith("@"):
        return Path(sql[1:]).read_text(encoding="utf-8")
    return sql


def query(
    sql: str = typer.Argument(..., help="SQL text, '-' for stdin, or @FILE."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the result to a file (.csv, .json, .parquet)."),
    fmt: str = typer.Option(None, "--format", "-f", help="table, csv, json or parquet (default: from --output)."),
    limit: int = typer.Option(None, "--limit", help="Return at most this many rows."),
    stats: bool = typer.Option(False, "--stats", help="Print what each source was sent and how many rows it moved."),
    max_rows: int = typer.Option(50, "--max-rows", help="Rows shown in table format."),
    as_user: str = typer.Option(None, "--as", help="Act as this principal (the local principal must be an admin)."),
    engine: str = typer.Option(None, "--engine", help="duckdb or spark (default: engine: in mesh.yaml, else duckdb)."),
) -> None:
    """Run one SELECT over products (domain.product) across every source they live in."""
    fmt = (fmt or (output.suffix.lstrip(".") if output else "table")).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise ConfigError("parquet output needs --output FILE")
    # Parquet written by Spark's executors when the query runs there (the DuckDB engine ignores it)
    direct = prepare_output(output) if fmt == "parquet" and output is not None else None
    with open_mesh(applied=True) as mesh, mesh.query(
            _read_sql(sql), limit=limit, user=as_user, engine=engine, output=direct, stream=True) as result:
        # read from the engine batch by batch: the result is written out as it comes, never held
        written = getattr(result, "rows_written", None)
        if written is not None:
            err_console.print(Text(f"wrote {written} rows to {output} (by Spark's executors)", style="dim"))
        elif fmt == "table":
            shown: list[dict[str, Any]] = []
            for batch in result:
                if len(shown) < max_rows:
                    shown += batch.slice(0, max_rows - len(shown)).to_pylist()
            console.print(table(None, result.columns, [list(r.values()) for r in shown]))
            more = f" (showing {max_rows})" if result.rows_read > max_rows else ""
            console.print(Text(f"{result.rows_read} rows{more} in {_seconds(result):.3f} s", style="dim"))
        else:
            _write(result, fmt, output)
            if output:
                err_console.print(Text(f"wrote {result.rows_read} rows to {output}", style="dim"))
    if stats:
        for s in result.scan_stats():
            err_console.print(Text(
                f"{s['product']} ← {s['source']}: {s['rows']} rows in {s['seconds']:.3f} s\n    {s['source_sql']}",
                style="dim",
            ))


def _seconds(result: Any) -> float:
    """The query's seconds: planning, scans and the engine up to the last batch."""
    return float(result.stats.total_seconds)


def _write(stream: Any, fmt: str, output: Path | None) -> None:
    """Write a :class:`~meshfabric.query.result.QueryStream` batch by batch as Parquet, CSV or
    JSON (the same text ``json_dumps`` writes for the whole result) to ``output`` or stdout.
    A failure once the file is created (the query failing mid-stream) removes it: no partial
    result is left looking like a whole one."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output is not None
        path = prepare_output(output)
        try:
            writer = pq.ParquetWriter(path, stream.schema)
        except OSError as exc:
            raise _unwritable(output, exc) from None
        with _removed_on_failure(path), writer:
            for batch in stream:
                writer.write_batch(batch)
        return
    if output is None:
        _write_text(stream, fmt, sys.stdout)
        return
    prepare_output(output)
    try:
        sink = output.open("w", encoding="utf-8")
    except OSError as exc:
        raise _unwritable(output, exc) from None
    with _removed_on_failure(output), sink:
        _write_text(stream, fmt, sink)


def _write_text(stream: Any, fmt: str, sink: TextIO) -> None:
    if fmt == "csv":
        import io

        import pyarrow.csv as pcsv

        buffer = io.BytesIO()

        def drain() -> str:
            text = buffer.getvalue().decode()
            buffer.seek(0)
            buffer.truncate()
            return text

        with pcsv.CSVWriter(buffer, stream.schema) as writer:
            for batch in stream:
                writer.write_batch(batch)
                sink.write(drain())  # a batch ends on a row: no character is split
        sink.write(drain())
        return
    from meshfabric.query.result import json_array_chunks

    rows = (row for batch in stream for row in batch.to_pylist())
    for piece in json_array_chunks(rows, indent=2):
        sink.write(piece)
    sink.write("\n")


@contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with suppress(OSError):
            path.unlink()
        raise


def _unwritable(output: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"cannot write --output {output}: {exc.strerror or exc}",
                       hint="choose a path in a folder you can write to")


def explain(
    sql: str = typer.Argument(..., help="SQL text, '-' for stdin, or @FILE."),
    as_user: str = typer.Option(None, "--as", help="Act as this principal (the local principal must be an admin)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the plan as JSON: {\"plan\": text, \"scans\": [...], \"engine_sql\": ...}."),
    analyze: bool = typer.Option(
        False, "--analyze", help="Also run the query and show, per scan, estimated against actual rows and time."),
    engine: str = typer.Option(None, "--engine", help="with --analyze: run on duckdb or spark."),
) -> None:
    """Show the plan: where each scan runs, what each source is sent, the keys a scan waits
    for, estimated rows, and what runs in the engine; with --analyze, what really happened."""
    text = _read_sql(sql)
    with open_mesh(applied=True) as mesh:
        plan = mesh.explain(text, user=as_user)
        ran = mesh.query(text, user=as_user, engine=engine) if analyze else None
    data: dict[str, Any] = {"plan": str(plan), **plan.as_dict()}
    if ran is not None:
        actual = {s.name: s for s in ran.stats.scans}
        for scan in data["scans"]:
            got = actual.get(scan["name"])
            if got is not None:
                scan["actual_rows"] = got.rows if got.placement == "source" else None
                scan["seconds"] = got.seconds
                scan["sent_sql"] = got.source_sql
        data["analyze"] = {"rows": ran.arrow().num_rows, "planning_seconds": ran.stats.planning_seconds,
                           "scan_seconds": ran.stats.scan_seconds, "engine_seconds": ran.stats.engine_seconds,
                           "rows_moved": ran.stats.rows_moved}
    if as_json:
        print_json(data)
        return
    console.print(Text(str(plan)))
    if ran is not None:
        console.print(Text(_analyzed(data)))


def _analyzed(data: dict[str, Any]) -> str:
    """The --analyze table: per scan, where it ran, estimated and actual rows, seconds."""
    head = f"    {'scan':<14} {'product':<28} {'runs in':<8} {'estimated':>12} {'actual':>12} {'s':>8}"
    lines = ["", "analyze:", head]
    for scan in data["scans"]:
        estimated = "-" if scan["estimated_rows"] is None else f"{scan['estimated_rows']:,.0f}"
        actual = "in place" if scan.get("actual_rows") is None else f"{scan['actual_rows']:,}"
        seconds = f"{scan['seconds']:.3f}" if scan.get("seconds") is not None else "-"
        lines.append(f"    {scan['name']:<14} {scan['product']:<28} {scan['placement']:<8} {estimated:>12} "
                     f"{actual:>12} {seconds:>8}")
    a = data["analyze"]
    lines.append(f"    rows moved {a['rows_moved']:,}; scans {a['scan_seconds']:.3f} s, "
                 f"engine {a['engine_seconds']:.3f} s, planning {a['planning_seconds']:.3f} s")
    return "\n".join(lines)
