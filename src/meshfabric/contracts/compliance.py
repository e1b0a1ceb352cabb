"""Evaluate a contract against measured metrics: which promises were broken, and which were not checked.

Both kinds of promise in an ODCS contract are evaluated:

- **SLA properties** (``slaProperties``): a measurement must reach the agreed value for
  availability, completeness, accuracy, throughput and retention (``mustBeGreaterOrEqualTo``),
  and stay under it for latency, freshness, frequency, errorRate and the timeTo… properties
  (``mustBeLessOrEqualTo``). Shares are measured as ratios 0..1 and durations in milliseconds;
  the agreed value is converted from the SLA's unit (see
  :meth:`~meshfabric.contracts.odcs.SlaProperty.normalized`). The metric is named like the
  property (``latency``), or by the SLA entry's ``id`` when it has one.
- **Quality rules** (``quality`` on schema objects and properties) with the ODCS operators. The
  metric is named by :attr:`~meshfabric.contracts.odcs.QualityRule.key`
  (``orders.customer_id.nullValues``) and given in the rule's own ``unit``.

``mustBeBetween`` is **exclusive** at both ends: ``mustBeBetween: [a, b]`` holds when
``a < value < b``. The ODCS data-quality documentation defines it as the equivalent of
``mustBeGreaterThan: a`` together with ``mustBeLessThan: b`` and shows both spellings side by
side; meshfabric follows the standard's text. (datacontract-cli translates it to SodaCL's
inclusive ``between a and b`` instead; a contract that needs the ends included should say
``mustBeGreaterOrEqualTo``/``mustBeLessOrEqualTo``, which every tool reads the same way.)
``mustNotBeBetween: [a, b]`` is its exact complement: it holds when ``value <= a`` or
``value >= b``, so the two never both hold or both fail for the same value. The bounds are read
smallest first whatever their order.

Comparisons are exact (no tolerance): thresholds are what the parties agreed, and a tolerance
would be a second, unwritten threshold. Booleans are measured as 1 and 0.

A promise whose metric was not supplied is neither passed nor failed: it is listed in
:attr:`Evaluation.missing`, so a forgotten measurement never reads as compliance. Promises that
cannot be judged from a number (text and custom quality rules, date-valued SLAs, unknown units)
are listed in :attr:`Evaluation.not_evaluated` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from meshfabric.contracts.odcs import Contract, QualityRule, SlaProperty, is_number

Source = Literal["sla", "quality"]

#: the product metric a contract test records: the share of the contract's checks that passed
#: (:attr:`Evaluation.share`), one series per contract (observe/metrics.py reads it)
COMPLIANCE_METRIC = "contract.compliance"


def compliance_series(product: str, contract_id: str) -> str:
    """The ``metric_points`` series of a contract's compliance: ``<fqn>/contract.compliance/<id>``."""
    return f"{product}/{COMPLIANCE_METRIC}/{contract_id}"


@dataclass(frozen=True)
class Interval:
    """A set of real numbers between two bounds; ``closed`` ends include the bound.

    An infinite bound always counts as closed, so a measured ``inf`` is "greater than 5".
    """

    lo: float
    hi: float
    lo_closed: bool = False
    hi_closed: bool = False

    @property
    def _closed(self) -> tuple[bool, bool]:
        return self.lo_closed or self.lo == -math.inf, self.hi_closed or self.hi == math.inf

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float) or math.isnan(value):
            return False
        lo_closed, hi_closed = self._closed
        above = value > self.lo or (lo_closed and value == self.lo)
        below = value < self.hi or (hi_closed and value == self.hi)
        return above and below

    def within(self, other: Interval) -> bool:
        """Whether every number of this interval is in ``other``."""
        (lo_closed, hi_closed), (other_lo, other_hi) = self._closed, other._closed
        lo_ok = self.lo > other.lo or (self.lo == other.lo and (other_lo or not lo_closed))
        hi_ok = self.hi < other.hi or (self.hi == other.hi and (other_hi or not hi_closed))
        return lo_ok and hi_ok


