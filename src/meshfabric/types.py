"""The logical type system every schema in meshfabric is written in.

Specs declare columns with these names; connectors map their native types onto them (see the
mapping tables in ``docs/TYPES.md``). A logical type is a small value object: a base name plus
optional parameters (``decimal(12,2)``, ``varchar(40)``, ``list<string>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Base logical types. Aliases on the right are accepted in specs and normalised.
BASE_TYPES = {
    "boolean": ("bool",),
    "tinyint": ("int8",),
    "smallint": ("int16",),
    "integer": ("int", "int32"),
    "bigint": ("long", "int64"),
    "float": ("real", "float32"),
    "double": ("float64", "double precision"),
    "decimal": ("numeric",),
    "string": ("text", "varchar", "char"),
    "binary": ("bytes", "blob", "bytea", "varbinary"),
    "date": (),
    "time": (),
    "timestamp": ("datetime",),
    "timestamptz": ("timestamp with time zone",),
    "interval": (),
    "uuid": (),
    "json": ("jsonb",),
    "list": ("array",),
    "struct": (),
    "map": (),
}
_ALIASES = {alias: base for base, aliases in BASE_TYPES.items() for alias in aliases}
_ALIASES.update({b: b for b in BASE_TYPES})

_TYPE_RE = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9 _]*?)\s*(?:\((.*)\)|<(.*)>)?\s*$")

INTEGER_TYPES = ("tinyint", "smallint", "integer", "bigint")
NUMERIC_TYPES = (*INTEGER_TYPES, "float", "double", "decimal")


@dataclass(frozen=True)
class LogicalType:
    name: str
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    inner: str | None = None  # element type text for list/map/struct

    def __str__(self) -> str:
        if self.name == "decimal" and self.precision is not None:
            return f"decimal({self.precision},{self.scale or 0})"
        if self.inner:
            return f"{self.name}<{self.inner}>"
        return self.name

    @property
    def is_numeric(self) -> bool:
        return self.name in NUMERIC_TYPES

    def matches(self, other: LogicalType) -> bool:
        """Whether a declared type (self) is satisfied by a real type (other).

        Strings ignore length; decimals compare precision and scale only when both declare them.
        """
        if self.name != other.name:
            return False
        if self.name == "decimal" and None not in (self.precision, other.precision):
            return (self.precision, self.scale or 0) == (other.precision, other.scale or 0)
        return True


def widens(old: LogicalType, new: LogicalType) -> bool:
    """Whether ``new`` strictly widens ``old``: a promotion the table formats (Iceberg, Delta) allow.

    Integers widen (tinyint → smallint → integer → bigint), float → double, date → timestamp,
    decimal precision grows with the same scale (an unbounded decimal holds any decimal).

    >>> widens(parse_type("integer"), parse_type("bigint")), widens(parse_type("bigint"), parse_type("integer"))
    (True, False)
    """
    if old.name in INTEGER_TYPES and new.name in INTEGER_TYPES:
        return INTEGER_TYPES.index(new.name) > INTEGER_TYPES.index(old.name)
    if (old.name, new.name) in {("float", "double"), ("date", "timestamp")}:
        return True
    if old.name == new.name == "decimal":
        if new.precision is None:
            return old.precision is not None
        if old.precision is None:
            return False
        return (old.scale or 0) == (new.scale or 0) and new.precision > old.precision
    return False


class TypeParseError(ValueError):
    pass


def parse_type(text: str) -> LogicalType:
    """Parse a logical type name as written in a spec.

    >>> str(parse_type("NUMERIC(12, 2)"))
    'decimal(12,2)'
    >>> parse_type("varchar(40)").name
    'string'
    """
    m = _TYPE_RE.match(text or "")
    if not m:
        raise TypeParseError(f"'{text}' is not a type")
    raw, params, inner = m.group(1).strip().lower(), m.group(2), m.group(3)
    raw = re.sub(r"\s+", " ", raw)
    base = _ALIASES.get(raw)
    if base is None:
        raise TypeParseError(f"unknown type '{text}'")
    if base == "decimal":
        if params:
            parts = [p.strip() for p in params.split(",")]
            try:
                precision = int(parts[0])
                scale = int(parts[1]) if len(parts) > 1 else 0
            except ValueError:
                raise TypeParseError(f"decimal parameters must be integers in '{text}'") from None
            return LogicalType("decimal", precision=precision, scale=scale)
        return LogicalType("decimal")
    if base == "string" and params:
        try:
            return LogicalType("string", length=int(params))
        except ValueError:
            raise TypeParseError(f"string length must be an integer in '{text}'") from None
    if base in ("list", "map", "struct"):
        return LogicalType(base, inner=(inner or params or "").strip() or None)
    return LogicalType(base)


def known_type_names() -> list[str]:
    return sorted(_ALIASES)


def from_arrow(arrow_type: object) -> LogicalType:
    """Map a pyarrow DataType onto a logical type."""
    import pyarrow as pa
    import pyarrow.types as t

    at: pa.DataType = arrow_type  # type: ignore[assignment]
    if t.is_boolean(at):
        return LogicalType("boolean")
    if t.is_int8(at) or t.is_uint8(at):
        return LogicalType("tinyint") if t.is_int8(at) else LogicalType("smallint")
    if t.is_int16(at):
        return LogicalType("smallint")
    if t.is_uint16(at) or t.is_int32(at):
        return LogicalType("integer")
    if t.is_uint32(at) or t.is_int64(at):
        return LogicalType("bigint")
    if t.is_uint64(at):
        return LogicalType("decimal", precision=20, scale=0)
    if t.is_float16(at) or t.is_float32(at):
        return LogicalType("float")
    if t.is_float64(at):
        return LogicalType("double")
    if t.is_decimal(at):
        return LogicalType("decimal", precision=at.precision, scale=at.scale)  # type: ignore[attr-defined]
    if t.is_string(at) or t.is_large_string(at) or getattr(t, "is_string_view", lambda _: False)(at):
        return LogicalType("string")
    if t.is_binary(at) or t.is_large_binary(at) or t.is_fixed_size_binary(at):
        return LogicalType("binary")
    if t.is_date(at):
        return LogicalType("date")
    if t.is_time(at):
        return LogicalType("time")
    if t.is_timestamp(at):
        return LogicalType("timestamptz" if at.tz else "timestamp")  # type: ignore[attr-defined]
    if t.is_duration(at) or t.is_interval(at):
        return LogicalType("interval")
    if t.is_list(at) or t.is_large_list(at) or t.is_fixed_size_list(at):
        return LogicalType("list", inner=str(from_arrow(at.value_type)))  # type: ignore[attr-defined]
    if t.is_struct(at):
        return LogicalType("struct")
    if t.is_map(at):
        return LogicalType("map")
    if t.is_dictionary(at):
        return from_arrow(at.value_type)  # type: ignore[attr-defined]
    raise TypeParseError(f"no logical type for Arrow type {at}")


def to_arrow(logical: LogicalType) -> Any:
    """The Arrow type that holds a logical type's values (the inverse of :func:`from_arrow`).

    >>> str(to_arrow(parse_type("decimal(12,2)")))
    'decimal128(12, 2)'
    """
    import pyarrow as pa

    if logical.name == "decimal":
        return pa.decimal128(logical.precision or 38, logical.scale or 0)
    if logical.name == "list":
        return pa.list_(to_arrow(parse_type(logical.inner)) if logical.inner else pa.string())
    simple = {
        "boolean": pa.bool_(),
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "binary": pa.binary(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "interval": pa.month_day_nano_interval(),
        "uuid": pa.string(),
        "json": pa.string(),
    }
    # struct and map carry no field list in a logical type: their values travel as JSON text
    return simple.get(logical.name, pa.string())
