"""ODCS v3.1 documents: lossless import → export of the 18 upstream examples, validation that reports
every violation with its path, and the typed accessors the rest of meshfabric reads contracts through."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from conftest import CONFORMANCE
from meshfabric.contracts.odcs import (
    SCHEMA_PATH,
    Contract,
    canonical_sla_name,
    dump_contract,
    iso_duration_ms,
    load_contract,
    parse_yaml,
    validate_odcs,
)
from meshfabric.errors import MeshfabricError, SpecError

ODCS = CONFORMANCE / "odcs"
EXAMPLES = sorted((ODCS / "examples").glob("*.odcs.yaml"))


def _minimal(**extra: object) -> dict:
    doc = {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "c1", "version": "1.0.0", "status": "active"}
    doc.update(extra)
    return doc


def test_all_eighteen_examples_are_present() -> None:
    assert len(EXAMPLES) == 18


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips_losslessly(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    exported = dump_contract(load_contract(text))
    assert parse_yaml(exported) == parse_yaml(text)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_exported_example_validates(path: Path) -> None:
    exported = dump_contract(load_contract(path.read_text(encoding="utf-8")))
    assert validate_odcs(parse_yaml(exported)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_export_reads_back_the_same_with_plain_yaml_and_is_stable(path: Path) -> None:
    """Any YAML 1.1 reader (yaml.safe_load) gets the same data back, and export is idempotent."""
    exported = dump_contract(load_contract(path))
    assert yaml.safe_load(exported) == parse_yaml(path.read_text(encoding="utf-8"))
    assert dump_contract(load_contract(exported)) == exported


def test_date_looking_strings_stay_strings_and_are_quoted_on_export() -> None:
    """PyYAML would read `2022-10-03` as a date, which the JSON Schema's string type refuses."""
    path = ODCS / "examples" / "fundamentals__table-column-description.odcs.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert validate_odcs(raw) != []  # what a naive loader gives: datetime.date values
    contract = load_contract(path)
    assert contract.doc["schema"][0]["properties"][0]["examples"] == ["2022-10-03", "2025-01-28"]
    assert "- '2022-10-03'" in dump_contract(contract)


def test_packaged_schema_is_the_unmodified_upstream_file() -> None:
    assert SCHEMA_PATH.read_bytes() == (ODCS / "schema" / "odcs-json-schema-v3.1.0.json").read_bytes()
    assert (SCHEMA_PATH.parent / "README.md").is_file()


def test_validate_with_an_explicit_schema_path() -> None:
    doc = _minimal(version=1)
    assert validate_odcs(doc, schema_path=ODCS / "schema" / "odcs-json-schema-v3.1.0.json") == validate_odcs(doc)


def test_invalid_document_reports_every_violation_with_its_path() -> None:
    doc = {
        "apiVersion": "v9",
        "kind": "DataContract",
        "version": 1,
        "status": "active",
        "typo": True,
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "id", "logicalType": "text", "required": "yes"},
                    {"logicalType": "string"},
                ],
            }
        ],
        "slaProperties": [{"property": "latency"}],
        "contractCreatedTs": "yesterday",
    }
    problems = validate_odcs(doc)
    paths = [p.split(": ", 1)[0] for p in problems]
    assert all(p.startswith("$") for p in paths)
    expected = {
        "$": ["'id' is a required property", "'typo' was unexpected"],
        "$.apiVersion": ["'v9' is not one of"],
        "$.version": ["1 is not of type 'string'"],
        "$.schema[0].properties[0].logicalType": ["'text' is not one of"],
        "$.schema[0].properties[0].required": ["'yes' is not of type 'boolean'"],
        "$.schema[0].properties[1]": ["'name' is a required property"],
        "$.slaProperties[0]": ["'value' is a required property"],
        "$.contractCreatedTs": ["is not a 'date-time'"],
    }
    for path, fragments in expected.items():
        messages = [p.split(": ", 1)[1] for p in problems if p.split(": ", 1)[0] == path]
        for fragment in fragments:
            assert any(fragment in m for m in messages), (path, fragment, problems)
    assert len(problems) == len(set(problems))
    assert paths == sorted(paths, key=lambda p: [(0, int(s)) if s.isdigit() else (1, s) for s in _parts(p)])


def _parts(path: str) -> list[str]:
    return path.replace("[", ".").replace("]", "").split(".")


def test_a_quality_rule_without_operator_says_which_operators_are_possible() -> None:
    doc = _minimal(schema=[{"name": "t", "quality": [{"metric": "rowCount"}]}])
    (problem,) = validate_odcs(doc)
    assert problem.startswith("$.schema[0].quality[0]: ")
    assert "needs one of: mustBe, mustNotBe, mustBeGreaterThan" in problem
    assert "unexpected" not in problem  # `metric` is allowed; only the operator is missing


def test_a_quality_rule_with_two_operators_is_one_violation() -> None:
    doc = _minimal(schema=[{"name": "t", "quality": [{"metric": "rowCount", "mustBe": 1, "mustBeLessThan": 5}]}])
    (problem,) = validate_odcs(doc)
    assert "more than one alternative" in problem