def allowed_values(operator: str, threshold: Any) -> list[Interval] | None:
    """The numbers an ODCS operator accepts, as disjoint intervals; None if not numeric.

    This one definition serves both the evaluation here and the strictness comparison of the
    changelog, so "violated" and "loosened" can never disagree about an operator's meaning.
    """
    inf = math.inf
    if operator in ("mustBeBetween", "mustNotBeBetween"):
        if not isinstance(threshold, list | tuple) or len(threshold) != 2 or not all(map(is_number, threshold)):
            return None
        lo, hi = sorted(float(t) for t in threshold)
        if operator == "mustBeBetween":
            return [Interval(lo, hi)]
        return [Interval(-inf, lo, hi_closed=True), Interval(hi, inf, lo_closed=True)]
    if not is_number(threshold) and not isinstance(threshold, bool):
        return None
    t = float(threshold)
    return {
        "mustBe": [Interval(t, t, True, True)],
        "mustNotBe": [Interval(-inf, t), Interval(t, inf)],
        "mustBeGreaterThan": [Interval(t, inf)],
        "mustBeGreaterOrEqualTo": [Interval(t, inf, lo_closed=True)],
        "mustBeLessThan": [Interval(-inf, t)],
        "mustBeLessOrEqualTo": [Interval(-inf, t, hi_closed=True)],
    }.get(operator)


def satisfies(operator: str, threshold: Any, actual: float) -> bool:
    """Whether ``actual`` meets ``operator: threshold``. NaN meets nothing.

    Raises ValueError for an unknown operator or a threshold that is not numeric.
    """
    intervals = allowed_values(operator, threshold)
    if intervals is None:
        raise ValueError(f"cannot evaluate {operator}: {threshold!r} numerically")
    return any(actual in i for i in intervals)


@dataclass(frozen=True)
class Violation:
    """One broken promise: the measured value, the agreed threshold and the operator between them.

    For SLA properties ``threshold`` is in the measuring unit (ratio, milliseconds), so it
    compares directly with ``actual``; ``metric`` is the name the measurement was looked up by.
    """

    contract_id: str
    metric: str
    actual: float
    threshold: Any
    operator: str
    measured_at: datetime
    source: Source = "sla"
    element: str | None = None
    severity: str = "error"

    @property
    def message(self) -> str:
        where = f" on {self.element}" if self.element else ""
        return f"{self.metric}{where} is {self.actual}, contract requires {self.operator} {self.threshold}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for events and the CLI's ``--json``."""
        threshold = list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold
        return {
            "contract_id": self.contract_id, "metric": self.metric, "actual": self.actual,
            "threshold": threshold, "operator": self.operator, "measured_at": self.measured_at.isoformat(),
            "source": self.source, "element": self.element, "severity": self.severity,
        }  # fmt: skip


@dataclass(frozen=True)
class MissingMetric:
    """A promise that could have been checked but no measurement was supplied for it."""

    contract_id: str
    metric: str
    operator: str
    threshold: Any
    source: Source
    element: str | None = None


@dataclass(frozen=True)
class NotEvaluated:
    """A promise meshfabric cannot judge from a number, and why."""

    contract_id: str
    what: str
    reason: str
    source: Source


class Evaluation(list[Violation]):
    """The violations (it *is* the list), plus what was missing or could not be evaluated.

    ``compliant`` is true only when nothing was violated **and** nothing was missing: an
    unmeasured promise is not a kept one.
    """

    def __init__(self, contract: Contract, measured_at: datetime) -> None:
        super().__init__()
        self.contract_id = contract.id
        self.measured_at = measured_at
        self.in_force = contract.in_force(measured_at)
        self.missing: list[MissingMetric] = []
        self.not_evaluated: list[NotEvaluated] = []
        self.checked = 0

    @property
    def violations(self) -> list[Violation]:
        return list(self)

    @property
    def compliant(self) -> bool:
        return not self and not self.missing

    @property
    def judged(self) -> int:
        """The checks this evaluation was meant to judge: compared (kept or broken) or missing their
        measurement. Promises that cannot be judged from a number (:attr:`not_evaluated`) are not
        counted."""
        return self.checked + len(self.missing)

    @property
    def share(self) -> float | None:
        """The share of :attr:`judged` checks that passed: 1.0 exactly when :attr:`compliant`. A
        missing measurement is a check that did not pass (an unmeasured promise is not a kept one);
        None when the contract holds nothing to judge numerically."""
        if not self.judged:
            return None
        return (self.checked - len(self)) / self.judged


