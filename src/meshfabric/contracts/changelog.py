"""What changed between two versions of a contract, each change judged for the consumer.

Everything is judged from the **consumer's** side, because a contract exists to protect the
consumer: a promise removed or weakened is an ``error`` (breaking), a change the consumer should
look at is a ``warning``, and anything that only adds or tightens promises is ``info``. Types
are compared as :mod:`.breaking` relates them (narrower info, wider warning, another type error).

Which consumer contracts a change of a *product's* columns breaks is :mod:`.breaking`'s
:func:`breaking_for_consumers`, re-exported here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshfabric.contracts.breaking import (
    SEVERITY_ORDER,
    ContractBreak,
    Severity,
    breaking_for_consumers,
    classification_labels,
    fits,
    property_type,
    type_relation,
)
from meshfabric.contracts.compliance import Interval, allowed_values
from meshfabric.contracts.odcs import (
    CONSUMER_PROPERTY,
    MESHFABRIC_PREFIX,
    PRODUCT_PROPERTY,
    VALID_FROM_PROPERTY,
    VALID_UNTIL_PROPERTY,
    Contract,
    QualityRule,
    SchemaObject,
    SchemaProperty,
    SlaProperty,
)
from meshfabric.types import LogicalType

#: top-level fields compared field by field below; every other field is compared as a whole
_HANDLED = frozenset(
    {"id", "version", "status", "domain", "schema", "slaProperties", "customProperties", "contractCreatedTs"}
)


@dataclass(frozen=True)
class ContractChange:
    """One difference between two versions of a contract.

    ``path`` is dotted and readable (``schema.orders.amount.required``, ``slaProperties.latency``,
    ``quality.orders.id.nullValues``); ``change`` is an upper-case kind (``PROPERTY_REMOVED``).
    """

    path: str
    change: str
    severity: Severity
    message: str
    old: Any = None
    new: Any = None

    @property
    def breaking(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.change,
            "severity": self.severity,
            "breaking": self.breaking,
            "message": self.message,
            "old": self.old,
            "new": self.new,
        }


def _type_change(path: str, old: SchemaProperty, new: SchemaProperty) -> ContractChange | None:
    before, after = property_type(old), property_type(new)
    old_text = old.physical_type or old.logical_type
    new_text = new.physical_type or new.logical_type
    if before is not None and after is not None:
        relation = type_relation(before, after)
        if relation == "same":
            return None
        return _typed_change(path, relation, before, after)
    if old.logical_type != new.logical_type:
        return ContractChange(
            path, "TYPE_CHANGED", "error", f"{path}: type changed from {old_text} to {new_text}", old_text, new_text
        )
    if old.physical_type != new.physical_type:
        return ContractChange(
            path,
            "PHYSICAL_TYPE_CHANGED",
            "warning",
            f"{path}: physical type changed from {old.physical_type} to {new.physical_type} "
            f"(same logical type {new.logical_type})",
            old.physical_type,
            new.physical_type,
        )
    return None


def _typed_change(path: str, relation: str, before: LogicalType, after: LogicalType) -> ContractChange:
    if relation == "narrower":
        return ContractChange(
            path,
            "TYPE_NARROWED",
            "info",
            f"{path}: type narrowed from {before} to {after}; its values still fit {before}",
            str(before),
            str(after),
        )
    if relation == "wider":
        return ContractChange(
            path,
            "TYPE_WIDENED",
            "warning",
            f"{path}: type widened from {before} to {after}; values may no longer fit {before}",
            str(before),
            str(after),
        )
    return ContractChange(
        path, "TYPE_CHANGED", "error", f"{path}: type changed from {before} to {after}", str(before), str(after)
    )


# --------------------------------------------------------------------------------------------
# contract_changes


def contract_changes(old: Contract, new: Contract) -> list[ContractChange]:
    """Every difference from ``old`` to ``new``, each with its severity for the consumer.

    Covers identity (id, product, consumer, producer domain), version and status, validity
    period, schema (objects, properties at any depth: type, required, primary key, unique,
    classification, description), SLA properties (weakened, strengthened, removed, added —
    compared in measuring units, so ``1 d`` and ``86400000 ms`` are equal) and quality rules
    (thresholds compared by the set of values they accept), then every other field as a whole.
    A contract whose content changed without a new version gets a warning: consumers pin
    versions, and two different documents under one version cannot both be what was agreed.
    """
    changes: list[ContractChange] = []
    changes += _identity(old, new)
    changes += _validity(old, new)
    changes += _schema(old.schema_objects, new.schema_objects)
    changes += _sla(old.sla_properties, new.sla_properties)
    changes += _quality(old.quality_rules, new.quality_rules)
    changes += _other_fields(old, new)
    changes += _status(old, new)
    changes += _version(old, new, _content(old) != _content(new))
    return changes


def _content(contract: Contract) -> dict[str, Any]:
    """The document without what changes on every generation but is not part of the agreement."""
    return {k: v for k, v in contract.doc.items() if k not in ("version", "contractCreatedTs")}


def _identity(old: Contract, new: Contract) -> list[ContractChange]:
    out = []
    checks: list[tuple[str, str, Severity, Any, Any]] = [
        ("id", "ID_CHANGED", "warning", old.id, new.id),
        ("product", "PRODUCT_CHANGED", "error", old.product_fqn, new.product_fqn),
        ("consumer", "CONSUMER_CHANGED", "warning", old.consumer_domain, new.consumer_domain),
        ("domain", "PRODUCER_DOMAIN_CHANGED", "warning", old.domain, new.domain),
    ]
    for what, kind, severity, before, after in checks:
        if before != after:
            out.append(ContractChange(what, kind, severity, f"{what} changed from {before} to {after}", before, after))
    return out


def _version_key(version: str) -> tuple[int, ...] | None:
    parts = version.lstrip("vV").split("-")[0].split("+")[0].split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _version(old: Contract, new: Contract, content_changed: bool) -> list[ContractChange]:
    if old.version == new.version:
        if content_changed:
            return [
                ContractChange(
                    "version",
                    "VERSION_NOT_CHANGED",
                    "warning",
                    f"the contract changed but its version is still {new.version}",
                    old.version,
                    new.version,
                )
            ]
        return []
    before, after = _version_key(old.version), _version_key(new.version)
    if before is not None and after is not None and after < before:
        return [
            ContractChange(
                "version",
                "VERSION_DECREASED",
                "warning",
                f"version went back from {old.version} to {new.version}",
                old.version,
                new.version,
            )
        ]
    return [
        ContractChange(
            "version", "VERSION_CHANGED", "info", f"version {old.version} → {new.version}", old.version, new.version
        )
    ]


def _status(old: Contract, new: Contract) -> list[ContractChange]:
    if old.status == new.status:
        return []
    severity: Severity = "warning" if new.status.lower() in ("deprecated", "retired") else "info"
    return [
        ContractChange(
            "status", "STATUS_CHANGED", severity, f"status {old.status} → {new.status}", old.status, new.status
        )
    ]


def _validity(old: Contract, new: Contract) -> list[ContractChange]:
    """Validity moves, judged by the time the consumer is covered.

    An end that comes sooner (or appears) loses covered time: warning. A start that moves later
    is a renewal, info, unless it leaves a gap after the old end: warning. Extensions are info.
    """
    out: list[ContractChange] = []
    start0, end0, start1, end1 = old.valid_from, old.valid_until, new.valid_from, new.valid_until
    if start0 != start1:
        gap = start1 is not None and end0 is not None and start1 > end0
        later = start1 is not None and (start0 is None or start1 > start0)
        kind = "VALIDITY_GAP" if gap else "VALIDITY_START_LATER" if later else "VALIDITY_START_EARLIER"
        severity: Severity = "warning" if gap else "info"
        message = f"validFrom moved from {_iso(start0)} to {_iso(start1)}" + (
            f", after the old end {_iso(end0)}: the consumer is not covered in between" if gap else ""
        )
        out.append(ContractChange("validity.validFrom", kind, severity, message, _iso(start0), _iso(start1)))
    if end0 != end1:
        sooner = end1 is not None and (end0 is None or end1 < end0)
        severity = "warning" if sooner else "info"
        kind = "VALIDITY_SHORTENED" if sooner else "VALIDITY_EXTENDED"
        message = f"validUntil moved from {_iso(end0)} to {_iso(end1)}"
        out.append(ContractChange("validity.validUntil", kind, severity, message, _iso(end0), _iso(end1)))
    return out


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _schema(old: Sequence[SchemaObject], new: Sequence[SchemaObject]) -> list[ContractChange]:
    out: list[ContractChange] = []
    new_by = {o.name.lower(): o for o in new}
    old_by = {o.name.lower(): o for o in old}
    for obj in old:
        path = f"schema.{obj.name}"
        match = new_by.get(obj.name.lower())
        if match is None:
            out.append(ContractChange(path, "OBJECT_REMOVED", "error", f"{path} was removed", obj.name, None))
            continue
        if (obj.physical_name or None) != (match.physical_name or None):
            out.append(
                ContractChange(
                    f"{path}.physicalName",
                    "PHYSICAL_NAME_CHANGED",
                    "warning",
                    f"{path}: physical name changed from {obj.physical_name} to {match.physical_name}",
                    obj.physical_name,
                    match.physical_name,
                )
            )
        out += _properties(path, obj.properties, match.properties)
    for obj in new:
        if obj.name.lower() not in old_by:
            out.append(
                ContractChange(
                    f"schema.{obj.name}", "OBJECT_ADDED", "info", f"schema.{obj.name} was added", None, obj.name
                )
            )
    return out


def _properties(parent: str, old: Sequence[SchemaProperty], new: Sequence[SchemaProperty]) -> list[ContractChange]:
    out: list[ContractChange] = []
    new_by = {p.name.lower(): p for p in new}
    old_names = {p.name.lower() for p in old}
    for prop in old:
        path = f"{parent}.{prop.name}"
        match = new_by.get(prop.name.lower())
        if match is None:
            out.append(ContractChange(path, "PROPERTY_REMOVED", "error", f"{path} was removed", prop.name, None))
            continue
        out += _property(path, prop, match)
    for prop in new:
        if prop.name.lower() not in old_names:
            out.append(
                ContractChange(
                    f"{parent}.{prop.name}",
                    "PROPERTY_ADDED",
                    "info",
                    f"{parent}.{prop.name} was added",
                    None,
                    prop.name,
                )
            )
    return out


def _property(path: str, old: SchemaProperty, new: SchemaProperty) -> list[ContractChange]:
    out: list[ContractChange] = []
    type_change = _type_change(path, old, new)
    if type_change is not None:
        out.append(type_change)
    if old.required and not new.required:
        out.append(
            ContractChange(
                f"{path}.required",
                "REQUIRED_RELAXED",
                "error",
                f"{path} is no longer required: it may now be null",
                True,
                False,
            )
        )
    elif new.required and not old.required:
        out.append(
            ContractChange(f"{path}.required", "REQUIRED_TIGHTENED", "info", f"{path} is now required", False, True)
        )
    for attr, label in (("primary_key", "primaryKey"), ("unique", "unique")):
        before, after = getattr(old, attr), getattr(new, attr)
        if before and not after:
            out.append(
                ContractChange(
                    f"{path}.{label}",
                    f"{label.upper()}_REMOVED",
                    "warning",
                    f"{path} is no longer {label}",
                    True,
                    False,
                )
            )
        elif after and not before:
            out.append(
                ContractChange(
                    f"{path}.{label}", f"{label.upper()}_ADDED", "info", f"{path} is now {label}", False, True
                )
            )
    if classification_labels(old.classification) != classification_labels(new.classification):
        out.append(
            ContractChange(
                f"{path}.classification",
                "CLASSIFICATION_CHANGED",
                "warning",
                f"{path}: classification changed from {old.classification} to {new.classification}",
                old.classification,
                new.classification,
            )
        )
    if (old.description or "") != (new.description or ""):
        out.append(
            ContractChange(
                f"{path}.description",
                "DESCRIPTION_CHANGED",
                "info",
                f"{path}: description changed",
                old.description,
                new.description,
            )
        )
    out += _properties(path, old.properties, new.properties)
    if old.items is not None and new.items is not None:
        out += _property(f"{path}[]", old.items, new.items)
    elif old.items is not None:
        out.append(
            ContractChange(
                f"{path}[]",
                "ITEMS_REMOVED",
                "error",
                f"{path}: array items no longer described",
                old.items.physical_type,
                None,
            )
        )
    return out


def _sla_key(sla: SlaProperty) -> tuple[str, str | None, str | None]:
    return (sla.name.lower(), sla.element, sla.driver)


def _pair(old: Iterable[Any], new: Iterable[Any], key: Any) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """Match items by key; items sharing a key are paired in document order."""
    pending: dict[Any, list[Any]] = defaultdict(list)
    for item in new:
        pending[key(item)].append(item)
    pairs, removed = [], []
    for item in old:
        bucket = pending.get(key(item))
        if bucket:
            pairs.append((item, bucket.pop(0)))
        else:
            removed.append(item)
    added = [item for bucket in pending.values() for item in bucket]
    return pairs, removed, added


def _sla(old: Sequence[SlaProperty], new: Sequence[SlaProperty]) -> list[ContractChange]:
    out: list[ContractChange] = []
    pairs, removed, added = _pair(old, new, _sla_key)
    for sla in removed:
        path = _sla_path(sla)
        out.append(
            ContractChange(path, "SLA_REMOVED", "error", f"{path} ({_sla_text(sla)}) was removed", sla.value, None)
        )
    for before, after in pairs:
        path = _sla_path(before)
        a, b = before.normalized()[0], after.normalized()[0]
        if a is not None and b is not None and before.direction is not None:
            if a == b:
                if (before.value, before.unit) != (after.value, after.unit):
                    message = f"{path}: {_sla_text(before)} → {_sla_text(after)} (the same service level)"
                    out.append(
                        ContractChange(path, "SLA_REWRITTEN", "info", message, _sla_text(before), _sla_text(after))
                    )
                continue
            weaker = b < a if before.direction == "min" else b > a
            severity: Severity = "error" if weaker else "info"
            kind = "SLA_WEAKENED" if weaker else "SLA_STRENGTHENED"
            out.append(
                ContractChange(
                    path,
                    kind,
                    severity,
                    f"{path}: {_sla_text(before)} → {_sla_text(after)}",
                    _sla_text(before),
                    _sla_text(after),
                )
            )
        elif (before.value, before.unit) != (after.value, after.unit):
            out.append(
                ContractChange(
                    path,
                    "SLA_CHANGED",
                    "warning",
                    f"{path}: {_sla_text(before)} → {_sla_text(after)}",
                    _sla_text(before),
                    _sla_text(after),
                )
            )
    for sla in added:
        path = _sla_path(sla)
        out.append(ContractChange(path, "SLA_ADDED", "info", f"{path} ({_sla_text(sla)}) was added", None, sla.value))
    return out


def _sla_path(sla: SlaProperty) -> str:
    suffix = "".join(f"[{part}]" for part in (sla.element, sla.driver) if part)
    return f"slaProperties.{sla.name}{suffix}"


def _sla_text(sla: SlaProperty) -> str:
    return f"{sla.value} {sla.unit}" if sla.unit else str(sla.value)


def _rule_key(rule: QualityRule) -> tuple[str, str]:
    if rule.id:
        return (rule.element, f"id:{rule.id}")
    ident = rule.metric or rule.name or str(rule.raw.get("query") or rule.raw.get("engine") or rule.type)
    return (rule.element, f"{rule.type}:{ident}")


def _quality(old: Sequence[QualityRule], new: Sequence[QualityRule]) -> list[ContractChange]:
    out: list[ContractChange] = []
    pairs, removed, added = _pair(old, new, _rule_key)
    for rule in removed:
        path = f"quality.{rule.element}.{_rule_label(rule)}"
        out.append(
            ContractChange(
                path, "QUALITY_REMOVED", "error", f"{path} ({_ops_text(rule)}) was removed", dict(rule.operators), None
            )
        )
    for before, after in pairs:
        path = f"quality.{before.element}.{_rule_label(before)}"
        if dict(before.operators) != dict(after.operators):
            verdict = _strictness(before.operators, after.operators)
            severity: Severity = "error" if verdict == "looser" else "warning" if verdict == "changed" else "info"
            kind = {
                "looser": "QUALITY_WEAKENED",
                "stricter": "QUALITY_STRENGTHENED",
                "equivalent": "QUALITY_REWRITTEN",
            }.get(verdict, "QUALITY_CHANGED")
            out.append(
                ContractChange(
                    path,
                    kind,
                    severity,
                    f"{path}: {_ops_text(before)} → {_ops_text(after)}",
                    dict(before.operators),
                    dict(after.operators),
                )
            )
        rest_old = {k: v for k, v in before.raw.items() if k not in before.operators}
        rest_new = {k: v for k, v in after.raw.items() if k not in after.operators}
        if rest_old != rest_new:
            fields = sorted(k for k in set(rest_old) | set(rest_new) if rest_old.get(k) != rest_new.get(k))
            severity = "warning" if {"query", "arguments", "implementation", "unit"} & set(fields) else "info"
            out.append(
                ContractChange(
                    path,
                    "QUALITY_DEFINITION_CHANGED",
                    severity,
                    f"{path}: {', '.join(fields)} changed",
                    rest_old,
                    rest_new,
                )
            )
    for rule in added:
        path = f"quality.{rule.element}.{_rule_label(rule)}"
        out.append(
            ContractChange(
                path, "QUALITY_ADDED", "info", f"{path} ({_ops_text(rule)}) was added", None, dict(rule.operators)
            )
        )
    return out


def _rule_label(rule: QualityRule) -> str:
    return rule.id or rule.metric or rule.name or f"quality[{rule.index}]"


def _ops_text(rule: QualityRule) -> str:
    return ", ".join(f"{op} {value}" for op, value in rule.operators.items()) or rule.type


def _accepted(operators: Mapping[str, Any]) -> list[Interval] | None:
    """The values a rule accepts: the intersection of its operators (usually just one)."""
    accepted: list[Interval] | None = [Interval(-math.inf, math.inf)]
    for operator, threshold in operators.items():
        allowed = allowed_values(operator, threshold)
        if allowed is None or accepted is None:
            return None
        accepted = [x for a in accepted for b in allowed if (x := _intersect(a, b)) is not None]
    return accepted


def _intersect(a: Interval, b: Interval) -> Interval | None:
    lo, lo_closed = max((a.lo, a.lo_closed), (b.lo, b.lo_closed), key=lambda t: (t[0], not t[1]))
    hi, hi_closed = min((a.hi, a.hi_closed), (b.hi, b.hi_closed), key=lambda t: (t[0], t[1]))
    if lo > hi or (lo == hi and not (lo_closed and hi_closed)):
        return None
    return Interval(lo, hi, lo_closed, hi_closed)


def _subset(a: list[Interval], b: list[Interval]) -> bool:
    return all(any(x.within(y) for y in b) for x in a)


def _strictness(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``looser`` when the new rule accepts values the old one refused, ``stricter`` when the
    reverse, ``equivalent`` when neither, ``changed`` when both or when a threshold is not a number."""
    before, after = _accepted(old), _accepted(new)
    if before is None or after is None:
        return "changed"
    if _subset(after, before) and _subset(before, after):
        return "equivalent"
    if _subset(after, before):
        return "stricter"
    if _subset(before, after):
        return "looser"
    return "changed"


