"""Which consumer contracts a change of a product's columns breaks, and how types relate for a
consumer.

Types follow the table formats' promotions (Iceberg, Delta, and meshfabric's registry):
integers widen tinyint → smallint → integer → bigint, float → double, decimals widen their
precision at the same scale, date → timestamp. For a consumer, a column that now holds a
*narrower* type still fits what they read (info); a *wider* one may hold values their code or
storage does not expect (warning); anything else is a different type (error).

>>> from meshfabric.types import parse_type
>>> [type_relation(parse_type("integer"), parse_type(t)) for t in ("integer", "smallint", "bigint", "date")]
['same', 'narrower', 'wider', 'incompatible']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from meshfabric.contracts.odcs import Contract, SchemaProperty
from meshfabric.types import LogicalType, TypeParseError, parse_type, widens

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
_ODCS_INTEGER_FORMATS = {"i8": "tinyint", "i16": "smallint", "i32": "integer", "i64": "bigint"}
_ODCS_NUMBER_FORMATS = {"f32": "float", "f64": "double"}


@dataclass(frozen=True)
class ContractBreak:
    """One consumer contract a product schema change affects, and why."""

    contract_id: str
    consumer: str | None
    product: str | None
    column: str | None
    change: str
    severity: Severity
    reason: str

    @property
    def breaking(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "consumer": self.consumer,
            "product": self.product,
            "column": self.column,
            "change": self.change,
            "severity": self.severity,
            "breaking": self.breaking,
            "reason": self.reason,
        }


# --------------------------------------------------------------------------------------------
# types


def fits(inner: LogicalType, outer: LogicalType) -> bool:
    """Whether every value of ``inner`` is a value of ``outer`` (equal, or a promotion)."""
    return same_type(inner, outer) or widens(inner, outer)


def same_type(a: LogicalType, b: LogicalType) -> bool:
    """Equal types; string lengths are ignored, as everywhere in meshfabric."""
    if a.name != b.name:
        return False
    if a.name == "decimal":
        return (a.precision, a.scale or 0) == (b.precision, b.scale or 0)
    return (a.inner or None) == (b.inner or None)


def type_relation(promised: LogicalType, actual: LogicalType) -> Literal["same", "narrower", "wider", "incompatible"]:
    """How ``actual`` relates to the type a consumer was ``promised``."""
    if same_type(promised, actual):
        return "same"
    if fits(actual, promised):
        return "narrower"
    if fits(promised, actual):
        return "wider"
    return "incompatible"


def property_type(prop: SchemaProperty) -> LogicalType | None:
    """The meshfabric type a contract property promises, when it can be told.

    ``physicalType`` first (meshfabric writes its exact type there, and SQL types such as
    ``varchar(18)`` or ``int`` parse too), then ODCS's ``logicalType`` refined by its ``format``.
    """
    if prop.physical_type:
        try:
            return parse_type(prop.physical_type)
        except TypeParseError:
            pass
    fmt = str(prop.logical_type_options.get("format", ""))
    if prop.logical_type == "integer":
        return LogicalType(_ODCS_INTEGER_FORMATS.get(fmt, "bigint"))
    if prop.logical_type == "number" and fmt in _ODCS_NUMBER_FORMATS:
        return LogicalType(_ODCS_NUMBER_FORMATS[fmt])
    if prop.logical_type in ("boolean", "date", "time"):
        return LogicalType(prop.logical_type)
    return None


def _column_type(column: Mapping[str, Any]) -> LogicalType | None:
    try:
        return parse_type(str(column.get("type", "")))
    except TypeParseError:
        return None


def classification_labels(classification: str | None) -> frozenset[str]:
    """The labels of a contract property's comma-separated ``classification``, lower-cased."""
    return frozenset(c.strip().lower() for c in (classification or "").split(",") if c.strip())


# --------------------------------------------------------------------------------------------
# breaking_for_consumers


