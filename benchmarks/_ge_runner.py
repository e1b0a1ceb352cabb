"""Great Expectations side of ``benchmarks/quality.py``: run the suite, print JSON.

Runs in its own virtual environment (``benchmarks/.venvs/ge``, made by quality.py) as::

    benchmarks/.venvs/ge/bin/python benchmarks/_ge_runner.py JOB.json

``JOB.json`` (written by quality.py) names the source (``parquet`` or ``postgres``), the files or
the database, and the checks in the benchmark's neutral form. The suite is built and run the way
GE 1.x documents it: an ephemeral context, a data source (``add_pandas_filesystem`` with a
Parquet asset — GE reads Parquet through pandas — or ``add_postgres`` with a table asset), one
expectation per check in an ExpectationSuite, and a ValidationDefinition run with the default
``BASIC`` result format. Referential integrity is ``ExpectColumnValuesToBeInSet`` with the
referenced keys read from ``customers`` (pandas), or an ``UnexpectedRowsExpectation`` anti-join
(SQL). Freshness is ``ExpectColumnMaxToBeBetween`` with ``min_value`` = now - max age.

The last line printed is one JSON object: versions, ``setup_seconds`` (context, data source,
suite), ``check_seconds`` (the validation run, reading the data included), ``now`` (the epoch
the freshness bound was computed from), ``peak_rss_bytes`` and per check ``passed``,
``observed`` (in the benchmark's quantities: ``failing_rows``, ``duplicate_values``, ``value``,
``rows``, ``age_seconds``) and ``raw`` (GE's own result), or ``unsupported`` / ``error``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expectation(gx: Any, check: dict[str, Any], source: str, job: dict[str, Any], now: datetime) -> Any:
    """The GE expectation for one neutral check."""
    e = gx.expectations
    kind, column, prm = check["kind"], check["column"], check["params"]
    meta = {"check": check["id"]}
    if kind == "row_count":
        return e.ExpectTableRowCountToBeBetween(min_value=prm["min"], max_value=prm["max"], meta=meta)
    if kind == "not_null":
        return e.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if kind == "completeness":
        return e.ExpectColumnValuesToNotBeNull(column=column, mostly=prm["threshold"], meta=meta)
    if kind == "unique":
        return e.ExpectColumnValuesToBeUnique(column=column, meta=meta)
    if kind == "regex":
        return e.ExpectColumnValuesToMatchRegex(column=column, regex=prm["pattern"], meta=meta)
    if kind == "accepted_values":
        return e.ExpectColumnValuesToBeInSet(column=column, value_set=prm["values"], meta=meta)
    if kind == "range":
        low, high = prm.get("min"), prm.get("max")
        if prm.get("temporal"):
            low = _timestamp(low) if low is not None else None
            high = _timestamp(high) if high is not None else None
        return e.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, meta=meta)
    if kind == "length":
        return e.ExpectColumnValueLengthsToBeBetween(
            column=column, min_value=prm.get("min"), max_value=prm.get("max"), meta=meta
        )
    if kind == "statistic":
        cls = {
            "mean": e.ExpectColumnMeanToBeBetween,
            "stddev": e.ExpectColumnStdevToBeBetween,
            "distinct_count": e.ExpectColumnUniqueValueCountToBeBetween,
        }[prm["statistic"]]
        return cls(column=column, min_value=prm.get("min"), max_value=prm.get("max"), meta=meta)
    if kind == "freshness":
        bound = (now - timedelta(seconds=prm["max_age_seconds"])).replace(tzinfo=None)
        return e.ExpectColumnMaxToBeBetween(column=column, min_value=bound, meta=meta)
    if kind == "referential":
        if source == "parquet":
            import pyarrow.parquet as pq

            keys = pq.read_table(job["customers"], columns=[prm["key"]]).column(0).to_pylist()
            return e.ExpectColumnValuesToBeInSet(column=column, value_set=keys, meta=meta)
        query = (
            f"SELECT * FROM {{batch}} AS o WHERE o.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {prm['table']} AS r WHERE r.{prm['key']} = o.{column})"
        )
        return e.UnexpectedRowsExpectation(unexpected_rows_query=query, meta=meta)
    raise ValueError(f"unsupported check kind {kind}")


def observed(check: dict[str, Any], result: dict[str, Any], now: datetime) -> dict[str, float]:
    """GE's result in the benchmark's quantities."""
    kind = check["kind"]
    out: dict[str, float] = {}
    if "unexpected_count" in result and result["unexpected_count"] is not None:
        out["failing_rows"] = int(result["unexpected_count"])
        return out
    value = result.get("observed_value")
    if value is None:
        return out
    if kind == "row_count":
        out["rows"] = int(value)
    elif kind == "freshness":
        newest = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        out["age_seconds"] = now.timestamp() - newest.timestamp()
    elif kind == "referential":
        out["failing_rows"] = int(value)
    else:
        out["value"] = float(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): _jsonable(v)
            for k, v in value.items()
            if k
            not in ("partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list", "details")
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value[:5]]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    source = job["source"]
    started = time.perf_counter()
    import great_expectations as gx

    import_seconds = time.perf_counter() - started
    now = datetime.now(UTC)
    clock = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    if source == "parquet":
        ds = context.data_sources.add_pandas_filesystem(name="bench", base_directory=job["directory"])
        asset = ds.add_parquet_asset(name="orders")
        batch_definition = asset.add_batch_definition_path(name="orders", path=os.path.basename(job["orders"]))
    else:
        ds = context.data_sources.add_postgres(name="bench", connection_string=job["sqlalchemy_url"])
        asset = ds.add_table_asset(name="orders", table_name="orders")
        batch_definition = asset.add_batch_definition_whole_table(name="orders")
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    unsupported: dict[str, str] = {}
    for check in job["checks"]:
        try:
            suite.add_expectation(expectation(gx, check, source, job, now))
        except Exception as exc:  # a check GE cannot express is reported, not fatal
            unsupported[check["id"]] = f"{type(exc).__name__}: {exc}"
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="bench", data=batch_definition, suite=suite)
    )
    setup_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    outcome = validation.run()
    check_seconds = time.perf_counter() - clock

    results: dict[str, Any] = {}
    for r in outcome.results:
        check_id = str((r.expectation_config.meta or {}).get("check"))
        check = next(c for c in job["checks"] if c["id"] == check_id)
        raw = dict(r.result or {})
        entry: dict[str, Any] = {
            "passed": bool(r.success),
            "observed": observed(check, raw, now),
            "raw": _jsonable(raw),
        }
        info = r.exception_info or {}
        if info.get("raised_exception"):
            entry = {"error": str(info.get("exception_message") or "exception")[:500]}
        results[check_id] = entry
    for check_id, reason in unsupported.items():
        results[check_id] = {"unsupported": reason}
    import pandas

    print(
        json.dumps(
            {
                "tool": "great_expectations",
                "versions": {"great_expectations": gx.__version__, "pandas": pandas.__version__},
                "import_seconds": import_seconds,
                "setup_seconds": setup_seconds,
                "check_seconds": check_seconds,
                "now": now.timestamp(),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "results": results,
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
