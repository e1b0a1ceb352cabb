"""Data quality: rules declared in product specs, compiled to SQL and run inside each source.

The rules' spec models live in :mod:`meshfabric.spec.quality_rules` (the spec loader reads
them); the compiler, the runner and the scores load on first use, so ``import meshfabric`` pays nothing for them.

>>> from meshfabric import Mesh                          # doctest: +SKIP
>>> run = Mesh.open("ws").quality.run("sales.orders")    # doctest: +SKIP
>>> run.status, run.score, [r.rule for r in run.results if not r.passed]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshfabric.quality.alerts import AlertInfo
    from meshfabric.quality.monitor import MonitorConfig, observe
    from meshfabric.quality.profile import ProductProfile
    from meshfabric.quality.run import QualityRun, QualityService, RuleResult
    from meshfabric.quality.scores import Scores, score_run
    from meshfabric.spec.quality_rules import Rule

__all__ = ["QualityRun", "QualityService", "Rule", "RuleResult", "Scores", "score_run"]
__all__ += ["AlertInfo", "MonitorConfig", "ProductProfile", "observe"]

_HOMES = {
    "Rule": "meshfabric.spec.quality_rules",
    "QualityRun": "meshfabric.quality.run",
    "QualityService": "meshfabric.quality.run",
    "RuleResult": "meshfabric.quality.run",
    "Scores": "meshfabric.quality.scores",
    "score_run": "meshfabric.quality.scores",
    "AlertInfo": "meshfabric.quality.alerts",
    "MonitorConfig": "meshfabric.quality.monitor",
    "observe": "meshfabric.quality.monitor",
    "ProductProfile": "meshfabric.quality.profile",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
