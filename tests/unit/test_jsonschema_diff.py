"""JSON Schema evolution with Confluent Schema Registry's rules: its own conformance cases, then properties.

The conformance cases are Confluent's ``diff-*.json`` test resources (shared/conformance, beside the
checkout): each names the exact changes from ``original_schema`` to ``update_schema`` and the BACKWARD
verdict under the STRICT policy (and under LENIENT where it differs).
"""

from __future__ import annotations

import copy
import doctest
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFLUENT_CASES, require_shared
from meshfabric.contracts import jsonschema_diff
from meshfabric.contracts.jsonschema_diff import (
    COMPATIBLE_CHANGES,
    DIFF_TYPES,
    Difference,
    InvalidSchemaError,
    backward_changes,
    diff,
    forward_changes,
    is_compatible,
)

CASE_FILES = (
    "diff-schema-examples.json",
    "diff-schema-examples-2020-12.json",
    "diff-combined-schema-examples.json",
    "diff-combined-schema-examples-2020-12.json",
)


def _read_cases(name: str) -> list[dict[str, Any]]:
    """The files carry trailing commas, which JSON does not allow."""
    path = CONFLUENT_CASES / name
    if not path.exists():
        return []
    return json.loads(re.sub(r",\s*([}\]])", r"\1", path.read_text()))


CASES = [
    pytest.param(case, id=f"{name.removeprefix('diff-').removesuffix('.json')}#{i} {case['description'].strip()}")
    for name in CASE_FILES
    for i, case in enumerate(_read_cases(name))
] or [pytest.param(None, id="confluent-cases-absent")]


def test_every_conformance_file_is_there() -> None:
    require_shared(CONFLUENT_CASES)
    counts = {name: len(_read_cases(name)) for name in CASE_FILES}
    assert all(counts.values()), f"missing Confluent cases under {CONFLUENT_CASES}: {counts}"
    assert len(CASES) == sum(counts.values()) == 263


@pytest.mark.parametrize("case", CASES)
def test_confluent_case(case: dict[str, Any]) -> None:
    require_shared(CONFLUENT_CASES)
    original, update = case["original_schema"], case["update_schema"]
    strict = diff(original, update)
    # Confluent's order: keys of a map in sorted order, keywords in the order its diff visits them
    assert [str(d) for d in strict] == case["changes"]
    assert is_compatible(strict) is case["compatible"]
    lenient = diff(original, update, policy="lenient")
    assert is_compatible(lenient, policy="lenient") is case.get("compatible_lenient", case["compatible"])


# --------------------------------------------------------------------------------------------
# The API around the diff
# --------------------------------------------------------------------------------------------


def test_doc_examples_hold() -> None:
    result = doctest.testmod(jsonschema_diff)
    assert result.attempted >= 8 and result.failed == 0


def test_classification_names_only_known_changes_and_lenient_widens_strict() -> None:
    assert COMPATIBLE_CHANGES["strict"] <= DIFF_TYPES
    assert COMPATIBLE_CHANGES["strict"] < COMPATIBLE_CHANGES["lenient"] <= DIFF_TYPES
    assert "TYPE_CHANGED" not in COMPATIBLE_CHANGES["lenient"]
    assert (
        "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" in COMPATIBLE_CHANGES["lenient"] - COMPATIBLE_CHANGES["strict"]
    )


def test_backward_is_old_to_new_and_forward_the_reverse() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert backward_changes(new, old) == [Difference("REQUIRED_ATTRIBUTE_REMOVED", "#/required/a")]
    assert forward_changes(new, old) == [Difference("REQUIRED_ATTRIBUTE_ADDED", "#/required/a")]
    assert is_compatible(backward_changes(new, old)) and not is_compatible(forward_changes(new, old))


def test_every_reason_is_listed_not_the_first() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 9}, "b": {"type": "integer"}}}
    new = {
        "type": "object",
        "properties": {"a": {"type": "string", "maxLength": 3}, "b": {"type": "string"}},
        "required": ["a"],
    }
    assert [str(d) for d in diff(old, new)] == [
        "REQUIRED_ATTRIBUTE_ADDED #/required/a",
        "MAX_LENGTH_DECREASED #/properties/a/maxLength",
        "TYPE_CHANGED #/properties/b",
    ]


def test_recursive_schemas_terminate_and_changes_inside_them_are_found() -> None:
    def tree(leaf: str) -> dict[str, Any]:
        return {
            "$ref": "#/definitions/node",
            "definitions": {
                "node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": leaf},
                        "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
                        "next": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/node"}]},
                    },
                }
            },
        }

    assert diff(tree("integer"), tree("integer")) == []
    assert [str(d) for d in diff(tree("integer"), tree("number"))] == ["TYPE_EXTENDED #/properties/value"]
    assert diff({"$ref": "#"}, {"$ref": "#"}) == []
    # a union that refers back to itself is met again while matching a plain schema against its branches
    looping = {"$ref": "#/definitions/a", "definitions": {"a": {"anyOf": [{"type": "number"}, {"$ref": "#"}]}}}
    assert isinstance(diff({"type": "string"}, looping), list)
    assert isinstance(diff(looping, {"type": "string"}), list)


