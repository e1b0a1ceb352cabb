"""Producers publish data into a product's output port, checked against its declared schema.

The data is conformed (columns matched by name, cast to the declared logical types, missing
nullable columns filled with nulls) before anything is written, so a bad batch is refused whole
with every reason and the source is left as it was.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Literal

from meshfabric.errors import CheckFailed, ConfigError, SourceError
from meshfabric.types import parse_type, to_arrow

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.catalog.read import ProductInfo
    from meshfabric.connectors.base import Connector

WriteMode = Literal["append", "replace", "create"]
_GLOB = re.compile(r"[*?\[]")
#: extensions of the files a files source writes, in order of preference for a glob port
_WRITABLE = (".parquet", ".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".pq")


def conform(data: pa.Table, columns: list[dict[str, Any]], product: str) -> pa.Table:
    """``data`` with exactly the product's columns, in order and in their declared types."""
    import pyarrow as pa

    by_name = {name.lower(): name for name in data.column_names}
    declared = {c["name"].lower() for c in columns}
    problems = [f"column '{n}' is not in the product's schema" for n in data.column_names if n.lower() not in declared]
    arrays: list[pa.ChunkedArray | pa.Array] = []
    for col in columns:
        target = to_arrow(parse_type(col["type"]))
        name = by_name.get(col["name"].lower())
        if name is None:
            if not col.get("nullable", True):
                problems.append(f"column '{col['name']}' is required (nullable: false) but missing")
                continue
            arrays.append(pa.nulls(data.num_rows, type=target))
            continue
        values = data.column(name)
        try:
            values = values.cast(target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            problems.append(f"column '{col['name']}' cannot be stored as {col['type']}: {str(exc)[:160]}")
            continue
        if not col.get("nullable", True) and values.null_count:
            problems.append(f"column '{col['name']}' is not nullable but has {values.null_count} null values")
        arrays.append(values)
    if problems:
        raise CheckFailed(
            f"data for '{product}' does not match its schema (nothing was written):\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="rename, cast or drop the columns listed, or change the product's declared schema",
        )
    return pa.Table.from_arrays(arrays, names=[c["name"] for c in columns])


def write_target(product: ProductInfo, mode: WriteMode) -> str:
    """Where in its source a product's data is written."""
    port = product.output
    if port.get("sql"):
        raise ConfigError(f"product '{product.fqn}' is served by a SQL query and cannot be written to",
                          hint="write into the tables its query reads")
    if port.get("table"):
        return str(port["table"])
    path = str(port["path"])
    if not _GLOB.search(path):
        return path
    # a glob port: each append adds one file that the glob matches
    if mode != "append":
        raise ConfigError(f"product '{product.fqn}' reads many files ({path}): only 'append' adds to it",
                          hint="append a batch, or remove the old files in the source first")
    folder, _, pattern = path.rpartition("/")
    matches = re.compile(pattern.replace(".", r"\.").replace("*", ".*").replace("?", "."), re.IGNORECASE).fullmatch
    stem = f"part-{uuid.uuid4().hex}"
    # the new file takes the format of the files the glob names (`*.csv` gets a CSV file)
    name = next((stem + ext for ext in _WRITABLE if matches(stem + ext)), None)
    if name is None:
        raise ConfigError(f"cannot name a new file matching '{path}' for product '{product.fqn}'",
                          hint="use a glob like 'folder/*.parquet' (or *.csv, *.jsonl) for products written by "
                          "meshfabric")
    return f"{folder}/{name}" if folder else name


def write_product(product: ProductInfo, connector: Connector, data: pa.Table, mode: WriteMode) -> int:
    """Conform ``data`` to the product's schema, then write it; returns rows written."""
    if mode not in ("append", "replace", "create"):
        raise ConfigError(f"unknown write mode '{mode}'", hint="use append, replace or create")
    target = write_target(product, mode)
    table = conform(data, product.columns, product.fqn)
    try:
        return connector.write(target, table, mode)
    except SourceError as exc:  # the connector knows the table, the user asked for the product
        raise SourceError(exc.source, f"cannot write product '{product.fqn}': "
                          + exc.message.removeprefix(f"source '{exc.source}': "), hint=exc.hint) from None
