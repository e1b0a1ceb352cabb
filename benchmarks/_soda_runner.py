"""Soda Core side of ``benchmarks/quality.py``: run the suite as SodaCL, print JSON.

Runs in its own virtual environment (``benchmarks/.venvs/soda``, made by quality.py) as::

    benchmarks/.venvs/soda/bin/python benchmarks/_soda_runner.py JOB.json

``JOB.json`` (written by quality.py) names the source and the checks in the benchmark's neutral
form. Soda Core 3.5 reads the data where it lives: for ``parquet`` a DuckDB connection
(soda-core-duckdb) with the views ``orders`` and ``customers`` over ``read_parquet`` of the two
files, handed to the scan with ``Scan.add_duckdb_connection`` as Soda's DuckDB page shows; for
``postgres`` a soda-core-postgres data source. Each check becomes one SodaCL check named after
its id (``missing_count``/``missing_percent``, ``duplicate_count``, ``invalid_count`` with
``valid regex`` / ``valid values`` / ``valid min``/``valid max`` / ``valid max length``,
``avg``/``stddev``, a user-defined ``COUNT(DISTINCT …)`` metric (SodaCL 3 has no distinct
count), ``freshness``, a reference check, and a ``failed rows`` check
with a ``fail condition`` for the timestamp lower bound, which ``valid min`` does not take).
Soda's defaults are kept, including the failed-row samples it collects for failing checks.

The last line printed is one JSON object: versions, ``setup_seconds`` (connection and parsing),
``check_seconds`` (``Scan.execute``), ``now``, ``peak_rss_bytes``, the SodaCL text and per check
``passed``, ``observed`` (the benchmark's quantities; ``duplicate_count`` counts duplicated
*values*, reported as ``duplicate_values``; ``missing_percent`` as ``failing_percent``) and
``raw`` (Soda's check value and diagnostics), or ``unsupported`` / ``error``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any


def _number(value: float) -> str:
    text = f"{round(value, 9):.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bounds(metric: str, prm: dict[str, Any]) -> str:
    low, high = prm.get("min"), prm.get("max")
    if low is not None and high is not None:
        return f"{metric} between {_number(low)} and {_number(high)}"
    if low is not None:
        return f"{metric} >= {_number(low)}"
    if high is not None:
        return f"{metric} <= {_number(high)}"
    raise ValueError(f"{metric} needs min, max or both")


def sodacl(check: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The SodaCL check line and its configuration (name included) for one neutral check."""
    kind, column, prm = check["kind"], check["column"], check["params"]
    config: dict[str, Any] = {"name": check["id"]}
    if kind == "row_count":
        return _bounds("row_count", prm), config
    if kind == "not_null":
        return f"missing_count({column}) = 0", config
    if kind == "completeness":
        return f"missing_percent({column}) <= {_number(100 * (1 - prm['threshold']))}", config
    if kind == "unique":
        return f"duplicate_count({column}) = 0", config
    if kind == "regex":
        config["valid regex"] = prm["pattern"]
        return f"invalid_count({column}) = 0", config
    if kind == "accepted_values":
        config["valid values"] = list(prm["values"])
        return f"invalid_count({column}) = 0", config
    if kind == "range" and not prm.get("temporal"):
        if prm.get("min") is not None:
            config["valid min"] = prm["min"]
        if prm.get("max") is not None:
            config["valid max"] = prm["max"]
        return f"invalid_count({column}) = 0", config
    if kind == "range":
        parts = []
        if prm.get("min") is not None:
            parts.append(f"{column} < {_quoted(prm['min'])}")
        if prm.get("max") is not None:
            parts.append(f"{column} > {_quoted(prm['max'])}")
        config["fail condition"] = " OR ".join(parts)
        return "failed rows", config
    if kind == "length":
        if prm.get("min") is not None:
            config["valid min length"] = prm["min"]
        if prm.get("max") is not None:
            config["valid max length"] = prm["max"]
        return f"invalid_count({column}) = 0", config
    if kind == "statistic" and prm["statistic"] == "distinct_count":
        # SodaCL 3 has no distinct-count metric: a user-defined metric with a SQL expression
        # (Soda computes it in the same aggregate query as the built-in metrics)
        metric = f"distinct_{column}"
        config[f"{metric} expression"] = f"COUNT(DISTINCT {column})"
        return _bounds(metric, prm), config
    if kind == "statistic":
        metric = {"mean": "avg", "stddev": "stddev"}[prm["statistic"]]
        return _bounds(f"{metric}({column})", prm), config
    if kind == "freshness":
        return f"freshness({column}) < {prm['max_age']}", config
    if kind == "referential":
        return f"values in ({column}) must exist in {prm['table']} ({prm['key']})", config
    raise ValueError(f"unsupported check kind {kind}")


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON scalars and lists are YAML flow values