def test_property_names_with_slashes_are_escaped_in_paths() -> None:
    found = diff({"properties": {"a/b": {"type": "string"}}}, {"properties": {"a/b": {"type": "number"}}})
    assert [str(d) for d in found] == ["TYPE_CHANGED #/properties/a~1b"]


def test_fractional_multiple_of_is_judged_by_divisibility() -> None:
    assert [d.type for d in diff({"multipleOf": 0.5}, {"multipleOf": 0.25})] == ["MULTIPLE_OF_REDUCED"]
    assert [d.type for d in diff({"multipleOf": 0.5}, {"multipleOf": 1.5})] == ["MULTIPLE_OF_EXPANDED"]


def test_an_unchanged_not_reports_nothing() -> None:
    assert diff({"not": {"type": "string"}}, {"not": {"type": "string"}}) == []


def test_a_reference_to_another_document_is_compared_by_its_text() -> None:
    assert diff({"$ref": "other.json#/a"}, {"$ref": "other.json#/a"}) == []
    assert [d.type for d in diff({"$ref": "other.json#/a"}, {"$ref": "other.json#/b"})] == ["TYPE_CHANGED"]


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "strnig"},
        {"maxLength": "ten"},
        {"minItems": -1},
        {"properties": []},
        {"$ref": "#/definitions/missing"},
        {"oneOf": []},
        {"properties": {"a": 3}},
        ["not", "a", "schema"],
    ],
)
def test_unreadable_schemas_are_refused_with_where(bad: Any) -> None:
    with pytest.raises(InvalidSchemaError):
        diff(bad, {})
    with pytest.raises(InvalidSchemaError):
        diff({}, bad)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        diff({}, {}, policy="loose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="policy"):
        is_compatible([], policy="loose")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Properties over generated schemas
# --------------------------------------------------------------------------------------------

NAMES = st.sampled_from(["id", "name", "amount", "tags", "S_code", "I_count", "note"])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["red", "blue", "green"]))
TEXT = st.sampled_from(["a", "b", "the thing"])


def _string() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "minLength": st.integers(0, 4),
            "maxLength": st.integers(4, 40),
            "pattern": st.sampled_from(["^a", "[0-9]+$", "^[A-Z]{2}$"]),
            "title": TEXT,
            "default": st.sampled_from(["x", "y"]),
        },
    )


def _number() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(["number", "integer"])},
        optional={
            "minimum": st.integers(-100, 0),
            "maximum": st.integers(1, 100),
            "exclusiveMinimum": st.integers(-200, -101),
            "exclusiveMaximum": st.floats(101, 200, allow_nan=False),
            "multipleOf": st.sampled_from([1, 2, 5, 10, 0.5, 0.25]),
            "description": TEXT,
        },
    )


def _enum() -> st.SearchStrategy[dict[str, Any]]:
    values = st.lists(SCALAR, min_size=1, max_size=4, unique_by=lambda v: json.dumps(v))
    return st.one_of(
        st.builds(lambda v: {"enum": v}, values),
        st.builds(
            lambda v: {"type": "string", "enum": v}, st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, unique=True)
        ),
        st.builds(lambda v: {"const": v}, SCALAR),
    )


LEAVES = st.one_of(
    _string(),
    _number(),
    _enum(),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {}, {"type": ["string", "null"]}]),
    st.booleans(),
    st.just({"$ref": "#/definitions/shared"}),
)


def _object(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    def build(properties: dict[str, Any], required: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        schema = {"type": "object", "properties": properties, **extra}
        if required:
            schema["required"] = sorted({r for r in required if r in properties} | {required[0]})
        return schema

    return st.builds(
        build,
        st.dictionaries(NAMES, children, max_size=4),
        st.lists(NAMES, max_size=3),
        st.fixed_dictionaries(
            {},
            optional={
                "additionalProperties": st.one_of(st.booleans(), children),
                "patternProperties": st.dictionaries(st.sampled_from(["^S_", "^I_"]), children, max_size=2),
                "minProperties": st.integers(0, 2),
                "maxProperties": st.integers(3, 9),
                "dependencies": st.dictionaries(
                    NAMES, st.one_of(st.lists(NAMES, max_size=2, unique=True), children), max_size=2
                ),
            },
        ),
    )


def _array(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("array")},
            optional={
                "items": children,
                "minItems": st.integers(0, 2),
                "maxItems": st.integers(3, 9),
                "uniqueItems": st.booleans(),
                "contains": children,
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("array"), "items": st.lists(children, min_size=1, max_size=3)},
            optional={"additionalItems": st.one_of(st.booleans(), children)},
        ),
    )


