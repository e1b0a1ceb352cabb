"""Generate the ODCS contract that binds a data product to one consumer domain.

The contract is built from what the catalog already knows about the product (its columns,
owner, version, lifecycle status), so producers do not hand-write a second description of the
same schema that could drift from the first. The service levels start from meshfabric's defaults
and are *raised* by what the consumer asks for, never lowered: a consumer may demand more than
the platform baseline, but no consumer contract promises less than every other consumer gets.

Units, both in ``requirements`` and in the generated SLA:

- ``availability``, ``completeness``, ``accuracy``: ratios 0..1 (0.999, not 99.9). Higher is
  stricter, so the contract takes the *maximum* of default and requirement.
- ``latency`` (time to answer a query on the output port) and ``freshness`` (maximum age of the
  newest data): milliseconds. *Lower* is stricter, so "raising" latency means taking the
  *minimum* of default and requirement. Freshness has no default; it appears when asked for.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from meshfabric.contracts.odcs import (
    API_VERSION,
    CONSUMER_PROPERTY,
    PRODUCT_PROPERTY,
    VALID_FROM_PROPERTY,
    VALID_UNTIL_PROPERTY,
    Contract,
)
from meshfabric.errors import MeshfabricError
from meshfabric.types import LogicalType, TypeParseError, parse_type

#: The platform baseline every generated contract promises at least.
DEFAULT_SLA: dict[str, float] = {"availability": 0.99, "latency": 1000, "completeness": 0.95, "accuracy": 0.99}
#: Requirements where a higher number is stricter (ratios 0..1).
HIGHER_IS_STRICTER = frozenset({"availability", "completeness", "accuracy"})
#: Requirements where a lower number is stricter (milliseconds).
LOWER_IS_STRICTER = frozenset({"latency", "freshness"})
SLA_ORDER = ("availability", "latency", "completeness", "accuracy", "freshness")

#: uuid5 namespace of contract ids: the same product and consumer always get the same id, so a
#: regenerated contract is a new *version* of the same contract, not a second contract.
CONTRACT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://meshfabric.dev/odcs/contract")

_STATUS = {"draft": "proposed", "published": "active", "deprecated": "deprecated"}

_DESCRIPTIONS = {
    "availability": "Share of time the product's output port answers queries (ratio 0..1).",
    "latency": "Maximum time to answer a query on the product's output port, in milliseconds.",
    "completeness": "Minimum share of expected records and values that are present (ratio 0..1).",
    "accuracy": "Minimum share of values that are correct (ratio 0..1).",
    "freshness": "Maximum age of the newest data when it is read, in milliseconds.",
}

_INTEGER_FORMAT = {"tinyint": "i8", "smallint": "i16", "integer": "i32", "bigint": "i64"}
_NUMBER_FORMAT = {"float": "f32", "double": "f64"}
_LOGICAL = {
    "boolean": "boolean",
    "tinyint": "integer", "smallint": "integer", "integer": "integer", "bigint": "integer",
    "float": "number", "double": "number", "decimal": "number",
    "string": "string", "uuid": "string", "binary": "string", "interval": "string",
    "date": "date", "time": "time", "timestamp": "timestamp", "timestamptz": "timestamp",
    "json": "object", "struct": "object", "map": "object", "list": "array",
}  # fmt: skip


class ProductLike(Protocol):
    """What generation reads from a product; :class:`meshfabric.catalog.ProductInfo` fits."""

    @property
    def fqn(self) -> str: ...

    owner: str
    description: str
    tags: list[str]
    status: str
    version: str
    output: dict[str, Any]
    columns: list[dict[str, Any]]


def contract_id(product_fqn: str, consumer: str) -> str:
    """The deterministic id of the contract between a product and a consumer domain."""
    return str(uuid.uuid5(CONTRACT_NAMESPACE, f"{product_fqn}\x00{consumer}"))


def generate_contract(
    product: ProductLike | Mapping[str, Any],
    consumer: str,
    requirements: Mapping[str, float] | None = None,
    *,
    now: datetime | None = None,
) -> Contract:
    """The ODCS v3.1 contract between ``product`` and the ``consumer`` domain.

    ``product`` is a :class:`~meshfabric.catalog.ProductInfo` or its ``to_dict()``.
    ``requirements`` are the consumer's stated service levels (see the module docstring for
    names and units); each one only ever makes the SLA stricter. Unknown names, non-numbers and
    out-of-range values are refused with every problem listed, because silently ignoring a
    misspelt ``availabilty`` would hand the consumer a weaker contract than they asked for.

    The contract is valid for one year from ``now`` (default: the current time, UTC; a naive
    ``now`` is taken as UTC). Its status follows the product's lifecycle: a draft product gets
    a ``proposed`` contract, a published one an ``active`` contract, a deprecated one a
    ``deprecated`` contract; a retired product cannot be contracted.
    """
    fqn, info = _product_fields(product)
    consumer = (consumer or "").strip()
    if not consumer:
        raise MeshfabricError("a contract needs a consumer domain", hint="pass --consumer DOMAIN")
    status = _STATUS.get(info["status"])
    if status is None:
        if info["status"] == "retired":
            raise MeshfabricError(f"product '{fqn}' is retired: no new contract can bind to it")
        raise MeshfabricError(f"product '{fqn}' has unknown status '{info['status']}'")
    sla = service_levels(requirements)

    start = _utc(now or datetime.now(UTC)).replace(microsecond=0)
    end = _one_year_later(start)
    domain, _, name = fqn.partition(".")
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": contract_id(fqn, consumer),
        "name": f"{fqn} for {consumer}",
        "version": info["version"],
        "status": status,
        "domain": domain,
    }
    description = {"usage": f"Read by the {consumer} domain under the terms of this contract."}
    if info["description"]:
        description = {"purpose": info["description"], **description}
    doc["description"] = description
    if info["tags"]:
        doc["tags"] = list(info["tags"])
    doc["schema"] = [_schema_object(name or fqn, info)]
    if info["owner"]:
        doc["team"] = {"name": domain, "members": [{"username": info["owner"], "role": "owner"}]}
    doc["slaProperties"] = [_sla_entry(key, sla[key]) for key in SLA_ORDER if key in sla]
    doc["customProperties"] = [
        {"property": PRODUCT_PROPERTY, "value": fqn},
        {"property": CONSUMER_PROPERTY, "value": consumer},
        {"property": VALID_FROM_PROPERTY, "value": start.isoformat()},
        {"property": VALID_UNTIL_PROPERTY, "value": end.isoformat()},
    ]
    doc["contractCreatedTs"] = start.isoformat()
    return Contract(doc)


def service_levels(requirements: Mapping[str, float] | None = None) -> dict[str, float]:
    """The defaults, each raised by the requirements: max for ratios, min for milliseconds.

    >>> service_levels({"availability": 0.999, "latency": 5000})["latency"]
    1000
    """
    problems: list[str] = []
    known = HIGHER_IS_STRICTER | LOWER_IS_STRICTER
    for key, value in (requirements or {}).items():
        if key not in known:
            problems.append(f"unknown requirement '{key}' (known: {', '.join(SLA_ORDER)})")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"requirement '{key}' must be a finite number, not {value!r}")
        elif key in HIGHER_IS_STRICTER and not 0 <= value <= 1:
            problems.append(f"requirement '{key}' is a ratio between 0 and 1 (0.999 for 99.9 %), not {value}")
        elif key in LOWER_IS_STRICTER and value <= 0:
            problems.append(f"requirement '{key}' is a duration in milliseconds and must be positive, not {value}")
    if problems:
        raise MeshfabricError("invalid consumer requirements:\n" + "\n".join("  - " + p for p in problems))
    sla: dict[str, float] = dict(DEFAULT_SLA)
    for key, value in (requirements or {}).items():
        if key in HIGHER_IS_STRICTER:
            sla[key] = max(sla[key], value)
        elif key in sla:
            sla[key] = min(sla[key], value)
        else:
            sla[key] = value
    return sla


def column_property(column: Mapping[str, Any], primary_key_position: int | None = None) -> dict[str, Any]:
    """One product column as an ODCS schema property.

    ``physicalType`` carries meshfabric's exact logical type (``decimal(12,2)``, ``bigint``) so
    a reader loses nothing; ``logicalType`` is ODCS's coarser family, refined where ODCS has a
    way to say more (integer and float widths, time zones, uuid/binary string formats).
    """
    prop: dict[str, Any] = {"name": str(column["name"])}
    type_text = str(column.get("type", "") or "")
    try:
        prop.update(_type_fields(parse_type(type_text)))
    except TypeParseError:
        if type_text:
            prop["physicalType"] = type_text
    prop["required"] = not bool(column.get("nullable", True))
    if column.get("primary_key"):
        prop["primaryKey"] = True
        if primary_key_position is not None:
            prop["primaryKeyPosition"] = primary_key_position
    if column.get("description"):
        prop["description"] = str(column["description"])
    classification = column.get("classification") or []
    if isinstance(classification, str):
        classification = [classification]
    if classification:
        # ODCS has a single classification string; several meshfabric labels are comma-joined
        prop["classification"] = ",".join(str(c) for c in classification)
    return prop


def _type_fields(logical: LogicalType) -> dict[str, Any]:
    fields: dict[str, Any] = {"logicalType": _LOGICAL[logical.name], "physicalType": str(logical)}
    options: dict[str, Any] = {}
    if logical.name in _INTEGER_FORMAT:
        options["format"] = _INTEGER_FORMAT[logical.name]
    elif logical.name in _NUMBER_FORMAT:
        options["format"] = _NUMBER_FORMAT[logical.name]
    elif logical.name in ("uuid", "binary"):
        options["format"] = logical.name
    elif logical.name in ("timestamp", "timestamptz"):
        options["timezone"] = logical.name == "timestamptz"
    elif logical.name == "string" and logical.length is not None:
        options["maxLength"] = logical.length
    if options:
        fields["logicalTypeOptions"] = options
    if logical.name == "list" and logical.inner:
        try:
            fields["items"] = _type_fields(parse_type(logical.inner))
        except TypeParseError:
            fields["items"] = {"physicalType": logical.inner}
    return fields


def _schema_object(name: str, info: Mapping[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"name": name, "logicalType": "object"}
    output = info["output"] or {}
    if output.get("table"):
        obj["physicalName"], obj["physicalType"] = str(output["table"]), "table"
    elif output.get("path"):
        obj["physicalName"], obj["physicalType"] = str(output["path"]), "file"
    elif output.get("sql"):
        obj["physicalType"] = "view"
    if info["description"]:
        obj["description"] = info["description"]
    positions: dict[str, int] = {}
    for column in info["columns"]:
        if column.get("primary_key"):
            positions[column["name"]] = len(positions) + 1
    obj["properties"] = [column_property(c, positions.get(c["name"])) for c in info["columns"]]
    return obj


def _sla_entry(key: str, value: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"property": key, "value": _tidy(value)}
    if key in LOWER_IS_STRICTER:
        entry["unit"] = "ms"
    entry["description"] = _DESCRIPTIONS[key]
    return entry


def _tidy(value: float) -> float | int:
    """1000.0 → 1000: integral durations read better, and YAML keeps the number's type."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def _product_fields(product: ProductLike | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    def get(key: str, default: Any = None) -> Any:
        if isinstance(product, Mapping):
            return product.get(key, default)
        return getattr(product, key, default)

    fqn = get("fqn") or (f"{get('domain')}.{get('name')}" if get("domain") and get("name") else None)
    if not fqn:
        raise MeshfabricError("a product needs an fqn (domain.name) to generate a contract")
    columns = [c for c in (get("columns") or []) if isinstance(c, Mapping) and c.get("name")]
    info = {
        "owner": str(get("owner") or ""),
        "description": str(get("description") or ""),
        "tags": [str(t) for t in (get("tags") or [])],
        "status": str(get("status") or "draft"),
        "version": str(get("version") or "1.0.0"),
        "output": dict(get("output") or {}),
        "columns": columns,
    }
    return str(fqn), info


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _one_year_later(at: datetime) -> datetime:
    """Same date and time next year; 29 February becomes 28 February (there is no 29th)."""
    try:
        return at.replace(year=at.year + 1)
    except ValueError:
        return at.replace(year=at.year + 1, day=28)
