"""Regressions found by the Spark/Hive conformance run (tests/integration/test_openlineage_conformance.py):
tolerated format deviations are warnings, a date is not a date-time, and column lineage reads back
namespaces, names and transformations exactly as the events sent them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshfabric.lineage.ol_read import split_key
from meshfabric.lineage.openlineage import (
    CORE_ID,
    InvalidOpenLineageEvent,
    ingest_openlineage,
    marquez_column_lineage,
)
from meshfabric.store import Store, open_store

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.53.0/integration/spark"
FACET = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
S3, WAREHOUSE = "s3://test-bucket", "/iceberg_warehouse/default/source"
HIVE = "hive://localhost:9083"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield s
    finally:
        s.close()


def facet(**body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET, **body}


def schema(*cols: str) -> dict[str, Any]:
    return facet(fields=[{"name": c, "type": "long"} for c in cols])


def t(kind: str, subtype: str) -> dict[str, Any]:
    return {"type": kind, "subtype": subtype, "description": "", "masking": False}


def event(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], *, minute: int = 0,
          run_facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": f"2025-06-01T10:{minute:02d}:00.000Z", "producer": PRODUCER,
            "schemaURL": f"{CORE_ID}#/$defs/RunEvent", "run": {"runId": str(uuid.uuid4()), "facets": run_facets or {}},
            "job": {"namespace": "default", "name": f"job{minute}"}, "inputs": inputs, "outputs": outputs}


def lineage_event(src_ns: str, src_name: str, fields: dict[str, list[dict[str, Any]]],
                  whole: list[dict[str, Any]] | None = None, *, input_schema: bool = False) -> dict[str, Any]:
    """A job writing ``file:/out`` from ``src_ns``/``src_name``, named as an input only in the
    columnLineage facet unless ``input_schema``."""
    lineage = facet(fields={out: {"inputFields": srcs} for out, srcs in fields.items()})
    if whole is not None:
        lineage["dataset"] = whole
    inputs = [{"namespace": src_ns, "name": src_name, "facets": {"schema": schema("a", "b")}}] if input_schema else []
    return event(inputs, [{"namespace": "file", "name": "/out", "facets": {
        "schema": schema(*fields), "columnLineage": lineage}}])


def src(ns: str, name: str, field: str, *transformations: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": ns, "name": name, "field": field}
    if transformations:
        out["transformations"] = list(transformations)
    return out


def read(store: Store, field: str) -> list[dict[str, Any]]:
    graph = marquez_column_lineage(store, f"datasetField:file:/out:{field}", depth=1)["graph"]
    node = next(n for n in graph if n["data"]["dataset"] == "/out" and n["data"]["field"] == field)
    return node["data"]["inputFields"]


def test_a_spark_datasource_uri_file_is_accepted_with_a_warning(store: Store) -> None:
    e = event([{"namespace": "file", "name": "/tmp/in", "facets": {"dataSource": facet(name="file", uri="file")}}],
              [])
    result = ingest_openlineage(store, e)
    assert not result.duplicate
    assert [w.path for w in result.warnings] == ["$.inputs[0].facets.dataSource.uri"]
    assert result.to_dict()["warnings"] == [{"path": "$.inputs[0].facets.dataSource.uri",
                                             "message": "'file' is not a valid uri"}]
    assert ingest_openlineage(store, e).warnings == result.warnings  # a repeat says the same


def test_a_date_only_nominal_time_is_refused_at_its_path(store: Store) -> None:
    e = event([], [], run_facets={"nominalTime": facet(nominalStartTime="2025-06-01")})
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, e)
    assert [p.path for p in err.value.problems] == ["$.run.facets.nominalTime.nominalStartTime"]
    assert "date-time" in err.value.problems[0].message
    e["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2025-06-01T00:00:00Z"
    assert ingest_openlineage(store, e).warnings == ()


@pytest.mark.parametrize(("ns", "name"), [(S3, WAREHOUSE), (S3, "warehouse/t"), (HIVE, "test.t1"),
                                          ("file", "/tmp/a.b/c")])
def test_an_input_named_only_in_column_lineage_keeps_its_namespace(store: Store, ns: str, name: str) -> None:
    ingest_openlineage(store, lineage_event(ns, name, {"a": [src(ns, name, "a", t("DIRECT", "IDENTITY"))]}))
    [found] = read(store, "a")
    assert (found["namespace"], found["dataset"], found["field"]) == (ns, name, "a")


@pytest.mark.parametrize(("ns", "name"), [(S3, WAREHOUSE), (HIVE, "test.t1")])
def test_an_input_whose_columns_were_replaced_keeps_its_namespace(store: Store, ns: str, name: str) -> None:
    ingest_openlineage(store, lineage_event(ns, name, {"a": [src(ns, name, "a", t("DIRECT", "IDENTITY"))]},
                                            input_schema=True))
    # a later event gives the input another schema: its columns (has_column edges) are replaced
    ingest_openlineage(store, event([{"namespace": ns, "name": name, "facets": {"schema": schema("z")}}], [],
                                    minute=5))
    [found] = read(store, "a")
    assert (found["namespace"], found["dataset"], found["field"]) == (ns, name, "a")


def test_a_join_key_that_is_also_selected_keeps_direct_and_indirect(store: Store) -> None:
    direct, join = t("DIRECT", "IDENTITY"), t("INDIRECT", "JOIN")
    ingest_openlineage(store, lineage_event(HIVE, "test.t1", {"a": [src(HIVE, "test.t1", "a", direct)],
                                                              "b": [src(HIVE, "test.t1", "b", direct)]},
                                            whole=[src(HIVE, "test.t1", "a", join)]))
    [a] = read(store, "a")
    assert a["transformations"] == [direct, join]
    assert a["transformationType"] == "DIRECT"
    b = {i["field"]: i for i in read(store, "b")}
    assert b["b"]["transformations"] == [direct] and b["a"]["transformations"] == [join]
    assert b["a"]["transformationType"] == "INDIRECT"


def test_an_input_without_transformations_reads_back_without_any(store: Store) -> None:
    ingest_openlineage(store, lineage_event("file", "/in", {"a": [src("file", "/in", "a")]}))
    [a] = read(store, "a")
    assert a["transformations"] == []
    assert a["transformationType"] is None


def test_a_key_without_names_is_split_after_the_uri_authority() -> None:
    assert split_key(f"{S3}/{WAREHOUSE}") == (S3, WAREHOUSE)
    assert split_key(f"{HIVE}/test.t1") == (HIVE, "test.t1")
    assert split_key("file//tmp/x") == ("file", "/tmp/x")
    assert split_key("airflow/etl.load") == ("airflow", "etl.load")
