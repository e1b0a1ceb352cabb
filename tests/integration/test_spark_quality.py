"""Quality on Spark: a product's rules run on the cluster give the verdicts, observed values,
failing and checked rows of the same rules run in the source.

The data set and rules are ``test_quality_sources``'s (40 people rows with defects of known
counts, every rule type), here in PostgreSQL and in Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_quality_sources import build

from helpers import default_store
from meshfabric import Mesh

pytestmark = pytest.mark.slow


@pytest.fixture(params=["postgres", "parquet"])
def mesh(request: pytest.FixtureRequest, tmp_path: Path, spark_engine: Any) -> Iterator[Mesh]:
    root, cleanup = build(tmp_path / "ws", request.param, request)
    conf = "".join(f"      {k}: \"{v}\"\n" for k, v in spark_engine.conf.items())
    with open(root / "mesh.yaml", "a", encoding="utf-8") as f:
        f.write(f"engine:\n  kind: spark\n  master: {spark_engine.master}\n  conf:\n{conf}")
    try:
        with default_store(), Mesh.open(root) as m:
            m.apply()
            yield m
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


def test_rules_on_spark_give_the_in_source_results(mesh: Mesh) -> None:
    in_source = mesh.quality.run("sales.people", engine="duckdb")
    on_spark = mesh.quality.run("sales.people")  # the workspace's engine: spark
    assert on_spark.error == "" and in_source.error == ""
    assert on_spark.status == in_source.status == "failed"
    mine = {r.rule: r for r in on_spark.results}
    theirs = {r.rule: r for r in in_source.results}
    assert set(mine) == set(theirs)
    for name, want in theirs.items():
        got = mine[name]
        assert got.passed == want.passed, name
        assert (got.failing_rows, got.total_rows) == (want.failing_rows, want.total_rows), name
        if name != "freshness_created_at":  # the age of the newest row, measured at each run's start
            assert got.observed == pytest.approx(want.observed, rel=1e-9, abs=1e-12), name
    assert on_spark.score == pytest.approx(in_source.score)
    assert sorted(s["id"] for s in mine["range_amount"].sample) == [4, 14, 39]


def test_quality_run_cli_takes_the_engine(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from helpers import cli

    code, out, err = cli(capsys, "-w", mesh.root, "quality", "run", "sales.clean", "--engine", "spark", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "passed" and run["rules_failed"] == 0