def _combined(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda k, subs: {k: subs},
            st.sampled_from(["allOf", "anyOf", "oneOf"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        st.builds(lambda sub: {"not": sub}, children),
    )


SUBSCHEMAS = st.recursive(
    LEAVES,
    lambda children: st.one_of(_object(children), _array(children), _combined(children)),
    max_leaves=12,
)


def _as_2020_12(schema: Any) -> Any:
    """The same shapes in 2020-12 spelling: prefixItems/items, dependentRequired/dependentSchemas, $defs."""
    if isinstance(schema, list):
        return [_as_2020_12(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _as_2020_12(v) for k, v in schema.items()}
    if isinstance(schema.get("items"), list):
        out["prefixItems"] = out.pop("items")
        if "additionalItems" in out:
            out["items"] = out.pop("additionalItems")
    else:
        out.pop("additionalItems", None)
    if "dependencies" in out:
        deps = out.pop("dependencies")
        arrays = {k: v for k, v in deps.items() if isinstance(v, list)}
        if arrays:
            out["dependentRequired"] = arrays
        if len(arrays) < len(deps):
            out["dependentSchemas"] = {k: v for k, v in deps.items() if k not in arrays}
    if out.get("$ref") == "#/definitions/shared":
        out["$ref"] = "#/$defs/shared"
    return out


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    """An object schema of the kind products publish, with a shared definition (sometimes recursive)."""
    root = draw(_object(SUBSCHEMAS))
    shared = draw(st.one_of(SUBSCHEMAS, st.just({"type": "object", "properties": {"next": {"$ref": "#"}}})))
    root["definitions"] = {"shared": shared}
    if draw(st.booleans()):
        root = _as_2020_12(root)
        root["$defs"] = root.pop("definitions")
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    else:
        root["$schema"] = "http://json-schema.org/draft-07/schema#"
    return root


POLICIES = st.sampled_from(["strict", "lenient"])
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(schemas(), POLICIES)
def test_a_schema_has_no_differences_from_itself(schema: dict[str, Any], policy: str) -> None:
    assert diff(schema, schema, policy=policy) == []  # type: ignore[arg-type]
    assert diff(schema, copy.deepcopy(schema), policy=policy) == []  # type: ignore[arg-type]
    assert is_compatible(backward_changes(schema, schema)) and is_compatible(forward_changes(schema, schema))


@PROPERTIES
@given(schemas(), schemas(), POLICIES)
def test_backward_old_to_new_equals_forward_new_to_old(old: dict[str, Any], new: dict[str, Any], policy: str) -> None:
    assert backward_changes(new, old, policy) == forward_changes(old, new, policy)  # type: ignore[arg-type]


@PROPERTIES
@given(schemas(), schemas())
def test_any_pair_diffs_into_known_changes_at_pointers(old: dict[str, Any], new: dict[str, Any]) -> None:
    for policy in ("strict", "lenient"):
        found = diff(old, new, policy=policy)  # type: ignore[arg-type]
        assert all(d.type in DIFF_TYPES and d.path.startswith("#/") for d in found)
        assert isinstance(is_compatible(found, policy=policy), bool)  # type: ignore[arg-type]
    if is_compatible(diff(old, new)):
        assert is_compatible(diff(old, new, policy="lenient"), policy="lenient")


@PROPERTIES
@given(SUBSCHEMAS, SUBSCHEMAS)
def test_any_pair_of_subschemas_diffs_without_crashing(old: Any, new: Any) -> None:
    def document(sub: Any) -> dict[str, Any]:
        return {"definitions": {"shared": {"type": "string"}}, "allOf": [sub]}

    found = diff(document(old), document(new))
    assert all(d.type in DIFF_TYPES for d in found)


def test_2019_09_tuples_keep_the_draft_07_spelling() -> None:
    dialect = {"$schema": "https://json-schema.org/draft/2019-09/schema"}
    old = {**dialect, "type": "array", "items": [{"type": "string"}], "additionalItems": False}
    new = {**dialect, "type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": False}
    assert [str(d) for d in diff(old, new)] == ["ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1"]


def test_branches_pair_with_their_unchanged_twins_first() -> None:
    # `{}` could also become the anyOf (as a SUM_TYPE_EXTENDED); the cheapest full pairing is reported
    schema = {"allOf": [{}, {"anyOf": [{"type": "string"}, {}]}]}
    assert diff(schema, schema) == []
    reordered = {"allOf": [{"anyOf": [{"type": "string"}, {}]}, {}]}
    assert diff(schema, reordered) == []
