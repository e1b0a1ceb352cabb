"""Compatibility modes over schema histories, with Confluent Schema Registry's meaning.

BACKWARD: the new schema can read data written with the previous one. FORWARD: the previous
schema can read data written with the new one. FULL: both. ``_TRANSITIVE``: against every earlier
version instead of the latest only. NONE: anything goes (changes are still listed).

Two kinds of schema share these modes: *tabular* (a list of column dicts, what product specs
declare; rules in :mod:`meshfabric.contracts.tabular`) and *JSON Schema* (a dict; Confluent's
rules in :mod:`meshfabric.contracts.jsonschema_diff`).

>>> old = [{"name": "id", "type": "bigint", "nullable": False}]
>>> new = [{"name": "id", "type": "integer", "nullable": False}]
>>> r = check_compatibility(new, [old], mode="BACKWARD")
>>> r.compatible, r.reasons
(False, ["column 'id' narrowed (bigint → integer): old values may not fit"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from meshfabric.errors import ConfigError

MODES = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
Policy = Literal["strict", "lenient"]
Kind = Literal["tabular", "json"]


@dataclass(frozen=True)
class SchemaChange:
    type: str
    path: str
    #: whether this change breaks the mode (in any direction it asks for)
    breaking: bool
    #: position in ``previous`` (0 = the latest earlier version) this change was found against
    against: int = 0
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.type} {self.path}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "path": self.path, "breaking": self.breaking, "against": self.against}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class CompatibilityResult:
    mode: str
    compatible: bool
    changes: list[SchemaChange] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [c.reason or str(c) for c in self.changes if c.breaking]

    def to_dict(self) -> dict[str, Any]:
        return {"compatible": self.compatible, "mode": self.mode, "changes": [c.to_dict() for c in self.changes]}


def schema_kind(schema: Any) -> Kind:
    """``tabular`` for a list of columns (or ``{"columns": [...]}``), ``json`` for a JSON Schema."""
    if isinstance(schema, list):
        return "tabular"
    if isinstance(schema, dict):
        if set(schema) == {"columns"} and isinstance(schema["columns"], list):
            return "tabular"
        return "json"
    if isinstance(schema, bool):
        return "json"  # `true` / `false` are JSON Schemas too
    raise ConfigError(f"not a schema: {type(schema).__name__}",
                      hint="pass a list of columns or a JSON Schema document")


def _columns(schema: Any) -> list[dict[str, Any]]:
    return schema["columns"] if isinstance(schema, dict) else schema


def directions(mode: str) -> tuple[str, ...]:
    base = mode.removesuffix("_TRANSITIVE")
    return {"NONE": (), "BACKWARD": ("backward",), "FORWARD": ("forward",), "FULL": ("backward", "forward")}[base]


def check_compatibility(
    new: Any, previous: list[Any], mode: str = "BACKWARD", *, policy: Policy = "strict"
) -> CompatibilityResult:
    """Check ``new`` against earlier schemas (``previous``, latest first) under ``mode``."""
    mode = mode.upper()
    if mode not in MODES:
        raise ConfigError(f"unknown compatibility mode '{mode}'", hint=f"use one of {', '.join(MODES)}")
    if policy not in ("strict", "lenient"):
        raise ConfigError(f"unknown policy '{policy}'", hint="use strict or lenient")
    kind = schema_kind(new)
    for i, prev in enumerate(previous):
        if schema_kind(prev) != kind:
            raise ConfigError(f"earlier schema #{i} is {schema_kind(prev)} but the new one is {kind}",
                              hint="compare schemas of the same kind")
    against = previous if mode.endswith("_TRANSITIVE") else previous[:1]
    if mode == "NONE":
        against = previous[:1]
    wanted = directions(mode)
    changes: list[SchemaChange] = []
    for index, prev in enumerate(against):
        changes.extend(_changes(kind, new, prev, wanted, index, policy))
    return CompatibilityResult(mode, not any(c.breaking for c in changes), changes)


def _changes(
    kind: Kind, new: Any, prev: Any, wanted: tuple[str, ...], index: int, policy: Policy
) -> list[SchemaChange]:
    if kind == "tabular":
        from meshfabric.contracts import tabular

        out = []
        for change in tabular.diff(_columns(prev), _columns(new)):
            broken = [d for d in wanted
                      if change.type in (tabular.BREAKS_BACKWARD if d == "backward" else tabular.BREAKS_FORWARD)]
            reason = tabular.reasons(change, broken[0]) if broken else ""
            out.append(SchemaChange(change.type, change.path, bool(broken), index, reason))
        return out
    from meshfabric.contracts import jsonschema_diff as jd

    found: dict[tuple[str, str], SchemaChange] = {}
    # JSON Schema changes are named by Confluent from the writer's schema to the reader's
    for direction in wanted or ("backward",):
        changes_of = jd.backward_changes if direction == "backward" else jd.forward_changes
        diffs = changes_of(new, prev, policy)
        for d in diffs:
            breaking = bool(wanted) and not jd.is_compatible([d], policy=policy)
            key = (d.type, d.path)
            if key not in found or (breaking and not found[key].breaking):
                reason = f"{d.type} at {d.path} breaks {direction} compatibility" if breaking else ""
                found[key] = SchemaChange(d.type, d.path, breaking, index, reason)
    return list(found.values())
