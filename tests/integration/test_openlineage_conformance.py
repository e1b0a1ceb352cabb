"""Conformance with real producers: every event of OpenLineage's own Spark and Hive integration
tests (completed into spec-valid events, see tests/conformance/openlineage-integrations/
PROVENANCE.md) is accepted, and column lineage read back equals the events' columnLineage facets,
transformation types included. Prints the score. Nothing is fetched at test time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshfabric.lineage.openlineage import InvalidOpenLineageEvent, ingest_openlineage, marquez_column_lineage
from meshfabric.store import open_store

HERE = Path(__file__).resolve().parents[1] / "conformance" / "openlineage-integrations"
EVENTS = sorted((HERE / "events").glob("*.json"))

Field = tuple[str, str, str]


def _canon(transformations: list[Any] | None) -> list[str]:
    return sorted({json.dumps(t, sort_keys=True) for t in transformations or []})


def expected_lineage(event: dict[str, Any]) -> dict[Field, dict[Field, list[str]]]:
    """Per output field, its input fields and their transformations as the event says: a field's
    inputFields plus the facet's dataset-wide inputs (which every field of the dataset depends on)."""
    out: dict[Field, dict[Field, list[str]]] = {}
    for ds in event.get("outputs") or []:
        facet = (ds.get("facets") or {}).get("columnLineage")
        if not isinstance(facet, dict):
            continue
        for field, spec in (facet.get("fields") or {}).items():
            inputs: dict[Field, list[Any]] = {}
            for src in [*(spec.get("inputFields") or []), *(facet.get("dataset") or [])]:
                inputs.setdefault((src["namespace"], src["name"], src["field"]), []).extend(
                    src.get("transformations") or [])
            out[(ds["namespace"], ds["name"], field)] = {k: _canon(v) for k, v in inputs.items()}
    return out


def read_lineage(store: Any, event: dict[str, Any]) -> dict[Field, dict[Field, list[str]]]:
    """The same, read back through the Marquez-shaped column lineage of each output dataset."""
    out: dict[Field, dict[Field, list[str]]] = {}
    for ds in event.get("outputs") or []:
        facet = (ds.get("facets") or {}).get("columnLineage")
        if not isinstance(facet, dict):
            continue
        for field in facet.get("fields") or {}:
            out[(ds["namespace"], ds["name"], field)] = {}
        graph = marquez_column_lineage(store, f"dataset:{ds['namespace']}:{ds['name']}", depth=1)["graph"]
        for node in graph:
            d = node["data"]
            key = (d["namespace"], d["dataset"], d["field"])
            if key in out:
                out[key] = {(i["namespace"], i["dataset"], i["field"]): _canon(i["transformations"])
                            for i in d["inputFields"]}
    return out


def run_conformance(tmp_path: Path) -> tuple[list[str], list[str], int, int]:
    """Each event into a store of its own (events of different tests reuse table names)."""
    refused, differing = [], []
    with_lineage = 0
    for i, path in enumerate(EVENTS):
        event = json.loads(path.read_text("utf-8"))
        store = open_store(f"sqlite:///{tmp_path / f'store{i}.db'}")
        try:
            try:
                ingest_openlineage(store, event)
            except InvalidOpenLineageEvent as exc:
                refused.append(f"{path.name}: {exc.problems[0].render()}")
                continue
            expected = expected_lineage(event)
            if not expected:
                continue
            with_lineage += 1
            actual = read_lineage(store, event)
            if actual != expected:
                diff = next(k for k in expected if actual.get(k) != expected[k])
                differing.append(f"{path.name}: {diff}: read {actual.get(diff)}, sent {expected[diff]}")
        finally:
            store.close()
    return refused, differing, len(EVENTS), with_lineage


def test_there_are_enough_real_events() -> None:
    names = [p.name for p in EVENTS]
    assert len(names) >= 30
    assert any(n.startswith("hive-") for n in names) and any(n.startswith("spark-") for n in names)
    texts = [p.read_text("utf-8") for p in EVENTS]
    assert sum('"columnLineage"' in t for t in texts) >= 20
    assert any("s3://" in t for t in texts) and any("hive://" in t for t in texts)
    assert any("iceberg" in t for t in texts) and any('"dataSource"' in t for t in texts)
    assert not any("${" in t for t in texts), "every placeholder is filled"


def test_every_integration_event_is_accepted_and_its_column_lineage_reads_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused, differing, total, with_lineage = run_conformance(tmp_path)
    with capsys.disabled():
        print(f"\nOpenLineage integration conformance: accepted {total - len(refused)}/{total}, "
              f"column lineage equal {with_lineage - len(differing)}/{with_lineage}")
    assert not refused, "\n".join(refused[:10])
    assert not differing, "\n".join(differing[:10])