def test_a_misspelt_property_key_is_reported_alone() -> None:
    doc = _minimal(schema=[{"name": "t", "properties": [{"name": "a", "logicalTyp": "string", "required": True}]}])
    assert validate_odcs(doc) == [
        "$.schema[0].properties[0]: Unevaluated properties are not allowed ('logicalTyp' was unexpected)"
    ]


def test_nested_violation_inside_one_of_names_the_deepest_cause() -> None:
    doc = _minimal(team={"members": [{"username": "ana", "dateIn": "2022-13-01"}]})
    (problem,) = validate_odcs(doc)
    assert problem.startswith("$.team: ")
    assert "members[0].dateIn: '2022-13-01' is not a 'date'" in problem


def test_load_refuses_an_invalid_contract_with_every_problem_and_its_line() -> None:
    text = "apiVersion: v3.1.0\nkind: DataContract\nversion: 1.0.0\nstatus: active\nschema:\n  - logicalType: object\n"
    with pytest.raises(SpecError) as info:
        load_contract(text)
    problems = {(p.field, p.line) for p in info.value.problems}
    assert ("$", 1) in problems  # id missing, reported at the document
    assert ("$.schema[0]", 6) in problems  # name missing, reported at the object's line
    assert all(p.file == "<contract>" for p in info.value.problems)


