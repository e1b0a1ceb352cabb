"""Quality scores: per rule, per dimension and for the product, all in [0, 1].

The formula, in full:

* **Rule** ``p``: for a rule that judges rows (completeness, uniqueness, validity rules,
  referential integrity, custom failing-row queries, anomalies over their sample)
  ``p = clip(1 - failing_rows / total_rows, 0, 1)``, and ``p = 1`` when it checked no rows.
  For a rule judged as a whole (freshness, row count, statistics, custom metrics, schema)
  ``p = 1`` when it passed and ``0`` when it failed.
* **Dimension**: the severity-weighted mean of its rules' ``p``, with weight 2 for ``error``
  and 1 for ``warning`` rules (a broken promise weighs more than a hint).
* A rule that could not be measured (its result has an ``error``) counts in no score.
* **Overall**: the plain mean of the dimension scores present, so a dimension with many rules
  does not drown one with few. No rules → no score (``None``), not a perfect one.

The score measures the data, not the thresholds: a completeness rule with threshold 0.9 that
finds 5 % nulls passes, and still contributes 0.95.

>>> from types import SimpleNamespace as R
>>> s = score_run([R(dimension="completeness", severity="error", failing_rows=10, total_rows=100, passed=True),
...                R(dimension="completeness", severity="warning", failing_rows=None, total_rows=None, passed=False),
...                R(dimension="validity", severity="error", failing_rows=0, total_rows=0, passed=True)])
>>> round(s.dimensions["completeness"], 4), s.dimensions["validity"], round(s.overall, 4)
(0.6, 1.0, 0.8)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

SEVERITY_WEIGHTS: dict[str, float] = {"error": 2.0, "warning": 1.0}


class Judged(Protocol):
    dimension: str
    severity: str
    passed: bool
    failing_rows: int | None
    total_rows: int | None


@dataclass(frozen=True)
class Scores:
    overall: float | None
    dimensions: dict[str, float] = field(default_factory=dict)


def rule_score(result: Judged) -> float:
    """``p`` of one rule result (see the module docstring)."""
    if result.failing_rows is not None and result.total_rows is not None:
        if result.total_rows <= 0:
            return 1.0
        return min(1.0, max(0.0, 1.0 - result.failing_rows / result.total_rows))
    return 1.0 if result.passed else 0.0


def score_run(results: Iterable[Any]) -> Scores:
    """Dimension scores and the overall score of one run's rule results."""
    sums: dict[str, list[float]] = {}
    for r in results:
        if getattr(r, "error", ""):  # not measured: no evidence either way
            continue
        weight = SEVERITY_WEIGHTS.get(r.severity, 1.0)
        acc = sums.setdefault(r.dimension, [0.0, 0.0])
        acc[0] += weight * rule_score(r)
        acc[1] += weight
    dimensions = {d: total / weight for d, (total, weight) in sums.items() if weight > 0}
    overall = sum(dimensions.values()) / len(dimensions) if dimensions else None
    return Scores(overall, dict(sorted(dimensions.items())))