def sodacl_document(checks: list[dict[str, Any]], table: str) -> str:
    lines = [f"checks for {table}:"]
    for check in checks:
        line, config = sodacl(check)
        lines.append(f"  - {line}:")
        for key, value in config.items():
            lines.append(f"      {key}: {_yaml_value(value)}")
    return "\n".join(lines) + "\n"


def observed(check: dict[str, Any], soda_check: Any, now: datetime) -> dict[str, float]:
    kind = check["kind"]
    value = getattr(soda_check, "check_value", None)
    if kind == "freshness":
        fresh = getattr(soda_check, "freshness_values", None) or {}
        age = fresh.get("freshness")
        return {"age_seconds": age.total_seconds()} if isinstance(age, timedelta) else {}
    if value is None:
        return {}
    if kind == "row_count":
        return {"rows": int(value)}
    if kind == "unique":
        return {"duplicate_values": int(value)}
    if kind == "completeness":
        return {"failing_percent": float(value)}
    if kind == "statistic":
        return {"value": float(value)}
    return {"failing_rows": int(value)}


def _raw(soda_check: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"check_value": getattr(soda_check, "check_value", None)}
    with contextlib.suppress(Exception):  # diagnostics are extra information only
        out.update(soda_check.get_log_diagnostic_dict() or {})
    return {k: v if isinstance(v, int | float | str | bool) or v is None else str(v) for k, v in out.items()}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    source = job["source"]
    started = time.perf_counter()
    from soda.scan import Scan

    import_seconds = time.perf_counter() - started
    now = datetime.now(UTC)
    clock = time.perf_counter()
    scan = Scan()
    scan.set_scan_definition_name("meshfabric-benchmark")
    scan.set_data_source_name("bench")
    versions: dict[str, str] = {}
    try:
        from importlib.metadata import version

        versions["soda-core"] = version("soda-core")
    except Exception:
        versions["soda-core"] = "?"
    con = None
    if source == "parquet":
        import duckdb

        versions["duckdb"] = duckdb.__version__
        con = duckdb.connect(":memory:")
        con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet({_quoted(job['orders'])})")
        con.execute(f"CREATE VIEW customers AS SELECT * FROM read_parquet({_quoted(job['customers'])})")
        scan.add_duckdb_connection(con, data_source_name="bench")
    else:
        scan.add_configuration_yaml_str(
            "data_source bench:\n"
            "  type: postgres\n"
            f"  host: {job['pg']['host']}\n"
            f'  port: "{job["pg"]["port"]}"\n'
            f"  username: {job['pg']['user']}\n"
            "  password: ''\n"
            f"  database: {job['pg']['database']}\n"
            "  schema: public\n"
        )
    unsupported: dict[str, str] = {}
    expressible = []
    for check in job["checks"]:
        try:
            sodacl(check)
            expressible.append(check)
        except Exception as exc:
            unsupported[check["id"]] = f"{type(exc).__name__}: {exc}"
    document = sodacl_document(expressible, "orders")
    scan.add_sodacl_yaml_str(document, file_name="bench_checks.yml")
    setup_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    exit_code = scan.execute()
    check_seconds = time.perf_counter() - clock

    results: dict[str, Any] = {}
    by_name = {c.name: c for c in scan._checks}
    for check in expressible:
        soda_check = by_name.get(check["id"])
        outcome = getattr(getattr(soda_check, "outcome", None), "value", None)
        if soda_check is None or outcome not in ("pass", "fail", "warn"):
            results[check["id"]] = {"error": f"no outcome (exit code {exit_code}); see the scan log"}
            continue
        results[check["id"]] = {
            "passed": outcome == "pass",
            "observed": observed(check, soda_check, now),
            "raw": _raw(soda_check),
        }
    for check_id, reason in unsupported.items():
        results[check_id] = {"unsupported": reason}
    errors = [str(log.message) for log in scan._logs.logs if getattr(log.level, "name", "") == "ERROR"]
    if con is not None:
        con.close()
    print(
        json.dumps(
            {
                "tool": "soda_core",
                "versions": versions,
                "import_seconds": import_seconds,
                "setup_seconds": setup_seconds,
                "check_seconds": check_seconds,
                "now": now.timestamp(),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "exit_code": exit_code,
                "queries": len(getattr(scan, "_queries", [])),
                "scan_errors": errors[:10],
                "sodacl": document,
                "results": results,
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
