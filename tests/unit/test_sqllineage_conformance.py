"""sqllineage's own SQL test suite (tests/sql, MIT, see tests/conformance/sqllineage/PROVENANCE.md) run
against meshfabric through an adapter that speaks the suite's helpers: ``assert_table_lineage_equal``
compares source and target tables, ``assert_column_lineage_equal`` the end-to-end column edges.

The data file holds each assertion's SQL, dialect and expected lineage; nothing is fetched here. The
score is printed; the test fails when a case that passed (PASSING below) stops passing, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshfabric.lineage import sql_lineage
from meshfabric.query.lineage import SqlLineageError

DATA = Path(__file__).resolve().parents[1] / "conformance" / "sqllineage" / "cases.json"
PASSING_FILE = DATA.with_name("passing.txt")

#: sqllineage (sqlfluff) dialect names → sqlglot's
DIALECTS = {"ansi": None, "sparksql": "spark", "greenplum": "postgres", "mariadb": "mysql", "vertica": "postgres",
            "db2": None, "exasol": None, "impala": "hive"}
DEFAULT_SCHEMA = "<default>"


def _table(name: str) -> str:
    """meshfabric's table name → sqllineage's: ``<default>`` schema when unqualified; a URI is a path."""
    if "/" in name:
        return "path:" + name
    return name if "." in name else f"{DEFAULT_SCHEMA}.{name}"


def _column(ref: str) -> str:
    table, _, column = ref.rpartition(".")
    return f"{_table(table)}.{column.lower()}" if table else f"?.{column.lower()}"


def _schema(columns_by_table: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for full, columns in columns_by_table.items():
        db, _, table = full.rpartition(".")
        out.setdefault(db, {})[table] = {c: "int" for c in columns}
    return out


def run_case(case: dict[str, Any], schemas: dict[str, Any]) -> tuple[bool, str]:
    dialect = DIALECTS.get(case["dialect"], case["dialect"])
    schema = _schema(schemas[case["schema"]]) if case.get("schema") else None
    try:  # sqllineage's semantics: CASE conditions and window keys are lineage, a script is read end to end
        result = sql_lineage(case["sql"], dialect=dialect, schema=schema, indirect=True, end_to_end=True,
                             ambiguous="unresolved")
    except SqlLineageError as exc:
        return False, f"error: {exc}"
    if case["kind"] == "table":
        got = {"sources": sorted(_table(t) for t in result["sources"]),
               "targets": sorted(_table(t) for t in result["targets"])}
        want = {"sources": case["sources"], "targets": case["targets"]}
    else:
        got = {"edges": sorted([_column(s), _column(t)] for s, t in result["columns"])}
        want = {"edges": case["edges"]}
    return got == want, f"expected {want}\n  got {got}"


def load() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    return doc["cases"], doc["schemas"]


def score() -> tuple[set[str], dict[str, str]]:
    cases, schemas = load()
    passed, failed = set(), {}
    for case in cases:
        ok, why = run_case(case, schemas)
        if ok:
            passed.add(case["id"])
        else:
            failed[case["id"]] = why
    return passed, failed


def test_sqllineage_suite_score() -> None:
    cases, _ = load()
    passed, failed = score()
    print(f"\nsqllineage conformance: {len(passed)}/{len(cases)}")
    recorded = {line.strip() for line in PASSING_FILE.read_text(encoding="utf-8").splitlines() if line.strip()}
    lost = sorted(recorded - passed)
    assert not lost, "cases that passed before fail now:\n" + "\n".join(f"{c}: {failed.get(c)}" for c in lost)


if __name__ == "__main__":  # python tests/unit/test_sqllineage_conformance.py [--write] [--show]
    import sys

    ok, bad = score()
    print(f"{len(ok)}/{len(ok) + len(bad)}")
    if "--show" in sys.argv:
        all_cases = {c["id"]: c for c in load()[0]}
        for cid, why in sorted(bad.items()):
            print(f"--- {cid} [{all_cases[cid]['dialect']}]\n{all_cases[cid]['sql']}\n  {why}")
    if "--write" in sys.argv:
        PASSING_FILE.write_text("".join(f"{c}\n" for c in sorted(ok)), encoding="utf-8")


pytest.importorskip("sqlglot")
