"""Apicurio Registry's JSON Schema compatibility cases, run through :func:`check_compatibility`.

The cases (tests/conformance/apicurio-json-schema, Apache-2.0, copied) give an ``original`` and an
``updated`` schema and the verdict: ``backward`` (BACKWARD compatible, FORWARD not), ``both`` or
``none``. Where Apicurio and Confluent disagree this project keeps Confluent's verdict; those cases
are listed in ``CONFLUENT_POLICY`` with the reason, and any other disagreement fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshfabric.contracts.compat import check_compatibility
from meshfabric.contracts.jsonschema_diff import diff, is_compatible

DATA = Path(__file__).resolve().parents[1] / "conformance" / "apicurio-json-schema" / "compatibility-test-data.json"
CASES: list[dict[str, Any]] = json.loads(DATA.read_text())["tests"]
EXPECTED = {"backward": (True, False), "both": (True, True), "none": (False, False)}

_BOUNDS = (
    "Confluent compares each bound keyword on its own: the exclusive bound removed is compatible but the "
    "inclusive one added is not (MINIMUM_ADDED / MAXIMUM_ADDED), so it says neither direction holds; "
    "Apicurio weighs the two bounds against each other"
)
_BOUNDS_DRAFT4 = "draft-04's boolean form is read as the numeric one, then as above: " + _BOUNDS

#: Apicurio's verdict differs from Confluent's, and Confluent's is kept (id → reason).
CONFLUENT_POLICY: dict[str, str] = {
    "Number: exclusiveMinimum 1": _BOUNDS_DRAFT4,
    "Number: exclusiveMinimum 2": _BOUNDS,
    "Number: exclusiveMinimum 3": _BOUNDS,
    "Number: exclusiveMaximum 1": _BOUNDS_DRAFT4,
    "Number: exclusiveMaximum 2": _BOUNDS,
    "Number: exclusiveMaximum 3": _BOUNDS,
}


def _verdict(case: dict[str, Any]) -> tuple[bool, bool]:
    new, old = case["updated"], case["original"]
    return (
        check_compatibility(new, [old], "BACKWARD").compatible,
        check_compatibility(new, [old], "FORWARD").compatible,
    )


def test_the_data_is_all_there() -> None:
    assert len(CASES) == 145
    assert {c["compatibility"] for c in CASES} <= EXPECTED.keys()
    # some ids name several cases (one per verdict); the ones listed below name exactly one
    ids = [c["id"] for c in CASES]
    assert all(ids.count(name) == 1 for name in CONFLUENT_POLICY)


def test_agreement_with_apicurio() -> None:
    agreed = [c["id"] for c in CASES if _verdict(c) == EXPECTED[c["compatibility"]]]
    score = len(agreed) / len(CASES)
    print(f"\nApicurio JSON Schema compatibility: {len(agreed)}/{len(CASES)} agree ({score:.1%})")
    assert score >= 0.90
    assert len(agreed) == len(CASES) - len(CONFLUENT_POLICY)


@pytest.mark.parametrize("case", CASES, ids=[f"#{i} {c['id']} ({c['compatibility']})" for i, c in enumerate(CASES)])
def test_apicurio_case(case: dict[str, Any]) -> None:
    got = _verdict(case)
    wanted = EXPECTED[case["compatibility"]]
    if case["id"] in CONFLUENT_POLICY:
        assert got != wanted, f"now agrees with Apicurio: drop it from CONFLUENT_POLICY ({got})"
    else:
        assert got == wanted, f"(BACKWARD, FORWARD) = {got}, Apicurio says {case['compatibility']} {wanted}"


# --------------------------------------------------------------------------------------------
# One regression test per keyword compared for Apicurio (Confluent's diff ignores them)
# --------------------------------------------------------------------------------------------

D07 = {"$schema": "http://json-schema.org/draft-07/schema#"}
D2020 = {"$schema": "https://json-schema.org/draft/2020-12/schema"}


def _changes(old: Any, new: Any) -> list[str]:
    return [str(d) for d in diff(old, new)]


def _both_ways(old: Any, new: Any) -> tuple[bool, bool]:
    """(BACKWARD, FORWARD) of moving from ``old`` to ``new``."""
    return is_compatible(diff(old, new)), is_compatible(diff(new, old))


@pytest.mark.parametrize(("word", "prefix"), [
    ("format", "FORMAT"), ("contentEncoding", "CONTENT_ENCODING"), ("contentMediaType", "CONTENT_MEDIA_TYPE"),
])
def test_string_annotations_are_compared_in_draft_07(word: str, prefix: str) -> None:
    with_a = {**D07, "type": "string", word: "a"}
    with_b = {**D07, "type": "string", word: "b"}
    plain = {**D07, "type": "string"}
    assert _changes(with_a, plain) == [f"{prefix}_REMOVED #/{word}"]
    assert _changes(plain, with_a) == [f"{prefix}_ADDED #/{word}"]
    assert _changes(with_a, with_b) == [f"{prefix}_CHANGED #/{word}"]
    assert _both_ways(with_a, plain) == (True, False)
    assert _both_ways(with_a, with_b) == (False, False)
    # 2020-12 makes them annotations (and Confluent's reader ignores them there)
    assert _changes({**D2020, "type": "string", word: "a"}, {**D2020, "type": "string"}) == []


def test_property_names() -> None:
    def names(minimum: int) -> dict[str, Any]:
        return {**D07, "type": "object", "propertyNames": {"type": "string", "minLength": minimum}}

    assert _changes(names(10), names(5)) == ["MIN_LENGTH_DECREASED #/propertyNames/minLength"]
    assert _both_ways(names(10), names(5)) == (True, False)
    plain = {**D07, "type": "object"}
    assert _changes(names(10), plain) == ["PROPERTY_NAMES_EXTENDED #/propertyNames"]
    assert _changes(plain, names(10)) == ["PROPERTY_NAMES_NARROWED #/propertyNames"]
    assert _both_ways(names(10), plain) == (True, False)


def test_pattern_properties() -> None:
    both = {**D07, "type": "object", "patternProperties": {"^S_": {"type": "string"}, "^I_": {"type": "number"}}}
    one = {**D07, "type": "object", "patternProperties": {"^S_": {"type": "string"}}}
    assert _changes(both, one) == ["PATTERN_PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/patternProperties/^I_"]
    assert _changes(one, both) == ["PATTERN_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/patternProperties/^I_"]
    assert _both_ways(both, one) == (True, False)
    # LENIENT: writers send only what their schema declares, as for OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
    assert is_compatible(diff(one, both, policy="lenient"), policy="lenient")
    swapped = {**D07, "type": "object", "patternProperties": {"^S_": {"type": "number"}, "^I_": {"type": "string"}}}
    assert _both_ways(both, swapped) == (False, False)
    closed = {**both, "additionalProperties": False}
    assert _changes(closed, {**one, "additionalProperties": False}) == [
        "PATTERN_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/patternProperties/^I_"
    ]
    # a pattern added to a closed model only widens it: Confluent reports nothing, neither does this
    assert _changes({**D07, "additionalProperties": False}, {**D07, "additionalProperties": False, **{
        "patternProperties": {"^S_": {"type": "string"}}}}) == []


def test_if_then_else() -> None:
    base = {
        **D07,
        "type": "object",
        "properties": {"case": {"enum": ["lower", "upper"]}, "data": {"type": "string"}},
        "if": {"properties": {"case": {"enum": ["lower"]}}},
        "then": {"properties": {"data": {"pattern": "[a-z]*"}}},
        "else": {"properties": {"data": {"pattern": "[A-Z]*"}}},
    }
    assert _changes(base, base) == []
    new_if = {**base, "if": {"properties": {"case": {"enum": ["lower", "lowerCase"]}}}}
    # beside `type`, the conditional is one branch of the implied allOf: a branch that changed
    # incompatibly is reported as the branches no longer pairing up
    assert _changes(base, new_if) == ["COMBINED_TYPE_SUBSCHEMAS_CHANGED #/"]
    assert _both_ways(base, new_if) == (False, False)
    alone = {key: base[key] for key in ("if", "then", "else")}
    assert _changes(alone, {**alone, "if": new_if["if"]}) == ["CONDITIONAL_IF_CHANGED #/if"]
    relaxed = {**base, "then": {"properties": {"data": {"type": "string"}}}}
    assert _changes(base, relaxed) == ["PATTERN_REMOVED #/allOf/1/then/properties/data/pattern"]
    assert _both_ways(base, relaxed) == (True, False)
    no_else = {k: v for k, v in base.items() if k != "else"}
    assert _changes(base, no_else) == ["CONDITIONAL_ELSE_EXTENDED #/allOf/1/else"]
    # only a title changed in `if`: the condition is the same
    assert _changes(base, {**base, "if": {**base["if"], "title": "t"}}) == []


def test_required_with_no_properties() -> None:
    def req(*names: str) -> dict[str, Any]:
        return {**D07, "type": "object", "required": list(names)}

    removed = ["REQUIRED_ATTRIBUTE_REMOVED #/required/postal_code"]
    assert _changes(req("postal_code", "street"), req("street")) == removed
    assert _both_ways(req("postal_code", "street"), req("street")) == (True, False)
    assert _both_ways(req("postal_code", "street"), req("street", "city")) == (False, False)
    assert _changes(req("postal_code", "street"), req("street", "postal_code")) == []
    # with properties declared, Confluent ignores a required name no property declares (kept)
    declared = {**D07, "properties": {"foo": {"type": "string"}}, "required": ["foo"]}
    assert _changes(declared, {**declared, "required": ["bar"]}) == ["REQUIRED_ATTRIBUTE_REMOVED #/required/foo"]


def test_ref_to_a_named_id_anchor() -> None:
    def doc(min_length: int, *, anchor: str = "#Address") -> dict[str, Any]:
        return {
            **D07,
            "type": "object",
            "properties": {"home": {"$ref": "#Address"}},
            "definitions": {"Address": {"$id": anchor, "type": "object",
                                        "properties": {"street": {"type": "string", "minLength": min_length}}}},
        }

    assert _changes(doc(10), doc(5)) == ["MIN_LENGTH_DECREASED #/properties/home/properties/street/minLength"]
    inlined = {**D07, "type": "object", "properties": {"home": {
        "type": "object", "properties": {"street": {"type": "string", "minLength": 10}}}}}
    assert _changes(doc(10), inlined) == ["ID_CHANGED #/properties/home"]
    modern = {**D2020, "properties": {"a": {"$ref": "#s"}}, "$defs": {"s": {"$anchor": "s", "type": "string"}}}
    assert _changes(modern, {**D2020, "properties": {"a": {"type": "string"}}}) == []
    # an anchor this document does not define stays an opaque reference
    unknown = {**D07, "properties": {"a": {"$ref": "#Nowhere"}}}
    assert _changes(unknown, {**D07, "properties": {"a": {"$ref": "#Elsewhere"}}}) == ["TYPE_CHANGED #/properties/a"]


def test_draft_04_boolean_exclusive_bounds() -> None:
    d04 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number"}
    n07 = {**D07, "type": "number"}
    assert _changes({**d04, "minimum": 10, "exclusiveMinimum": True}, {**n07, "exclusiveMinimum": 10}) == []
    assert _changes({**d04, "maximum": 10, "exclusiveMaximum": True}, {**n07, "exclusiveMaximum": 10}) == []
    assert _changes({**d04, "minimum": 10, "exclusiveMinimum": False}, {**n07, "minimum": 10}) == []
    above = {**d04, "exclusiveMinimum": True}
    lowered = _changes({**above, "minimum": 10}, {**above, "minimum": 5})
    assert lowered == ["EXCLUSIVE_MINIMUM_DECREASED #/exclusiveMinimum"]


def test_const_and_its_one_value_enum_are_equal() -> None:
    const = {**D07, "const": "3.14"}
    assert _changes(const, {**D07, "enum": ["3.14"]}) == []
    assert _changes({**D07, "enum": ["3.14"]}, const) == []
    assert _changes(const, {**D07, "enum": ["3.14", "2.72"]}) == ["ENUM_ARRAY_EXTENDED #/enum"]
    assert _both_ways(const, {**D07, "enum": ["3.14", "2.72"]}) == (True, False)
    assert _changes(const, {**D07, "enum": ["2.72"]}) == ["ENUM_ARRAY_CHANGED #/enum"]
