"""Compatibility of tabular schemas (a product's columns), with the table formats' rules.

Changes are named from the older schema to the newer one. Which of them break a reader depends on
the direction: BACKWARD asks whether the *new* schema reads data written with the *old* one;
FORWARD whether the *old* schema reads data written with the *new* one.

Type promotions follow Iceberg and Delta: integers widen (tinyint → smallint → integer → bigint),
float → double, decimal precision widens when the scale stays, date → timestamp. A rename keeps
compatibility only when declared with ``aliases`` (the new column lists the old name).

>>> old = [{"name": "id", "type": "integer", "nullable": False}]
>>> new = [{"name": "id", "type": "bigint", "nullable": False}, {"name": "note", "type": "string"}]
>>> [str(c) for c in diff(old, new)]
['TYPE_WIDENED #/columns/id', 'COLUMN_ADDED #/columns/note']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshfabric.types import parse_type, widens

#: changes that stop the NEW schema reading OLD data
BREAKS_BACKWARD = frozenset({"REQUIRED_COLUMN_ADDED", "TYPE_NARROWED", "TYPE_CHANGED", "NULLABILITY_TIGHTENED"})
#: changes that stop the OLD schema reading NEW data
BREAKS_FORWARD = frozenset({"REQUIRED_COLUMN_REMOVED", "TYPE_WIDENED", "TYPE_CHANGED", "NULLABILITY_RELAXED"})


@dataclass(frozen=True)
class ColumnChange:
    type: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.type} {self.path}"


def _required(col: dict[str, Any]) -> bool:
    return not col.get("nullable", True) and col.get("default") is None


def _match(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> tuple[list[tuple[dict, dict, bool]], list, list]:
    """Pairs (old, new, renamed), old columns with no partner, new columns with no partner."""
    old_by = {c["name"].lower(): c for c in old}
    pairs: list[tuple[dict, dict, bool]] = []
    taken: set[str] = set()
    added = []
    for n in new:
        key = n["name"].lower()
        if key in old_by and key not in taken:
            pairs.append((old_by[key], n, False))
            taken.add(key)
            continue
        former = next((a.lower() for a in n.get("aliases", []) if a.lower() in old_by and a.lower() not in taken), None)
        if former is None:  # the old column may carry the new name as an alias (diff run backwards)
            former = next((k for k, c in old_by.items() if k not in taken
                           and key in {a.lower() for a in c.get("aliases", [])}), None)
        if former is not None:
            pairs.append((old_by[former], n, True))
            taken.add(former)
        else:
            added.append(n)
    removed = [c for k, c in old_by.items() if k not in taken]
    return pairs, removed, added


def diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[ColumnChange]:
    """Every change from ``old`` columns to ``new`` columns, named from old to new."""
    changes: list[ColumnChange] = []
    pairs, removed, added = _match(old, new)
    for o, n, renamed in pairs:
        path = f"#/columns/{n['name']}"
        if renamed:
            changes.append(ColumnChange("COLUMN_RENAMED", path, f"from '{o['name']}'"))
        ot, nt = parse_type(o["type"]), parse_type(n["type"])
        if not ot.matches(nt) or not nt.matches(ot):
            if widens(ot, nt):
                changes.append(ColumnChange("TYPE_WIDENED", path, f"{ot} → {nt}"))
            elif widens(nt, ot):
                changes.append(ColumnChange("TYPE_NARROWED", path, f"{ot} → {nt}"))
            else:
                changes.append(ColumnChange("TYPE_CHANGED", path, f"{ot} → {nt}"))
        o_null, n_null = o.get("nullable", True), n.get("nullable", True)
        if o_null and not n_null:
            changes.append(ColumnChange("NULLABILITY_TIGHTENED", path, "nullable → not null"))
        elif n_null and not o_null:
            changes.append(ColumnChange("NULLABILITY_RELAXED", path, "not null → nullable"))
        if o.get("default") != n.get("default"):
            changes.append(ColumnChange("DEFAULT_CHANGED", path, f"{o.get('default')!r} → {n.get('default')!r}"))
    for n in added:
        kind = "REQUIRED_COLUMN_ADDED" if _required(n) else "COLUMN_ADDED"
        changes.append(ColumnChange(kind, f"#/columns/{n['name']}", str(n["type"])))
    for o in removed:
        kind = "REQUIRED_COLUMN_REMOVED" if _required(o) else "COLUMN_REMOVED"
        changes.append(ColumnChange(kind, f"#/columns/{o['name']}", str(o["type"])))
    return changes


def reasons(change: ColumnChange, direction: str) -> str:
    """Why a change breaks readers in a direction ('backward' or 'forward'), in words."""
    col = change.path.rsplit("/", 1)[-1]
    if direction == "backward":
        return {
            "REQUIRED_COLUMN_ADDED": f"new required column '{col}' has no default, so old data cannot fill it",
            "TYPE_NARROWED": f"column '{col}' narrowed ({change.detail}): old values may not fit",
            "TYPE_CHANGED": f"column '{col}' changed type ({change.detail}) with no promotion between them",
            "NULLABILITY_TIGHTENED": f"column '{col}' became not null, but old data may hold nulls",
        }.get(change.type, change.type)
    return {
        "REQUIRED_COLUMN_REMOVED": f"required column '{col}' was removed, so old readers cannot fill it",
        "TYPE_WIDENED": f"column '{col}' widened ({change.detail}): old readers cannot hold new values",
        "TYPE_CHANGED": f"column '{col}' changed type ({change.detail}) with no promotion between them",
        "NULLABILITY_RELAXED": f"column '{col}' became nullable, but old readers require a value",
    }.get(change.type, change.type)