def _other_fields(old: Contract, new: Contract) -> list[ContractChange]:
    out: list[ContractChange] = []
    for key in dict.fromkeys([*old.doc, *new.doc]):
        if key in _HANDLED:
            continue
        before, after = old.doc.get(key), new.doc.get(key)
        if before != after:
            kind = "FIELD_ADDED" if before is None else "FIELD_REMOVED" if after is None else "FIELD_CHANGED"
            out.append(ContractChange(key, kind, "info", f"{key} changed", before, after))
    mine = (PRODUCT_PROPERTY, CONSUMER_PROPERTY, VALID_FROM_PROPERTY, VALID_UNTIL_PROPERTY)
    before_cp = {k: v for k, v in old.custom_properties.items() if k not in mine}
    after_cp = {k: v for k, v in new.custom_properties.items() if k not in mine}
    for name in dict.fromkeys([*before_cp, *after_cp]):
        if before_cp.get(name) != after_cp.get(name) or (name in before_cp) != (name in after_cp):
            severity: Severity = "warning" if name.startswith(MESHFABRIC_PREFIX) else "info"
            out.append(
                ContractChange(
                    f"customProperties.{name}",
                    "CUSTOM_PROPERTY_CHANGED",
                    severity,
                    f"custom property {name} changed",
                    before_cp.get(name),
                    after_cp.get(name),
                )
            )
    return out


__all__ = [
    "SEVERITY_ORDER",
    "ContractBreak",
    "ContractChange",
    "Severity",
    "breaking_for_consumers",
    "contract_changes",
    "fits",
    "property_type",
    "type_relation",
]
