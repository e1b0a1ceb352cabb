"""Policy resolution (most specific wins), SQL in policies, masks and attribute binding."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from meshfabric.access.model import Principal
from meshfabric.access.policy import effective, mask_expression, secured_view
from meshfabric.spec.access_models import AccessPolicy, AccessSpec, PolicyRule
from meshfabric.spec.policy_sql import bind, parse_policy_sql

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "bigint"},
    {"name": "email", "type": "string", "classification": ["pii"]},
    {"name": "region", "type": "string"},
    {"name": "born", "type": "date"},
]
ALICE = Principal("alice", groups=("eu",), roles=("analyst",), attributes={"region": "EU"})


def rule(**kw: Any) -> PolicyRule:
    return PolicyRule.model_validate(kw)


def resolve(*rules: PolicyRule, who: Principal = ALICE, product: str = "sales.orders") -> Any:
    return effective(who, product, COLUMNS, [(f"p{i}", r) for i, r in enumerate(rules)])


# -- precedence --------------------------------------------------------------------------------
def test_user_beats_group_beats_role_beats_everyone() -> None:
    rules = [rule(to="everyone", product="sales.orders", columns={"email": "null"}),
             rule(to={"role": "analyst"}, product="sales.orders", columns={"email": "redact"}),
             rule(to={"group": "eu"}, product="sales.orders", columns={"email": "hash"}),
             rule(to={"user": "alice"}, product="sales.orders", columns={"email": {"show_first_n": 2}})]
    for n, expected in ((4, "show_first_n:2"), (3, "hash"), (2, "redact"), (1, "null")):
        assert resolve(*rules[:n]).masks["email"].mask == expected


def test_product_beats_domain_beats_tag_beats_default() -> None:
    rules = [rule(to={"role": "analyst"}, columns={"email": "null"}),
             rule(to={"role": "analyst"}, tag="pii", mask="redact"),
             rule(to={"role": "analyst"}, domain="sales", columns={"email": "hash"}),
             rule(to={"role": "analyst"}, product="sales.orders", columns={"email": "clear"})]
    for n, expected in ((4, "clear"), (3, "hash"), (2, "redact"), (1, "null")):
        assert resolve(*rules[:n]).masks["email"].mask == expected


def test_subject_is_compared_before_scope() -> None:
    found = resolve(rule(to={"role": "analyst"}, product="sales.orders", columns={"email": "null"}),
                    rule(to={"user": "alice"}, columns={"email": "clear"}))
    assert found.masks["email"].mask == "clear"


def test_ties_take_the_most_restrictive_mask() -> None:
    two_roles = Principal("bob", roles=("a", "b"))
    found = resolve(rule(to={"role": "a"}, product="sales.orders", columns={"email": {"show_last_n": 3}}),
                    rule(to={"role": "b"}, product="sales.orders", columns={"email": "redact"}), who=two_roles)
    assert found.masks["email"].mask == "redact"


def test_rules_for_others_or_other_products_do_not_apply() -> None:
    found = resolve(rule(to={"user": "bob"}, product="sales.orders", columns={"email": "null"}),
                    rule(to={"role": "analyst"}, product="crm.customers", columns={"email": "null"}),
                    rule(to={"role": "analyst"}, domain="crm", columns={"region": "null"}),
                    rule(to={"role": "analyst"}, tag="secret", mask="null"))
    assert found.masks == {} and found.row_filter is None


def test_row_filters_of_one_level_are_ored_and_a_more_specific_one_replaces_them() -> None:
    two = Principal("bob", roles=("eu", "us"), attributes={"region": "EU"})
    found = resolve(rule(to={"role": "eu"}, product="sales.orders", row_filter="region = 'EU'"),
                    rule(to={"role": "us"}, product="sales.orders", row_filter="region = 'US'"), who=two)
    assert found.row_filter.sql(dialect="duckdb") == "(region = 'EU') OR (region = 'US')"
    lifted = resolve(rule(to={"role": "analyst"}, product="sales.orders", row_filter="region = {user.region}"),
                     rule(to={"user": "alice"}, domain="sales", row_filter="true"))
    assert lifted.row_filter.sql(dialect="duckdb") == "TRUE"


def test_admins_are_exempt() -> None:
    admin = Principal("root", roles=("analyst",), is_admin=True)
    found = resolve(rule(to="everyone", product="sales.orders", columns={"email": "null"}, row_filter="false"),
                    who=admin)
    assert found.exempt and secured_view(found, COLUMNS, lambda: "s") is None


def test_a_filter_naming_a_missing_column_refuses_the_query() -> None:
    from meshfabric.errors import QueryError

    with pytest.raises(QueryError, match="names 'country'"):
        resolve(rule(to={"role": "analyst"}, domain="sales", row_filter="country = 'PT'"))


def test_secured_view_only_asks_for_the_salt_when_hashing() -> None:
    calls: list[int] = []

    def salt() -> str:
        calls.append(1)
        return "s"

    view = secured_view(resolve(rule(to="everyone", tag="pii", mask="redact")), COLUMNS, salt)
    assert view is not None and view.salt is None and not calls
    view = secured_view(resolve(rule(to="everyone", tag="pii", mask="hash")), COLUMNS, salt)
    assert view is not None and view.salt == "s" and calls == [1]


# -- masks in DuckDB --------------------------------------------------------------------------
@pytest.mark.parametrize("mask,column,kind,value,expected", [
    ("redact", "email", "string", "a@b.c", "***"),
    ("redact", "id", "bigint", 7, None),
    ("null", "email", "string", "a@b.c", None),
    ("show_first_n:2", "email", "string", "secret", "se***"),
    ("show_last_n:4", "email", "string", "4111222233334444", "***4444"),
    ("date_year", "born", "date", "1984-06-30", "1984-01-01"),
    ("sql:upper(left(email, 1))", "email", "string", "zed", "Z"),
])
def test_masks_evaluate_in_duckdb(mask: str, column: str, kind: str, value: object, expected: object) -> None:
    expr = mask_expression(mask, column, kind).sql(dialect="duckdb")
    duck = {"string": "VARCHAR", "bigint": "BIGINT", "date": "DATE"}[kind]
    got = duckdb.sql(f'SELECT {expr} AS v FROM (SELECT CAST(? AS {duck}) AS "{column}")', params=[value]).fetchone()
    assert (str(got[0]) if got[0] is not None else None) == expected


def test_hash_mask_is_salted_sha256() -> None:
    import hashlib

    expr = mask_expression("hash", "email", "string").sql(dialect="duckdb")
    got = duckdb.sql(f"SELECT {expr} FROM (SELECT 'pep' AS __mf_salt, 'a@b.c' AS email)").fetchone()
    assert got == (hashlib.sha256(b"pepa@b.c").hexdigest(),)


# -- attribute binding -------------------------------------------------------------------------
@given(st.text(max_size=40))
def test_attribute_values_are_literals_whatever_they_contain(value: str) -> None:
    if "\x00" in value:  # becomes NULL: the filter matches nothing
        assert "NULL" in bind(parse_policy_sql("v = {user.r}"), "u", {"r": value}).sql(dialect="duckdb")
        return
    expr = bind(parse_policy_sql("v = {user.r}"), "u", {"r": value}).sql(dialect="duckdb")
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*) FROM (SELECT CAST(? AS VARCHAR) AS v UNION ALL SELECT 'other-x') t "
                       f"WHERE {expr}", [value]).fetchone()
    assert rows == (1 if value != "other-x" else 2,)


@given(st.one_of(st.integers(-10**12, 10**12), st.booleans(), st.none()))
def test_non_string_attributes(value: object) -> None:
    expr = bind(parse_policy_sql("{user.level}"), "u", {} if value is None else {"level": value})
    got = duckdb.sql(f"SELECT {expr.sql(dialect='duckdb')}").fetchone()
    assert got == (value,)


def test_user_name_placeholder() -> None:
    assert bind(parse_policy_sql("owner = {user.name}"), "o'neil", {}).sql(dialect="duckdb") == "owner = 'o''neil'"


# -- SQL in policies is checked ----------------------------------------------------------------
@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("region IN (SELECT region FROM x.y)", "subqueries"),
    ("count(*) > 1", "subqueries, aggregates"),
    ("read_csv('x') IS NULL", "read_csv"),
    ("o.region = 'EU'", "unqualified"),
    ("region = 'EU' AS r", "alias"),
    ("__mf_salt = 'x'", "reserved"),
    ("region = ", "not valid SQL"),
    ("getenv('HOME') = 'x'", "getenv"),
])
def test_policy_sql_refusals(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_policy_sql(text)


def test_rule_shapes() -> None:
    with pytest.raises(ValidationError, match="one scope"):
        rule(to="everyone", product="a.b", domain="a", columns={"x": "null"})
    with pytest.raises(ValidationError, match="needs 'mask'"):
        rule(to="everyone", tag="pii")
    with pytest.raises(ValidationError, match="may reference only 'email'"):
        rule(to="everyone", product="a.b", columns={"email": {"sql": "left(name, 1)"}})
    with pytest.raises(ValidationError, match="exactly one of 'user'"):
        rule(to={"user": "a", "role": "b"}, product="a.b", columns={"x": "null"})
    with pytest.raises(ValidationError, match="needs 'columns'"):
        rule(to="everyone", product="a.b")
    with pytest.raises(ValidationError):
        rule(to="everyone", product="a.b", columns={"x": "scramble"})
    with pytest.raises(ValidationError, match=r"domain\.product"):
        rule(to="everyone", product="ab", columns={"x": "null"})


def test_access_spec_refuses_a_literal_salt() -> None:
    with pytest.raises(ValidationError, match="ENV_VAR"):
        AccessSpec.model_validate({"hash_salt": "literal"})
    assert AccessSpec.model_validate({"hash_salt": "${SALT}"}).hash_salt == "${SALT}"


def test_policy_document_round_trips() -> None:
    doc = {"kind": "AccessPolicy", "name": "p", "rules": [
        {"to": {"role": "a"}, "product": "s.o", "columns": {"e": "hash", "c": {"show_last_n": 4}},
         "row_filter": "region = {user.region}"}]}
    assert AccessPolicy.model_validate(doc).to_doc() == {**doc, "description": ""}