def test_load_without_validation_keeps_an_invalid_document() -> None:
    contract = load_contract("id: x\nstatus: 3\n", validate=False)
    assert contract.id == "x" and contract.status == "3"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [1, 2\n", "not valid YAML"),
        ("- just\n- a list\n", "is a list"),
        ("", "is empty"),
        ("id: a\nid: b\n", "duplicate key 'id'"),
    ],
)
def test_load_refuses_what_is_not_a_contract(text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        load_contract(text)
    assert fragment in str(info.value)
    assert info.value.problems[0].line is not None


def test_load_from_a_path_or_a_file_name(tmp_path: Path) -> None:
    source = ODCS / "examples" / "schema__table-column.odcs.yaml"
    target = tmp_path / "c.odcs.yaml"
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_contract(target).doc == load_contract(str(target)).doc == parse_yaml(source.read_text())
    with pytest.raises(SpecError) as info:
        bad = tmp_path / "bad.yaml"
        bad.write_text("status: active\n", encoding="utf-8")
        load_contract(bad)
    assert info.value.problems[0].file == str(bad)


def test_meshfabric_custom_properties_are_checked_on_load() -> None:
    doc = _minimal(
        customProperties=[
            {"property": "meshfabric.validFrom", "value": "2025-06-01T00:00:00+00:00"},
            {"property": "meshfabric.validUntil", "value": "2025-01-01T00:00:00+00:00"},
            {"property": "meshfabric.consumerDomain", "value": ""},
            {"property": "other", "value": "anything"},
        ]
    )
    with pytest.raises(SpecError) as info:
        load_contract(dump_contract(doc))
    messages = " | ".join(p.message for p in info.value.problems)
    assert "ends" in messages and "before it starts" in messages
    assert "meshfabric.consumerDomain must be a non-empty string" in messages
    doc["customProperties"][1]["value"] = "next tuesday"
    with pytest.raises(SpecError, match=r"meshfabric\.validUntil must be an ISO 8601 date-time"):
        load_contract(dump_contract(doc))


def test_multiline_text_is_written_as_a_block_and_read_back_exactly() -> None:
    doc = _minimal(description={"purpose": "first line\nsecond line\n", "usage": "trailing spaces  \nx"})
    text = dump_contract(doc)
    assert "purpose: |" in text
    assert load_contract(text).doc == doc


def test_contract_must_wrap_a_mapping() -> None:
    with pytest.raises(MeshfabricError):
        Contract([1, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- accessors


@pytest.fixture(scope="module")
def full() -> Contract:
    return load_contract(ODCS / "examples" / "all__full-example.odcs.yaml")


def test_fundamentals(full: Contract) -> None:
    assert (full.id, full.version, full.status, full.domain) == (
        "53581432-6c55-4ba2-a65f-72344a91553a",
        "1.1.0",
        "active",
        "seller",
    )
    assert full.api_version == "v3.1.0"
    assert full.custom_properties["refRulesetName"] == "gcsc.ruleset.name"
    assert full.product_fqn is None and full.consumer_domain is None and full.valid_until is None


def test_schema_objects_and_properties(full: Contract) -> None:
    assert [o.name for o in full.schema_objects] == ["tbl", "receivers"]
    tbl = full.schema_object("TBL_1")  # by physical name, case-insensitive
    assert tbl is not None and tbl.name == "tbl" and tbl.physical_type == "table"
    rcvr = tbl.property("RCVR_ID")
    assert rcvr is not None
    assert (rcvr.logical_type, rcvr.physical_type, rcvr.primary_key, rcvr.primary_key_position) == (
        "string",
        "varchar(18)",
        True,
        1,
    )
    assert (rcvr.required, rcvr.classification, rcvr.path) == (False, "restricted", "tbl.rcvr_id")
    receivers = full.schema_object("receivers")
    assert receivers is not None
    assert [p.name for p in receivers.properties if p.required] == ["id", "country_code", "receiver_name"]
    assert full.bound_properties() == tuple(p for o in full.schema_objects for p in o.properties)


def test_nested_properties_and_array_items() -> None:
    contract = load_contract(ODCS / "examples" / "schema__all-schema-types.odcs.yaml")
    another = contract.schema_object("AnotherObject")
    assert another is not None
    x = another.properties[0]
    assert x.items is not None and x.items.path == "AnotherObject.x[]"
    assert [p.path for p in x.items.properties] == ["AnotherObject.x[].id", "AnotherObject.x[].zip"]


def test_sla_properties(full: Contract) -> None:
    latency = full.sla("LY")
    assert latency is not None and latency.name == "latency" and latency.direction == "max"
    assert latency.normalized() == (4 * 86_400_000, None)
    retention = full.sla("retention")
    assert retention is not None and retention.direction == "min"
    assert retention.normalized() == (3 * 365 * 86_400_000, None)
    availability = [s for s in full.sla_properties if s.name == "timeOfAvailability"]
    assert [s.driver for s in availability] == ["regulatory", "analytics"]
    assert availability[0].direction is None


def test_quality_rules_are_found_at_every_level(full: Contract) -> None:
    rules = full.quality_rules
    assert [(r.key, r.path, r.operators) for r in rules] == [
        ("tbl.rowCount", "$.schema[0].quality[0]", {"mustBeGreaterThan": 1000000}),
        ("tbl.rcvr_cntry_code.nullValues", "$.schema[0].properties[2].quality[0]", {"mustBe": 0}),
    ]
    assert rules[1].element == "tbl.rcvr_cntry_code" and rules[1].dimension == "completeness"


def test_quality_rule_keys_prefer_id_then_metric_then_name() -> None:
    doc = _minimal(
        schema=[
            {
                "name": "t",
                "quality": [
                    {"id": "rows_ok", "metric": "rowCount", "mustBeGreaterThan": 0},
                    {"type": "sql", "name": "late", "query": "select 1", "mustBe": 0},
                    {"type": "sql", "query": "select 2", "mustBe": 0},
                    {"rule": "duplicateValues", "mustBe": 0},
                ],
            }
        ]
    )
    rules = Contract(doc).quality_rules
    assert [r.key for r in rules] == ["rows_ok", "t.late", "t.quality[2]", "t.duplicateValues"]
    assert rules[0].lookup_keys == ("rows_ok", "t.rowCount")


def test_validity_period_is_half_open() -> None:
    contract = Contract(
        _minimal(
            customProperties=[
                {"property": "meshfabric.validFrom", "value": "2025-01-01T00:00:00+00:00"},
                {"property": "meshfabric.validUntil", "value": "2026-01-01T00:00:00Z"},
            ]
        )
    )
    assert contract.valid_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert contract.in_force(datetime(2025, 1, 1))  # naive = UTC, start included
    assert not contract.in_force(datetime(2026, 1, 1, tzinfo=UTC))  # end excluded
    assert not contract.in_force(datetime(2024, 12, 31, 23, 59, tzinfo=UTC))
    retired = copy.deepcopy(contract.doc)
    retired["status"] = "retired"
    assert not Contract(retired).in_force(datetime(2025, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1000, "ms", 1000.0),
        (2, "s", 2000.0),
        (5, "m", 300_000.0),  # minutes, as in SodaCL
        (1, "mo", 2_592_000_000.0),
        (1, "Days", 86_400_000.0),
        ("PT1H30M", None, 5_400_000.0),
        ("P1D", None, 86_400_000.0),
        (1, None, None),
        (1, "fortnight", None),
        ("soon", None, None),
        (True, "ms", None),
    ],
)
def test_duration_sla_is_normalised_to_milliseconds(value: object, unit: str | None, expected: float | None) -> None:
    sla = Contract(_minimal(slaProperties=[{"property": "latency", "value": value, "unit": unit}])).sla_properties[0]
    result, why = sla.normalized()
    assert result == expected
    assert (why is None) == (expected is not None)


def test_ratio_sla_in_percent_is_normalised_to_a_ratio() -> None:
    contract = Contract(_minimal(slaProperties=[{"property": "av", "value": 99.9, "unit": "percent"}]))
    assert contract.sla("availability").normalized() == (pytest.approx(0.999), None)  # type: ignore[union-attr]


def test_sla_names_and_durations_helpers() -> None:
    assert canonical_sla_name("TR") == "timeToRepair"
    assert canonical_sla_name("ErrorRate") == "errorRate"
    assert canonical_sla_name("myOwn") == "myOwn"
    assert iso_duration_ms("P") is None and iso_duration_ms("PT") is None and iso_duration_ms("P1DT") is None
    assert iso_duration_ms("pt0.5s") == 500.0
