"""Compatibility of tabular schemas: the rules, the modes, and properties over generated schemas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.contracts import MODES, check_compatibility
from meshfabric.contracts.tabular import diff


def col(name: str, type_: str = "string", nullable: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "nullable": nullable, **extra}


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [
        ("integer", "bigint", True, False),
        ("tinyint", "integer", True, False),
        ("bigint", "integer", False, True),
        ("float", "double", True, False),
        ("date", "timestamp", True, False),
        ("decimal(10,2)", "decimal(12,2)", True, False),
        ("decimal(10,2)", "decimal(12,3)", False, False),
        ("string", "bigint", False, False),
        ("double", "decimal(12,2)", False, False),
    ],
)
def test_type_promotions_follow_the_table_formats(old: str, new: str, backward: bool, forward: bool) -> None:
    o, n = [col("x", old)], [col("x", new)]
    assert check_compatibility(n, [o], "BACKWARD").compatible is backward
    assert check_compatibility(n, [o], "FORWARD").compatible is forward
    assert check_compatibility(n, [o], "FULL").compatible is (backward and forward)


def test_adding_columns_needs_nullability_or_a_default_to_stay_backward() -> None:
    old = [col("id", "bigint", False)]
    assert check_compatibility([*old, col("note")], [old]).compatible
    assert check_compatibility([*old, col("n", "bigint", False, default=0)], [old]).compatible
    result = check_compatibility([*old, col("region", nullable=False)], [old])
    assert not result.compatible
    assert result.reasons == ["new required column 'region' has no default, so old data cannot fill it"]


def test_dropping_a_column_is_backward_but_a_required_one_breaks_forward() -> None:
    old = [col("id", "bigint", False), col("legacy", "string", False)]
    new = [col("id", "bigint", False)]
    assert check_compatibility(new, [old], "BACKWARD").compatible
    forward = check_compatibility(new, [old], "FORWARD")
    assert not forward.compatible and "required column 'legacy' was removed" in forward.reasons[0]


def test_nullability_changes_break_one_direction_each() -> None:
    nullable, required = [col("a", "bigint", True)], [col("a", "bigint", False)]
    assert not check_compatibility(required, [nullable], "BACKWARD").compatible
    assert check_compatibility(required, [nullable], "FORWARD").compatible
    assert check_compatibility(nullable, [required], "BACKWARD").compatible
    assert not check_compatibility(nullable, [required], "FORWARD").compatible


def test_a_rename_is_compatible_only_with_an_alias() -> None:
    old = [col("id", "bigint", False), col("mail", "string", False)]
    renamed = [col("id", "bigint", False), col("email", "string", False, aliases=["mail"])]
    bare = [col("id", "bigint", False), col("email", "string", False)]
    assert [str(c) for c in diff(old, renamed)] == ["COLUMN_RENAMED #/columns/email"]
    assert check_compatibility(renamed, [old], "FULL").compatible
    result = check_compatibility(bare, [old], "FULL")
    assert {c.type for c in result.changes} == {"REQUIRED_COLUMN_ADDED", "REQUIRED_COLUMN_REMOVED"}
    assert not result.compatible


def test_every_reason_is_reported_not_the_first() -> None:
    old = [col("a", "bigint", True), col("b", "double"), col("c", "string")]
    new = [col("a", "integer", False), col("b", "string"), col("c"), col("d", nullable=False)]
    result = check_compatibility(new, [old], "BACKWARD")
    assert len(result.reasons) == 4
    assert {c.type for c in result.changes if c.breaking} == {
        "TYPE_NARROWED", "NULLABILITY_TIGHTENED", "TYPE_CHANGED", "REQUIRED_COLUMN_ADDED"
    }


def test_transitive_modes_check_every_earlier_version() -> None:
    v1 = [col("id", "bigint", False)]
    v2 = [col("id", "bigint", False), col("note", "string", False, default="")]
    v3 = [col("id", "bigint", False), col("note", "string", False)]  # default dropped
    # against v2 only: the column exists in the old data, so no default is needed
    assert check_compatibility(v3, [v2, v1], "BACKWARD").compatible
    # against v1 too: v1 data has no 'note', and v3 has no default for it
    transitive = check_compatibility(v3, [v2, v1], "BACKWARD_TRANSITIVE")
    assert not transitive.compatible
    assert [c.against for c in transitive.changes if c.breaking] == [1]


def test_none_accepts_everything_but_lists_the_changes() -> None:
    result = check_compatibility([col("x", "bigint")], [[col("x", "string", False)]], "NONE")
    assert result.compatible and {c.type for c in result.changes} == {"TYPE_CHANGED", "NULLABILITY_RELAXED"}


# -- properties ---------------------------------------------------------------------------------

TYPES = ["tinyint", "smallint", "integer", "bigint", "float", "double", "string", "date", "timestamp",
         "decimal(10,2)", "decimal(12,2)", "boolean"]
NAMES = ["a", "b", "c", "d", "e"]


@st.composite
def schemas(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    cols = []
    for name in names:
        extra: dict[str, Any] = {}
        if draw(st.booleans()) and draw(st.booleans()):
            extra["default"] = draw(st.integers(0, 3))
        cols.append(col(name, draw(st.sampled_from(TYPES)), draw(st.booleans()), **extra))
    return cols


@settings(max_examples=300, deadline=None)
@given(schemas(), st.sampled_from(MODES))
def test_a_schema_is_compatible_with_itself_in_every_mode(schema: list[dict[str, Any]], mode: str) -> None:
    result = check_compatibility(schema, [schema], mode)
    assert result.compatible and result.changes == []


@settings(max_examples=300, deadline=None)
@given(schemas(), schemas())
def test_backward_old_to_new_equals_forward_new_to_old(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    assert (check_compatibility(new, [old], "BACKWARD").compatible
            == check_compatibility(old, [new], "FORWARD").compatible)


@settings(max_examples=300, deadline=None)
@given(schemas(), schemas())
def test_full_is_exactly_backward_and_forward(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    full = check_compatibility(new, [old], "FULL").compatible
    backward = check_compatibility(new, [old], "BACKWARD").compatible
    both = backward and check_compatibility(new, [old], "FORWARD").compatible
    assert full is both


@settings(max_examples=200, deadline=None)
@given(schemas(), st.lists(schemas(), min_size=1, max_size=4), st.sampled_from(["BACKWARD", "FORWARD", "FULL"]))
def test_transitive_never_accepts_what_the_plain_mode_refuses(
    new: list[dict[str, Any]], history: list[list[dict[str, Any]]], mode: str
) -> None:
    if not check_compatibility(new, history, mode).compatible:
        assert not check_compatibility(new, history, mode + "_TRANSITIVE").compatible