def breaking_for_consumers(
    old_columns: Sequence[Mapping[str, Any]],
    new_columns: Sequence[Mapping[str, Any]],
    contracts: Iterable[Contract],
    *,
    product: str | None = None,
) -> list[ContractBreak]:
    """Which consumer contracts a change of a product's columns affects, and why.

    Only the columns a contract relies on (its bound schema object's properties, see
    :meth:`~meshfabric.contracts.odcs.Contract.bound_properties`) are checked:

    - removed (or renamed — a declared alias does not help a consumer that reads the old name):
      error;
    - type changed: against the type the contract promises, narrower is info, wider a warning,
      another type an error;
    - nullable where the contract says ``required``: an error when this change made it so, a
      warning when the column was nullable already (the contract was not kept before either);
    - no longer a primary key the contract lists: warning;
    - gained a classification (``pii``…): warning, since the consumer's access may change;
      lost one: info.

    ``product`` limits the check to contracts bound to that product fqn. Retired contracts bind
    no one and are skipped. Results are ordered by contract, then severity.
    """
    old_by = {str(c["name"]).lower(): c for c in old_columns}
    new_by = {str(c["name"]).lower(): c for c in new_columns}
    aliases = {str(a).lower(): c for c in new_columns for a in (c.get("aliases") or [])}
    out: list[ContractBreak] = []
    for contract in contracts:
        if product is not None and contract.product_fqn != product:
            continue
        if contract.status.lower() == "retired":
            continue
        found: list[ContractBreak] = []
        for prop in contract.bound_properties():
            found += _column_breaks(
                contract,
                prop,
                old_by.get(prop.name.lower()),
                new_by.get(prop.name.lower()),
                aliases.get(prop.name.lower()),
            )
        out += sorted(found, key=lambda b: SEVERITY_ORDER[b.severity])
    return out


def _column_breaks(
    contract: Contract,
    prop: SchemaProperty,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    renamed_to: Mapping[str, Any] | None,
) -> list[ContractBreak]:
    def brk(change: str, severity: Severity, reason: str) -> ContractBreak:
        return ContractBreak(
            contract.id, contract.consumer_domain, contract.product_fqn, prop.name, change, severity, reason
        )

    if new is None:
        if renamed_to is not None:
            return [
                brk(
                    "COLUMN_RENAMED",
                    "error",
                    f"column '{prop.name}' the contract relies on was renamed to '{renamed_to['name']}'",
                )
            ]
        return [brk("COLUMN_REMOVED", "error", f"column '{prop.name}' the contract relies on was removed")]
    out: list[ContractBreak] = []
    old_type, new_type = (_column_type(old) if old else None), _column_type(new)
    if new_type is not None and (old_type is None or not same_type(old_type, new_type)):
        promised = property_type(prop) or old_type
        if promised is not None:
            relation = type_relation(promised, new_type)
            if relation == "narrower":
                out.append(
                    brk(
                        "TYPE_NARROWED",
                        "info",
                        f"column '{prop.name}' is now {new_type}; its values still fit the promised {promised}",
                    )
                )
            elif relation == "wider":
                out.append(
                    brk(
                        "TYPE_WIDENED",
                        "warning",
                        f"column '{prop.name}' is now {new_type}, wider than the promised {promised}: "
                        "values may not fit the consumer's type",
                    )
                )
            elif relation == "incompatible":
                out.append(
                    brk(
                        "TYPE_CHANGED",
                        "error",
                        f"column '{prop.name}' is now {new_type}, the contract promises {promised}",
                    )
                )
    nullable_now = bool(new.get("nullable", True))
    if prop.required and nullable_now:
        if old is not None and not old.get("nullable", True):
            out.append(brk("NULLABLE", "error", f"column '{prop.name}' became nullable; the contract requires it"))
        else:
            out.append(
                brk(
                    "NULLABLE",
                    "warning",
                    f"column '{prop.name}' is nullable but the contract requires it (it was already nullable)",
                )
            )
    if prop.primary_key and not new.get("primary_key") and (old is None or old.get("primary_key")):
        out.append(
            brk(
                "PRIMARY_KEY_REMOVED",
                "warning",
                f"column '{prop.name}' is no longer part of the primary key the contract lists",
            )
        )
    promised_labels = classification_labels(prop.classification)
    labels = _column_labels(new)
    baseline = _column_labels(old) if old is not None else promised_labels
    gained, lost = (labels - baseline) - promised_labels, (baseline - labels) & promised_labels
    if gained:
        out.append(
            brk(
                "CLASSIFICATION_ADDED",
                "warning",
                f"column '{prop.name}' is now classified {', '.join(sorted(gained))}; the consumer's access may change",
            )
        )
    if lost:
        out.append(
            brk(
                "CLASSIFICATION_REMOVED",
                "info",
                f"column '{prop.name}' is no longer classified {', '.join(sorted(lost))}",
            )
        )
    return out


def _column_labels(column: Mapping[str, Any]) -> frozenset[str]:
    labels = column.get("classification") or []
    if isinstance(labels, str):
        labels = [labels]
    return frozenset(str(c).strip().lower() for c in labels if str(c).strip())
