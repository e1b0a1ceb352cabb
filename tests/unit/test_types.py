"""The logical type system: parsing what specs write, matching declared against real types, Arrow mapping."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshfabric.types import BASE_TYPES, LogicalType, TypeParseError, from_arrow, known_type_names, parse_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int", "integer"),
        ("INT32", "integer"),
        ("long", "bigint"),
        ("int64", "bigint"),
        ("bool", "boolean"),
        ("real", "float"),
        ("double precision", "double"),
        ("Double   Precision", "double"),
        ("float64", "double"),
        ("text", "string"),
        ("varchar(40)", "string"),
        ("char", "string"),
        ("bytea", "binary"),
        ("datetime", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("jsonb", "json"),
        ("numeric", "decimal"),
        ("NUMERIC(12, 2)", "decimal(12,2)"),
        ("decimal(7)", "decimal(7,0)"),
        ("list<string>", "list<string>"),
        ("array<bigint>", "list<bigint>"),
        ("uuid", "uuid"),
    ],
)
def test_aliases_normalise_to_one_name(text: str, expected: str) -> None:
    assert str(parse_type(text)) == expected


def test_string_length_and_decimal_parameters_are_kept() -> None:
    assert parse_type("varchar(40)").length == 40
    dec = parse_type("decimal(12,3)")
    assert (dec.precision, dec.scale) == (12, 3)
    assert dec.is_numeric and not parse_type("string").is_numeric


@pytest.mark.parametrize("text", ["varchr", "integr", "", "decimal(a,b)", "varchar(x)", "(12)", "money"])
def test_unknown_or_malformed_types_are_refused(text: str) -> None:
    with pytest.raises(TypeParseError):
        parse_type(text)


def test_unknown_type_message_quotes_what_was_written() -> None:
    with pytest.raises(TypeParseError, match="'strin'"):
        parse_type("strin")


def test_known_type_names_cover_every_base_and_alias() -> None:
    names = known_type_names()
    for base, aliases in BASE_TYPES.items():
        assert base in names
        assert set(aliases) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize(
    ("declared", "real", "ok"),
    [
        ("string", "varchar(10)", True),  # length is ignored
        ("varchar(5)", "text", True),
        ("decimal(12,2)", "decimal(12,2)", True),
        ("decimal(12,2)", "decimal(12,3)", False),
        ("decimal(12,2)", "decimal(10,2)", False),
        ("decimal", "decimal(38,9)", True),  # precision only compared when both declare it
        ("decimal(12,2)", "decimal", True),
        ("bigint", "integer", False),
        ("integer", "bigint", False),
        ("timestamp", "timestamptz", False),
        ("double", "float", False),
        ("date", "date", True),
    ],
)
def test_declared_type_matches_real_type(declared: str, real: str, ok: bool) -> None:
    assert parse_type(declared).matches(parse_type(real)) is ok


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.bool_(), "boolean"),
        (pa.int8(), "tinyint"),
        (pa.uint8(), "smallint"),
        (pa.int16(), "smallint"),
        (pa.uint16(), "integer"),
        (pa.int32(), "integer"),
        (pa.uint32(), "bigint"),
        (pa.int64(), "bigint"),
        (pa.uint64(), "decimal(20,0)"),
        (pa.float16(), "float"),
        (pa.float32(), "float"),
        (pa.float64(), "double"),
        (pa.decimal128(12, 2), "decimal(12,2)"),
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.binary(), "binary"),
        (pa.binary(16), "binary"),
        (pa.date32(), "date"),
        (pa.time64("us"), "time"),
        (pa.timestamp("us"), "timestamp"),
        (pa.timestamp("ms", tz="UTC"), "timestamptz"),
        (pa.duration("s"), "interval"),
        (pa.list_(pa.int32()), "list<integer>"),
        (pa.struct([("a", pa.int8())]), "struct"),
        (pa.map_(pa.string(), pa.int64()), "map"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
    ],
)
def test_arrow_types_map_onto_logical_types(arrow_type: pa.DataType, expected: str) -> None:
    assert str(from_arrow(arrow_type)) == expected


def test_arrow_type_without_logical_type_is_an_error() -> None:
    with pytest.raises(TypeParseError, match="null"):
        from_arrow(pa.null())


_simple = st.sampled_from([b for b in BASE_TYPES if b not in ("decimal", "list", "map", "struct")])
_decimal = st.builds(lambda p, s: f"decimal({p},{min(s, p)})", st.integers(1, 38), st.integers(0, 38))
_types = st.one_of(_simple, _decimal, _simple.map(lambda t: f"list<{t}>"))


@given(_types)
def test_printing_a_parsed_type_parses_back_to_the_same_type(text: str) -> None:
    parsed = parse_type(text)
    again = parse_type(str(parsed))
    assert again == parsed
    assert parsed.matches(again) and again.matches(parsed)


@given(st.sampled_from(sorted({a for aliases in BASE_TYPES.values() for a in aliases})), st.booleans())
def test_aliases_are_case_insensitive(alias: str, upper: bool) -> None:
    written = alias.upper() if upper else alias
    assert parse_type(written) == parse_type(alias)
    assert isinstance(parse_type(written), LogicalType)
