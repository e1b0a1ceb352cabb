"""Probes: measure a product in its source, through its connector, and record the numbers.

One probe of one product:

* **freshness** — minutes since ``max(<column>)``, the SLO's ``column`` or else the first
  date/timestamp column of the port; computed by one aggregate statement in the source
  (``Connector.run_on_port``). A port without such a column (or a source that runs no
  statements) has no measurable freshness: the probe says so and records no point;
* **availability** — 1 when the probe reached the source and read the port, 0 when it failed;
* **row count** — the connector's statistics (``Connector.stats``), else ``count(*)``.

Each number becomes one ``metric_points`` row with ``product`` = the product's fqn and the
series ``<fqn>/freshness.minutes``, ``<fqn>/availability`` and ``<fqn>/row_count`` — names other
parts of meshfabric read. Probe points are not fed to the quality monitor's anomaly detectors
(freshness rises steadily between loads): the SLO evaluation judges them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError

if TYPE_CHECKING:
    from collections.abc import Callable

    from meshfabric.catalog import ProductInfo
    from meshfabric.connectors.base import Connector, PortSession
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.observe")

_TEMPORAL = ("date", "timestamp", "timestamptz")


def freshness_series(fqn: str) -> str:
    return f"{fqn}/freshness.minutes"


def availability_series(fqn: str) -> str:
    return f"{fqn}/availability"


def row_count_series(fqn: str) -> str:
    return f"{fqn}/row_count"


@dataclass(frozen=True)
class ProbeResult:
    product: str
    ts: datetime
    available: bool
    freshness_minutes: float | None
    row_count: int | None
    #: the column freshness was measured on (None: not measurable)
    column: str | None
    #: why something was not measured, or the error that made the source unavailable
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "ts": self.ts.isoformat(), "available": self.available,
                "freshness_minutes": self.freshness_minutes, "row_count": self.row_count, "column": self.column,
                "note": self.note, "seconds": round(self.seconds, 6)}


def _temporal_column(columns: list[Any], wanted: str | None) -> tuple[Any | None, str]:
    """The column freshness is measured on, or (None, why not)."""
    if wanted:
        for c in columns:
            if c.name == wanted or c.name.lower() == wanted.lower():
                if c.type.name not in _TEMPORAL:
                    return None, f"column '{c.name}' is {c.type}, not a date or timestamp"
                return c, ""
        return None, f"column '{wanted}' is not in the product's port"
    for c in columns:
        if c.type.name in _TEMPORAL:
            return c, ""
    return None, "freshness is not measurable: the product has no date or timestamp column (set slos.freshness.column)"


def _measure(session: PortSession, column: str | None, count: bool) -> tuple[Any, int | None, str | None, str]:
    """(newest value, row count, column used, note) with one statement over the port."""
    from sqlglot import exp

    from meshfabric.quality import compile as qc

    d = qc.dialect(session.dialect)
    col, note = _temporal_column(list(session.columns), column)
    selects: list[exp.Expression] = []
    if col is not None:
        selects.append(exp.alias_(d.latest(qc.ref(col), col), "latest", quoted=True))
    if count or not selects:
        selects.append(exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))
    rows = session.fetch(qc.select_sql(exp.select(*selects), session.relation, d))
    row = rows[0] if rows else ()
    latest = row[0] if col is not None and row else None
    n = row[-1] if (count or col is None) and row else None
    return latest, (int(n) if n is not None else None), (col.name if col is not None else None), note


def probe(product: ProductInfo, connector: Connector, *, column: str | None = None,
          now: Callable[[], datetime] | None = None) -> ProbeResult:
    """Probe one product in its source (nothing is stored: see :func:`record`)."""
    from meshfabric.connectors.base import Connector as Base
    from meshfabric.quality.run import _instant
    from meshfabric.spec.models import OutputPort

    clock = now or (lambda: datetime.now(UTC))
    started = time.perf_counter()
    port = OutputPort.model_validate(product.output)
    rows: int | None = None
    try:
        try:
            stats = connector.stats(port)
            rows = stats.row_count
        except MeshfabricError:
            rows = None  # statistics are optional: count instead
        if type(connector).run_on_port is Base.run_on_port:
            # a source that runs no statements: read one row to know it answers
            from meshfabric.connectors.base import ScanRequest

            connector.scan(ScanRequest(port, columns=[], limit=1))
            at = clock()
            return ProbeResult(product.fqn, at, True, None, rows, None,
                               f"freshness is not measurable in a {connector.kind} source",
                               time.perf_counter() - started)
        latest, counted, used, note = connector.run_on_port(
            port, lambda s: _measure(s, column, rows is None))
        at = clock()
        rows = counted if rows is None else rows
        minutes: float | None = None
        if used is not None:
            newest = _instant(latest)
            if newest is None:
                note = f"column '{used}' holds no value to date the data by"
            else:
                minutes = max(0.0, (at - newest).total_seconds() / 60.0)
        return ProbeResult(product.fqn, at, True, minutes, rows, used, note, time.perf_counter() - started)
    except Exception as exc:  # any failure to reach or read the source is unavailability
        message = exc.message if isinstance(exc, MeshfabricError) else f"{type(exc).__name__}: {exc}"
        log.info("probe of %s failed: %s", product.fqn, message)
        return ProbeResult(product.fqn, clock(), False, None, None, None, message[:2000],
                           time.perf_counter() - started)


def points(result: ProbeResult) -> list[tuple[str, str, float]]:
    """(series, metric, value) of a probe result."""
    fqn = result.product
    out = [(availability_series(fqn), "availability", 1.0 if result.available else 0.0)]
    if result.freshness_minutes is not None and math.isfinite(result.freshness_minutes):
        out.append((freshness_series(fqn), "freshness.minutes", float(result.freshness_minutes)))
    if result.row_count is not None:
        out.append((row_count_series(fqn), "row_count", float(result.row_count)))
    return out


def record(store: Store, result: ProbeResult) -> int:
    """Store a probe result as metric points; returns how many."""
    from meshfabric.store.models import MetricPointRow

    rows = [MetricPointRow(series=series, product=result.product, metric=metric, value=value, ts=result.ts)
            for series, metric, value in points(result)]
    with store.write() as s:
        s.add_all(rows)
    return len(rows)