def evaluate(contract: Contract, metrics: Mapping[str, float], *, measured_at: datetime) -> Evaluation:
    """Compare ``metrics`` with every SLA property and quality rule of ``contract``.

    Returns the violations (an :class:`Evaluation`, which is a ``list[Violation]``) with the
    promises that had no metric in ``.missing`` and those that cannot be judged numerically in
    ``.not_evaluated``. ``metrics`` keys are matched exactly, then case-insensitively; a
    measurement that is not a number (None, text, NaN) meets no threshold and is a violation.
    ``measured_at`` (naive = UTC) stamps each violation; ``.in_force`` tells whether the contract
    applied at that time (within its validity period and not retired) — the evaluation itself
    does not depend on it, so a caller can still show how an expired contract would fare.
    """
    if measured_at.tzinfo is None:
        measured_at = measured_at.replace(tzinfo=UTC)
    result = Evaluation(contract, measured_at)
    lookup = _Metrics(metrics)
    for sla in contract.sla_properties:
        _check_sla(contract, sla, lookup, result)
    for rule in contract.quality_rules:
        _check_quality(contract, rule, lookup, result)
    return result


class _Metrics:
    def __init__(self, metrics: Mapping[str, float]) -> None:
        self.exact = dict(metrics)
        self.folded = {str(k).lower(): v for k, v in metrics.items()}

    def get(self, *names: str) -> tuple[str, Any] | None:
        for name in names:
            if name in self.exact:
                return name, self.exact[name]
        for name in names:
            if name.lower() in self.folded:
                return name, self.folded[name.lower()]
        return None


def _check_sla(contract: Contract, sla: SlaProperty, metrics: _Metrics, result: Evaluation) -> None:
    label = sla.name if sla.element is None else f"{sla.name} ({sla.element})"
    if sla.direction is None:
        reason = (
            "not a measurable service level"
            if not is_number(sla.value)
            else (f"meshfabric does not know whether a higher {sla.property} is better")
        )
        result.not_evaluated.append(NotEvaluated(contract.id, f"slaProperties[{sla.index}] {label}", reason, "sla"))
        return
    threshold, why = sla.normalized()
    if threshold is None:
        result.not_evaluated.append(NotEvaluated(contract.id, f"slaProperties[{sla.index}] {label}", str(why), "sla"))
        return
    operator = "mustBeGreaterOrEqualTo" if sla.direction == "min" else "mustBeLessOrEqualTo"
    names = tuple(n for n in (sla.id, sla.name, sla.property) if n)
    found = metrics.get(*names)
    if found is None:
        result.missing.append(MissingMetric(contract.id, names[0], operator, threshold, "sla", sla.element))
        return
    name, actual = found
    _compare(contract, result, name, actual, operator, threshold, "sla", sla.element, "error")


def _check_quality(contract: Contract, rule: QualityRule, metrics: _Metrics, result: Evaluation) -> None:
    if rule.type in ("text", "custom") or not rule.operators:
        reason = {
            "text": "a text rule is read by people, not measured",
            "custom": f"a custom rule runs in its own engine ({rule.raw.get('engine', 'unknown')})",
        }.get(rule.type, "the rule has no operator to compare with")
        result.not_evaluated.append(NotEvaluated(contract.id, f"{rule.path} {rule.key}", reason, "quality"))
        return
    found = metrics.get(*rule.lookup_keys)
    severity = rule.severity or "error"
    for operator, threshold in rule.operators.items():
        if allowed_values(operator, threshold) is None:
            reason = f"{operator}: {threshold!r} is not a numeric threshold"
            result.not_evaluated.append(NotEvaluated(contract.id, f"{rule.path} {rule.key}", reason, "quality"))
            continue
        shown = tuple(threshold) if isinstance(threshold, list) else threshold
        if found is None:
            result.missing.append(MissingMetric(contract.id, rule.key, operator, shown, "quality", rule.element))
            continue
        name, actual = found
        _compare(contract, result, name, actual, operator, shown, "quality", rule.element, severity)


def _compare(
    contract: Contract,
    result: Evaluation,
    name: str,
    actual: Any,
    operator: str,
    threshold: Any,
    source: Source,
    element: str | None,
    severity: str,
) -> None:
    result.checked += 1
    value = float(actual) if isinstance(actual, bool | int | float) else math.nan
    criterion = list(threshold) if isinstance(threshold, tuple) else threshold
    if not satisfies(operator, criterion, value):
        result.append(
            Violation(contract.id, name, value, threshold, operator, result.measured_at, source, element, severity)
        )
