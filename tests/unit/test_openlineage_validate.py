"""OpenLineage validation against the bundled spec: the peer examples pass, each kind of mistake is
reported at its JSON path with the reason, and generated valid events pass while their mutations fail."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import CONFORMANCE
from meshfabric.lineage.openlineage import (
    CORE_ID,
    check_event,
    event_kind,
    fingerprint,
    parse_event,
    validate_event,
)

EXAMPLES = CONFORMANCE / "openlineage" / "examples"
PRODUCER = "https://github.com/example/producer/v1"
FACET_URL = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"


def _examples() -> list[Path]:
    files = sorted(EXAMPLES.glob("*.json"))
    assert files, f"no OpenLineage examples in {EXAMPLES}"
    return files


def run_event(**over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": "START", "eventTime": "2024-05-01T10:00:00.123Z", "producer": PRODUCER,
        "schemaURL": f"{CORE_ID}#/$defs/RunEvent",
        "run": {"runId": "0190a7c2-5d2e-7b3a-9c41-2f6d7e8a9b0c", "facets": {}},
        "job": {"namespace": "airflow", "name": "etl.load", "facets": {}},
        "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders", "facets": {
            "schema": {"_producer": PRODUCER, "_schemaURL": FACET_URL,
                       "fields": [{"name": "id", "type": "bigint"}]}}}],
        "outputs": [{"namespace": "postgres://db:5432", "name": "public.revenue", "outputFacets": {
            "outputStatistics": {"_producer": PRODUCER, "_schemaURL": FACET_URL, "rowCount": 3}}}],
    }
    event.update(over)
    return event


def paths(event: Any) -> dict[str, str]:
    return {p.path: p.message for p in validate_event(event)}


#: the OpenLineage client's serde example gives nominalTime as dates ("2020-01-01"), which the
#: spec's date-time refuses: it is valid once they are date-times
DATE_ONLY = "serde_example_run_event.json"
NOMINAL = {"$.run.facets.nominalTime.nominalStartTime", "$.run.facets.nominalTime.nominalEndTime"}


def with_date_times(event: dict[str, Any]) -> dict[str, Any]:
    nominal = event["run"]["facets"]["nominalTime"]
    for key in ("nominalStartTime", "nominalEndTime"):
        nominal[key] += "T00:00:00Z"
    return event


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_peer_example_is_valid(path: Path) -> None:
    event = json.loads(path.read_text())
    if path.name == DATE_ONLY:
        assert set(paths(event)) == NOMINAL
        event = with_date_times(event)
    assert validate_event(event) == []
    parsed = parse_event(event)
    assert parsed.kind == event_kind(event)
    assert parsed.event_time.tzinfo is not None


def test_the_example_kinds() -> None:
    kinds = {p.name: event_kind(json.loads(p.read_text())) for p in _examples()}
    assert kinds["serde_example_dataset_event.json"] == "dataset"
    assert kinds["serde_example_job_event.json"] == "job"
    assert kinds["serde_example_run_event.json"] == "run"
    assert kinds["example_full_event.json"] == "run"


def test_a_complete_run_event_is_valid() -> None:
    assert validate_event(run_event()) == []


@pytest.mark.parametrize(("mutate", "path", "reason"), [
    (lambda e: e.pop("eventTime"), "$.eventTime", "required"),
    (lambda e: e.pop("producer"), "$.producer", "required"),
    (lambda e: e.pop("schemaURL"), "$.schemaURL", "required"),
    (lambda e: e["run"].pop("runId"), "$.run.runId", "required"),
    (lambda e: e["job"].pop("namespace"), "$.job.namespace", "required"),
    (lambda e: e["run"].__setitem__("runId", "not-a-uuid"), "$.run.runId", "not a valid uuid"),
    (lambda e: e["run"].__setitem__("runId", "0190a7c25d2e7b3a9c412f6d7e8a9b0c"), "$.run.runId", "uuid"),
    (lambda e: e.__setitem__("eventType", "DONE"), "$.eventType", "is not one of"),
    (lambda e: e.__setitem__("eventType", "start"), "$.eventType", "is not one of"),
    (lambda e: e.__setitem__("eventTime", "yesterday"), "$.eventTime", "not a valid date-time"),
    (lambda e: e.__setitem__("eventTime", 1714557600), "$.eventTime", "is not of type 'string'"),
    (lambda e: e.__setitem__("producer", 42), "$.producer", "is not of type 'string'"),
    (lambda e: e["job"].__setitem__("name", ["x"]), "$.job.name", "is not of type 'string'"),
    (lambda e: e.__setitem__("inputs", {"namespace": "a"}), "$.inputs", "is not of type 'array'"),
    (lambda e: e["inputs"][0].pop("name"), "$.inputs[0].name", "required"),
    (lambda e: e["run"].__setitem__("facets", []), "$.run.facets", "is not of type 'object'"),
    (lambda e: e["inputs"][0]["facets"]["schema"]["fields"][0].__setitem__("type", 7),
     "$.inputs[0].facets.schema.fields[0].type", "is not of type 'string'"),
    (lambda e: e["inputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
     "$.inputs[0].facets.schema.fields[0].name", "required"),
    (lambda e: e["outputs"][0]["outputFacets"]["outputStatistics"].__setitem__("rowCount", "many"),
     "$.outputs[0].outputFacets.outputStatistics.rowCount", "is not of type 'integer'"),
    (lambda e: e["inputs"][0]["facets"]["schema"].pop("_producer"), "$.inputs[0].facets.schema._producer",
     "required"),
    (lambda e: e["run"]["facets"].__setitem__("myCustom", {"value": 1}), "$.run.facets.myCustom._schemaURL",
     "required"),
    (lambda e: e["run"]["facets"].__setitem__("nominalTime", {"_producer": PRODUCER, "_schemaURL": FACET_URL,
                                                               "nominalStartTime": "noon"}),
     "$.run.facets.nominalTime.nominalStartTime", "date-time"),
    (lambda e: e["run"]["facets"].__setitem__("parent", {"_producer": PRODUCER, "_schemaURL": FACET_URL,
                                                         "run": {"runId": "x"}, "job": {"namespace": "a",
                                                                                       "name": "b"}}),
     "$.run.facets.parent.run.runId", "uuid"),
])
def test_each_mistake_is_reported_at_its_path(mutate: Any, path: str, reason: str) -> None:
    event = run_event()
    mutate(event)
    found = paths(event)
    assert path in found, found
    assert reason in found[path]


def test_every_problem_is_reported_not_only_the_first() -> None:
    event = run_event()
    event.pop("eventTime")
    event["run"]["runId"] = "x"
    event["eventType"] = "DONE"
    assert {"$.eventTime", "$.run.runId", "$.eventType"} <= set(paths(event))


def test_not_an_event() -> None:
    assert "JSON object" in paths([run_event()])["$"]
    assert "none of them" in paths({"eventTime": "2024-01-01T00:00:00Z"})["$"]


def test_a_facet_marked_deleted_needs_only_the_base_fields() -> None:
    event = run_event()
    event["inputs"][0]["facets"]["schema"] = {"_producer": PRODUCER, "_schemaURL": FACET_URL, "_deleted": True,
                                              "fields": "gone"}
    assert validate_event(event) == []


def test_dataset_and_job_events() -> None:
    ds = {"eventTime": "2024-05-01T10:00:00Z", "producer": PRODUCER, "schemaURL": f"{CORE_ID}#/$defs/DatasetEvent",
          "dataset": {"namespace": "s3://bucket", "name": "raw/orders"}}
    assert validate_event(ds) == []
    assert "$.dataset.name" in paths({**ds, "dataset": {"namespace": "s3://bucket"}})
    job = {"eventTime": "2024-05-01T10:00:00Z", "producer": PRODUCER, "schemaURL": f"{CORE_ID}#/$defs/JobEvent",
           "job": {"namespace": "dbt", "name": "model.orders"}, "inputs": [], "outputs": []}
    assert validate_event(job) == []
    assert "$.outputs" in paths({**job, "outputs": "x"})


def test_times_without_an_offset_are_utc() -> None:
    parsed = parse_event(run_event(eventTime="2024-05-01T10:00:00"))
    assert parsed.event_time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    parsed = parse_event(run_event(eventTime="2024-05-01T12:00:00+02:00"))
    assert parsed.event_time == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_fingerprint_ignores_key_order_but_not_content() -> None:
    a = run_event()
    b = json.loads(json.dumps(a, sort_keys=True))
    assert list(a) != list(b) and fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(run_event(eventType="COMPLETE"))


# ---- property-based ------------------------------------------------------------------------

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    def dataset() -> dict[str, Any]:
        fields = draw(st.lists(st.fixed_dictionaries({"name": names}, optional={"type": names}), max_size=4))
        return {"namespace": draw(names), "name": draw(names),
                "facets": {"schema": {"_producer": PRODUCER, "_schemaURL": FACET_URL, "fields": fields}}}

    kind = draw(st.sampled_from(["run", "job", "dataset"]))
    base = {"eventTime": draw(times).isoformat(), "producer": PRODUCER, "schemaURL": CORE_ID}
    if kind == "dataset":
        return {**base, "dataset": dataset()}
    body = {**base, "job": {"namespace": draw(names), "name": draw(names)},
            "inputs": [dataset() for _ in range(draw(st.integers(0, 3)))],
            "outputs": [dataset() for _ in range(draw(st.integers(0, 3)))]}
    if kind == "run":
        body["run"] = {"runId": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))}
        body["eventType"] = draw(st.sampled_from(["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]))
    return body


@given(valid_events())
def test_generated_valid_events_pass_and_parse(event: dict[str, Any]) -> None:
    assert validate_event(event) == []
    parsed = parse_event(event)
    assert parsed.kind == event_kind(event)
    assert parsed.event_time == datetime.fromisoformat(event["eventTime"])


@given(valid_events(), st.sampled_from(["eventTime", "producer", "schemaURL"]))
def test_dropping_a_required_field_is_reported_there(event: dict[str, Any], field: str) -> None:
    broken = copy.deepcopy(event)
    broken.pop(field)
    assert f"$.{field}" in paths(broken)


@given(valid_events(), st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2)))
def test_a_non_string_name_is_reported_there(event: dict[str, Any], value: Any) -> None:
    broken = copy.deepcopy(event)
    owner = broken.get("dataset") or broken["job"]
    owner["name"] = value
    where = "$.dataset.name" if "dataset" in broken else "$.job.name"
    assert "is not of type 'string'" in paths(broken)[where]


@given(valid_events(), names.filter(lambda s: s.strip() != "" and not _is_uuid(s)))
def test_a_run_id_that_is_not_a_uuid_is_reported(event: dict[str, Any], bad: str) -> None:
    if "run" not in event:
        return
    broken = copy.deepcopy(event)
    broken["run"]["runId"] = bad
    assert "uuid" in paths(broken)["$.run.runId"]


def _is_uuid(text: str) -> bool:
    import re

    return re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", text) is not None


def test_a_date_is_not_a_date_time() -> None:
    event = run_event()
    event["run"]["facets"]["nominalTime"] = {"_producer": PRODUCER, "_schemaURL": FACET_URL,
                                             "nominalStartTime": "2024-05-01",
                                             "nominalEndTime": "2024-05-01T10:00:00"}
    assert paths(event) == {"$.run.facets.nominalTime.nominalStartTime": "'2024-05-01' is not a valid date-time"}
    event["eventTime"] = "2024-05-01"
    assert "$.eventTime" in paths(event)


def test_a_uri_that_is_none_is_a_warning_not_a_problem() -> None:
    """JSON Schema does not oblige format validation, and Spark sends ``dataSource.uri: "file"``."""
    event = run_event()
    event["producer"] = "not a uri"
    event["inputs"][0]["facets"]["dataSource"] = {"_producer": PRODUCER, "_schemaURL": FACET_URL,
                                                  "name": "file", "uri": "file"}
    problems, warnings = check_event(event)
    assert problems == [] and validate_event(event) == []
    assert [w.path for w in warnings] == ["$.inputs[0].facets.dataSource.uri", "$.producer"]
    assert "'file' is not a valid uri" in warnings[0].message
    event["inputs"][0]["facets"]["dataSource"]["uri"] = 7  # the type is strict
    assert "$.inputs[0].facets.dataSource.uri" in paths(event)
