"""SLO math against hand-computed series: compliance, error budget, burn rates and the
multi-window rules, with hypothesis for the edges (empty windows, window borders, all good/bad)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.observe import slo
from meshfabric.observe.service import effective_objectives
from meshfabric.spec.observe_models import SLOsSpec

END = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def objective(name: slo.ObjectiveName = "freshness", target: float = 0.99, window: timedelta = timedelta(days=30),
              threshold: float = 120.0) -> slo.Objective:
    return slo.Objective(name, target, window, threshold)


def minutes_ago(*pairs: tuple[int, bool]) -> list[slo.Evaluation]:
    return [slo.Evaluation(END - m * MIN, good) for m, good in pairs]


def test_hand_computed_compliance_budget_and_burn() -> None:
    # 100 evaluations, one a minute over the last 100 minutes; the 4 newest are bad
    evals = minutes_ago(*[(m, m >= 4) for m in range(100)])
    assert slo.window_counts(evals, END, timedelta(hours=2)) == (96, 4)
    assert slo.compliance(evals, END, timedelta(hours=2)) == pytest.approx(0.96)
    # objective 0.99 allows 1 bad in 100: 4 bad spend the budget four times over
    assert slo.budget_remaining(evals, END, timedelta(hours=2), 0.99) == pytest.approx(1 - 4 / 1.0)
    # last 5 minutes (evaluations at 0..4 minutes ago, 4 minutes ago is inside: ts > end - 5m): 4 bad of 5
    assert slo.burn_rate(evals, END, timedelta(minutes=5), 0.99) == pytest.approx((4 / 5) / 0.01)
    # last hour: 60 evaluations (0..59 minutes ago), 4 bad
    assert slo.burn_rate(evals, END, timedelta(hours=1), 0.99) == pytest.approx((4 / 60) / 0.01)
    fired = slo.burn_firings(evals, END, 0.99)
    # 1h: 6.67x < 14.4 → no page; 6h: 4/100 / 0.01 = 4x < 6 → no ticket
    assert fired == []


def test_page_needs_both_windows() -> None:
    # the last hour all bad but the last 5 minutes good: the long window burns, the short has recovered
    evals = minutes_ago(*[(m, m < 5) for m in range(60)])
    assert slo.burn_rate(evals, END, timedelta(hours=1), 0.99) == pytest.approx((55 / 60) / 0.01)
    assert slo.burn_rate(evals, END, timedelta(minutes=5), 0.99) == 0.0
    # no page; the ticket's short window (30 min, 25 of 30 bad) still burns at 83x, its long one at 92x
    assert slo.burn_rate(evals, END, timedelta(minutes=30), 0.99) == pytest.approx((25 / 30) / 0.01)
    assert [f.rule.name for f in slo.burn_firings(evals, END, 0.99)] == ["ticket"]
    # both bad: page and ticket
    evals = minutes_ago(*[(m, False) for m in range(60)])
    assert [f.rule.name for f in slo.burn_firings(evals, END, 0.99)] == ["page", "ticket"]
    # only the short window bad: a blip is no page
    evals = minutes_ago(*[(m, m >= 2) for m in range(360)])
    rates = {r: slo.burn_rate(evals, END, span, 0.99) for r, span in slo.BURN_SPANS.items()}
    assert rates["5m"] == pytest.approx((2 / 5) / 0.01)
    assert rates["1h"] == pytest.approx((2 / 60) / 0.01) and rates["1h"] < 14.4
    assert slo.burn_firings(evals, END, 0.99) == []


def test_ticket_without_page() -> None:
    # 6 h of one evaluation a minute, 10 % bad spread evenly: 10x on every span
    evals = minutes_ago(*[(m, m % 10 != 0) for m in range(360)])
    assert slo.burn_rate(evals, END, timedelta(hours=6), 0.99) == pytest.approx(10.0)
    assert slo.burn_rate(evals, END, timedelta(minutes=30), 0.99) == pytest.approx(10.0)
    assert [f.rule.name for f in slo.burn_firings(evals, END, 0.99)] == ["ticket"]


def test_every_burn_rule_span_is_reported() -> None:
    for rule in slo.BURN_RULES:
        assert slo.BURN_SPANS[slo.span_text(rule.long)] == rule.long
        assert slo.BURN_SPANS[slo.span_text(rule.short)] == rule.short


def test_window_border_is_exclusive_at_start_inclusive_at_end() -> None:
    evals = [slo.Evaluation(END - timedelta(hours=1), False), slo.Evaluation(END, True),
             slo.Evaluation(END + MIN, False)]
    assert slo.window_counts(evals, END, timedelta(hours=1)) == (1, 0)


def test_no_data_is_not_an_outage() -> None:
    result = slo.evaluate(objective(), [], END)
    assert result.status == "no_data" and result.compliance is None and result.budget_remaining is None
    assert all(v is None for v in result.burn_rates.values())


def test_evaluations_per_objective() -> None:
    pts = [(END - 3 * MIN, 100.0), (END - 2 * MIN, 121.0), (END - MIN, 120.0), (END, float("nan"))]
    assert [e.good for e in slo.evaluations(objective("freshness", threshold=120), pts)] == [True, False, True]
    q = [(END - MIN, 0.95), (END, 0.9499)]
    assert [e.good for e in slo.evaluations(objective("quality", threshold=0.95), q)] == [True, False]
    a = [(END - MIN, 1.0), (END, 0.0)]
    assert [e.good for e in slo.evaluations(objective("availability", threshold=1), a)] == [True, False]


def test_latency_buckets_by_p95() -> None:
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    # interval 12:00-12:05: 20 queries, one slow (p95 by nearest rank = the 19th = 100 ms): good
    samples = [(base + timedelta(seconds=i), 100.0) for i in range(19)] + [(base + timedelta(seconds=30), 5000.0)]
    # interval 12:05-12:10: 2 queries, one slow: p95 = the slow one: bad
    samples += [(base + timedelta(minutes=6), 10.0), (base + timedelta(minutes=7), 2000.0)]
    evals = slo.latency_evaluations(samples, timedelta(minutes=5), 1000)
    assert [e.good for e in evals] == [True, False]
    assert evals[1].ts == base + timedelta(minutes=7)
    assert slo.p95([1.0] * 19 + [9.0]) == 1.0 and slo.p95([1.0] * 18 + [9.0, 9.0]) == 9.0


def test_status_order() -> None:
    evals = minutes_ago(*[(m, False) for m in range(10)])
    assert slo.evaluate(objective(), evals, END).status == "breached"
    # budget not overspent over 30 days but burning fast now
    evals = minutes_ago(*[(m, True) for m in range(10, 20000)]) + minutes_ago(*[(m, False) for m in range(10)])
    result = slo.evaluate(objective(), evals, END)
    assert result.compliance is not None and result.compliance > 0.99
    # 1 h: 10/60 bad = 16.7x and 5 min: 100x → page; 6 h: 10/360 = 2.8x → no ticket
    assert result.status == "burning" and [f.rule.name for f in result.firing] == ["page"]


def test_trend() -> None:
    assert slo.trend([0.9, 0.92, 0.95]) == "increasing"
    assert slo.trend([0.95, 0.95]) == "stable"
    assert slo.trend([0.99, 0.9, 0.8]) == "decreasing"
    assert slo.trend([0.5]) == "stable"


def test_effective_objectives_most_specific_wins() -> None:
    product = SLOsSpec.model_validate({"freshness": {"max_minutes": 30}})
    domain = SLOsSpec.model_validate({"freshness": {"max_minutes": 60}, "latency": {"p95_ms": 500}, "every": "1m"})
    workspace = SLOsSpec.model_validate({"quality": {"min_score": 0.9, "window": "7d"}, "every": "10m"})
    found, every = effective_objectives([("product", product), ("domain", domain), ("workspace", workspace)])
    by = {o.name: o for o in found}
    assert (by["freshness"].threshold, by["freshness"].origin) == (30, "product")
    assert (by["quality"].threshold, by["quality"].window, by["quality"].origin) == (0.9, timedelta(days=7),
                                                                                    "workspace")
    assert (by["latency"].threshold, by["latency"].origin) == (500, "domain")
    assert "availability" not in by and every == timedelta(minutes=1)
    found, every = effective_objectives([("product", None)])
    assert [(o.name, o.threshold, o.target, o.origin) for o in found] == [
        ("freshness", 120, 0.99, "default"), ("quality", 0.95, 0.99, "default")]
    assert every == timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------
# Properties


offsets = st.lists(st.tuples(st.integers(min_value=0, max_value=8 * 60 * 60), st.booleans()), max_size=200)
targets = st.sampled_from([0.9, 0.95, 0.99, 0.999])


def _evals(pairs: list[tuple[int, bool]]) -> list[slo.Evaluation]:
    return [slo.Evaluation(END - timedelta(seconds=s), good) for s, good in pairs]


@settings(max_examples=200, deadline=None)
@given(offsets, targets, st.integers(min_value=1, max_value=10 * 60 * 60))
def test_burn_rate_matches_a_direct_count(pairs: list[tuple[int, bool]], target: float, span_s: int) -> None:
    evals = _evals(pairs)
    span = timedelta(seconds=span_s)
    inside = [good for s, good in pairs if s < span_s]  # END - s > END - span ⟺ s < span
    rate = slo.burn_rate(evals, END, span, target)
    if not inside:
        assert rate is None
        return
    bad = sum(1 for g in inside if not g)
    assert rate == pytest.approx(bad / len(inside) / (1 - target))
    budget = slo.budget_remaining(evals, END, span, target)
    comp = slo.compliance(evals, END, span)
    assert budget is not None and comp is not None
    assert budget == pytest.approx(1 - bad / ((1 - target) * len(inside)))
    # compliance below the objective exactly when the budget is overspent
    assert (comp < target) == (budget < 0) or budget == pytest.approx(0)
    assert rate >= 0 and 0 <= comp <= 1


@settings(max_examples=200, deadline=None)
@given(offsets, targets)
def test_multiwindow_fires_only_when_both_windows_burn(pairs: list[tuple[int, bool]], target: float) -> None:
    evals = _evals(pairs)
    fired = {f.rule.name for f in slo.burn_firings(evals, END, target)}
    for rule in slo.BURN_RULES:
        long_rate = slo.burn_rate(evals, END, rule.long, target)
        short_rate = slo.burn_rate(evals, END, rule.short, target)
        expected = (long_rate is not None and short_rate is not None and long_rate > rule.factor
                    and short_rate > rule.factor)
        assert (rule.name in fired) == expected
    if all(good for _, good in pairs):
        assert not fired


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=100))
def test_p95_is_a_member_with_95_percent_at_or_below(values: list[float]) -> None:
    p = slo.p95(values)
    assert p in values
    assert sum(1 for v in values if v <= p) >= 0.95 * len(values)
    assert sum(1 for v in values if v < p) < 0.95 * len(values)


@settings(max_examples=200, deadline=None)
@given(offsets, targets)
def test_evaluate_agrees_with_the_separate_functions(pairs: list[tuple[int, bool]], target: float) -> None:
    evals = _evals(pairs)
    o = objective(target=target, window=timedelta(hours=7))
    r = slo.evaluate(o, evals, END)
    assert (r.good, r.bad) == slo.window_counts(evals, END, o.window)
    assert r.compliance == slo.compliance(evals, END, o.window)
    assert r.budget_remaining == slo.budget_remaining(evals, END, o.window, target) or (
        r.budget_remaining == pytest.approx(slo.budget_remaining(evals, END, o.window, target)))
    for label, span in slo.BURN_SPANS.items():
        assert r.burn_rates[label] == slo.burn_rate(evals, END, span, target) or (
            r.burn_rates[label] == pytest.approx(slo.burn_rate(evals, END, span, target)))
    assert [f.rule.name for f in r.firing] == [f.rule.name for f in slo.burn_firings(evals, END, target)]
