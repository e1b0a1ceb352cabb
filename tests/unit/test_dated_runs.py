"""``at=`` of the services that record activity (the demo replays past days through them): a
quality run, a probe and a query given the time they stand for are measured against it and
recorded at it — run, points, events, audit row — and without it they are recorded now."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import default_store
from meshfabric import Mesh

MESH = """\
name: dated
sources:
  db: {kind: sqlite, path: data/ops.sqlite}
domains:
  ops: {owners: [ops-team]}
access:
  local_principal: admin
  admins: [admin]
"""
LOADS = """\
kind: DataProduct
domain: ops
name: loads
owner: ops-team
output: {source: db, table: loads}
schema:
  - {name: id, type: bigint}
  - {name: loaded_at, type: timestamp}
quality:
  - {type: not_null, column: id}
  - {type: freshness, column: loaded_at, max_age: 1h}
"""
#: the newest row is from 05:30; AT is 06:00 the same day
AT = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    (tmp_path / "data").mkdir()
    (tmp_path / "mesh.yaml").write_text(MESH)
    (tmp_path / "loads.yaml").write_text(LOADS)
    with sqlite3.connect(tmp_path / "data" / "ops.sqlite") as con:
        con.execute("CREATE TABLE loads (id INTEGER, loaded_at TIMESTAMP)")
        con.executemany("INSERT INTO loads VALUES (?, ?)", [(1, "2026-02-28 10:00:00"), (2, "2026-03-01 05:30:00")])
    with default_store(), Mesh.open(tmp_path) as m:
        m.apply()
        yield m


def _points(mesh: Mesh, series: str) -> list[datetime]:
    from meshfabric.store.models import MetricPointRow as P

    with mesh.store.read() as s:
        return [t.replace(tzinfo=UTC) if t.tzinfo is None else t
                for t in s.scalars(select(P.ts).where(P.series == series).order_by(P.ts))]


def test_a_quality_run_is_measured_and_recorded_at_its_time(mesh: Mesh) -> None:
    fresh = mesh.quality.run("ops.loads", at=AT)
    stale = mesh.quality.run("ops.loads", at=AT + timedelta(hours=3))
    assert fresh.started_at == AT and AT <= fresh.finished_at < AT + timedelta(minutes=1)
    # the freshness rule measures the data's age at the run's time: 30 minutes, then 3.5 hours
    assert [r.passed for r in fresh.results] == [True, True] and fresh.status == "passed"
    assert stale.status == "failed" and [r.rule for r in stale.results if not r.passed] == ["freshness_loaded_at"]
    assert [r.started_at for r in mesh.quality.history("ops.loads")] == [AT + timedelta(hours=3), AT]
    assert _points(mesh, "ops.loads/score/*") == [AT, AT + timedelta(hours=3)]
    done = mesh.events.list(event_type="quality.run_completed")
    failed = mesh.events.list(event_type="quality.failed")
    assert [e.timestamp for e in done] == [fresh.finished_at, stale.finished_at]
    assert [e.timestamp for e in failed] == [stale.finished_at]


def test_a_probe_measures_freshness_at_its_time(mesh: Mesh) -> None:
    probe = mesh.observe.run_probe("ops.loads", at=AT)
    assert probe.ts == AT and probe.available and probe.freshness_minutes == pytest.approx(30.0)
    assert _points(mesh, "ops.loads/freshness.minutes") == [AT]
    now = mesh.observe.run_probe("ops.loads")
    assert abs((now.ts - datetime.now(UTC)).total_seconds()) < 600


def test_a_query_is_audited_at_its_time(mesh: Mesh) -> None:
    mesh.queries.run("SELECT count(*) AS n FROM ops.loads", at=AT)
    mesh.query("SELECT count(*) AS n FROM ops.loads")
    mesh.queries.flush_metrics()
    entries = mesh.access.audit_log(action="query")
    assert len(entries) == 2 and entries[1].at == AT
    assert abs((entries[0].at - datetime.now(UTC)).total_seconds()) < 600
    moved = _points(mesh, "ops.loads/query.rows_moved/db")
    assert moved[0] == AT and len(moved) == 2
