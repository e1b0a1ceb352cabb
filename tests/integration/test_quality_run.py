"""Quality runs end to end: spec errors with file and line, the CLI and its exit codes, the
schedule loop, sources that disappear before or during a run, and the monitor hook."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import ORDERS_YAML, SPEC_FILES, build_workspace, cli, default_store, line_of, pg_database, write
from meshfabric import Mesh
from meshfabric.errors import SpecError
from meshfabric.spec.loader import load_workspace

RULES = """\
quality:
  - {type: not_null, column: order_id}
  - {type: accepted_values, column: status, values: [completed, cancelled]}
  - {type: range, column: amount, min: 0, max: 500}
  - {type: row_count, min: 1}
"""
FAILING = """\
  - {type: range, column: amount, min: 0, max: 100, severity: warning, name: small_amounts,
     metric: small_amounts}
"""


def workspace(root: Path, rules: str = RULES) -> Path:
    return build_workspace(root, specs={**SPEC_FILES, "products/sales/orders.yaml": ORDERS_YAML + rules})


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    root = workspace(tmp_path / "ws")
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
    return root


# ---------------------------------------------------------------------------------------------
# spec errors


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ("  - {type: range, column: amount, minimum: 0}\n", "quality.0.minimum", "did you mean 'min'?"),
        ("  - {type: rnage, column: amount}\n", "quality.0.type", "did you mean 'range'?"),
        ("  - {type: not_null, column: amont}\n", "quality.0.column", "did you mean 'amount'?"),
        ("  - {type: completeness, column: amount, threshold: 1.5}\n", "quality.0.threshold", "less than or equal"),
        ("  - {type: freshness, column: amount, max_age: soon}\n", "quality.0.max_age", "not a duration"),
        ("  - {type: regex, column: status, pattern: '(['}\n", "quality.0.pattern", "not a regular expression"),
    ],
)
def test_rule_errors_point_at_file_line_and_field(tmp_path: Path, item: str, field: str, message: str) -> None:
    text = ORDERS_YAML + "quality:\n" + item
    root = build_workspace(tmp_path / "ws", specs={"products/sales/orders.yaml": text})
    with pytest.raises(SpecError) as caught:
        load_workspace(root)
    [problem] = caught.value.problems
    assert problem.file == "products/sales/orders.yaml"
    assert problem.line == line_of(text, item.strip()[:20])
    assert problem.field == field
    assert message in problem.render()


def test_duplicate_rule_names_and_series_are_refused(tmp_path: Path) -> None:
    text = ORDERS_YAML + ("quality:\n  - {type: not_null, column: status}\n  - {type: not_null, column: status}\n"
                          "  - {type: range, column: amount, min: 0, name: a}\n"
                          "  - {type: range, column: amount, max: 9}\n")
    root = build_workspace(tmp_path / "ws", specs={"products/sales/orders.yaml": text})
    with pytest.raises(SpecError) as caught:
        load_workspace(root)
    rendered = [p.render() for p in caught.value.problems]
    assert any("rule name 'not_null_status' is also used by rule 0" in r for r in rendered)
    assert any("'range/amount'; set 'metric'" in r for r in rendered)


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_run_passes_and_history_lists_it(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with default_store():
        code, out, err = cli(capsys, "-w", applied, "quality", "run", "sales.orders")
        assert code == 0, err
        assert "sales.orders — passed" in out and "score 1.000" in out
        code, out, _ = cli(capsys, "-w", applied, "quality", "run", "sales.orders", "--json")
        data = json.loads(out)
        assert code == 0 and data["status"] == "passed" and data["queries"] == 1
        assert {r["rule"] for r in data["results"]} == {"not_null_order_id", "accepted_values_status", "range_amount",
                                                         "row_count"}
        code, out, _ = cli(capsys, "-w", applied, "quality", "history", "sales.orders", "--json")
        runs = json.loads(out)
        assert code == 0 and [r["status"] for r in runs] == ["passed", "passed"]
        code, out, _ = cli(capsys, "-w", applied, "quality", "rules", "sales.orders", "--json")
        assert [r["name"] for r in json.loads(out)][:2] == ["not_null_order_id", "accepted_values_status"]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = workspace(tmp_path / "ws", RULES + FAILING)
    with default_store():
        with Mesh.open(root) as mesh:
            mesh.apply()
        code, out, _ = cli(capsys, "-w", root, "quality", "run", "sales.orders")
        assert code == 0 and "warn" in out  # a failed warning does not fail the run
        write(root / "products" / "sales" / "orders.yaml", ORDERS_YAML + RULES + FAILING.replace("warning", "error"))
        with Mesh.open(root) as mesh:
            mesh.apply()
        code, out, _ = cli(capsys, "-w", root, "quality", "run", "--all", "--json")
        assert code == 1
        [run] = json.loads(out)
        assert run["status"] == "failed" and run["rules_failed"] == 1
        failed = next(r for r in run["results"] if not r["passed"])
        assert failed["rule"] == "small_amounts" and failed["failing_rows"] == 11 and len(failed["sample"]) == 5
        assert cli(capsys, "-w", root, "quality", "run")[0] == 2  # neither a product nor --all
        assert cli(capsys, "-w", root, "quality", "run", "sales.nope")[0] == 2


def test_every_repeats_runs(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with default_store():
        code, out, _ = cli(capsys, "-w", applied, "quality", "run", "sales.orders", "--every", "10ms", "--times", "3")
        assert code == 0 and out.count("sales.orders — passed") == 3
        with Mesh.open(applied) as mesh:
            assert len(mesh.quality.history("sales.orders")) == 3


# ---------------------------------------------------------------------------------------------
# sources that go away


def test_missing_source_file_is_a_recorded_error_run(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (applied / "data" / "shop.sqlite").unlink()
    with default_store():
        code, out, _ = cli(capsys, "-w", applied, "quality", "run", "sales.orders")
        assert code == 1
        assert "ERROR" in out and "not found" in out
        with Mesh.open(applied) as mesh:
            [run] = mesh.quality.history("sales.orders")
            events = [e.event_type for e in mesh.events.list(limit=1000)]
    assert run.status == "error" and "shop.sqlite" in run.error and run.results == [] and run.score is None
    assert events[-1] == "quality.run_completed"


@pytest.mark.postgres
def test_database_dropped_during_a_run(tmp_path: Path, pg_url: str) -> None:
    """The first statement succeeds, then the database is dropped: the run is stored as an
    error naming the database, nothing crashes, and no result or point is kept."""
    import psycopg
    from sqlalchemy import func, select

    from meshfabric.store.models import MetricPointRow, QualityResultRow

    with pg_database("mf_qdrop") as url:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE TABLE orders (order_id bigint, customer_id bigint, amount double precision, "
                        "status text)")
            con.execute("INSERT INTO orders SELECT i, i % 6 + 1, i * 10.5, CASE WHEN i % 4 = 0 THEN 'cancelled' "
                        "ELSE 'completed' END FROM generate_series(1, 20) i")
        mesh_yaml = (
            "name: shop\nsources:\n  pg:\n    kind: postgres\n    url: " + url + "\n"
            "domains:\n  sales: {}\n"
        )
        spec = ORDERS_YAML.replace("source: shop_db", "source: pg") + RULES.replace(
            "max: 500}", "max: 100}") + "  - {type: uniqueness, column: customer_id}\n"
        root = tmp_path / "ws"
        write(root / "mesh.yaml", mesh_yaml)
        write(root / "products" / "orders.yaml", spec)
        name = url.rsplit("/", 1)[1]
        with default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            connector = mesh.connector("pg")
            original = connector.run_on_port

            def run_on_port(port: Any, fn: Any) -> Any:
                def wrapped(session: Any) -> Any:
                    fetch = session.fetch
                    sent: list[str] = []

                    def once_then_gone(sql: str) -> Any:
                        if sent:
                            with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres",
                                                 autocommit=True) as admin:
                                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        sent.append(sql)
                        return fetch(sql)

                    session.fetch = once_then_gone
                    return fn(session)

                return original(port, wrapped)

            connector.run_on_port = run_on_port  # type: ignore[method-assign]
            run = mesh.quality.run("sales.orders")
            assert run.status == "error", run
            assert "source 'pg'" in run.error and name in run.error
            assert run.queries >= 1 and run.results == []
            stored = mesh.quality.history("sales.orders")[0]
            assert stored.id == run.id and stored.status == "error" and stored.error == run.error
            with mesh.store.read() as s:
                assert s.scalar(select(func.count()).select_from(QualityResultRow)) == 0
                assert s.scalar(select(func.count()).select_from(MetricPointRow)) == 0


# ---------------------------------------------------------------------------------------------
# the monitor hook


def test_monitor_observes_the_stored_points(applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshfabric.quality.monitor as monitor

    seen: list[tuple[Any, list[Any]]] = []
    monkeypatch.setattr(monitor, "observe", lambda store, points: seen.append((store, points)))
    with default_store(), Mesh.open(applied) as mesh:
        run = mesh.quality.run("sales.orders")
        [(store, points)] = seen
        assert store is mesh.store
        series = {p.series for p in points}
        assert "sales.orders/range/amount" in series and "sales.orders/score/*" in series
        assert all(p.id is not None and p.ts == run.started_at for p in points)


def test_without_the_monitor_module_runs_go_on(applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation without the monitor: importing it fails as for a missing module."""
    with default_store(), Mesh.open(applied) as mesh:
        monkeypatch.setitem(sys.modules, "meshfabric.quality.monitor", None)  # import raises ModuleNotFoundError
        with pytest.raises(ModuleNotFoundError):
            import meshfabric.quality.monitor  # noqa: F401
        run = mesh.quality.run("sales.orders")
        assert run.status == "passed" and mesh.quality.history("sales.orders")[0].id == run.id


def test_monitor_failure_does_not_lose_the_run(applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshfabric.quality.monitor as monitor

    def broken(store: Any, points: Any) -> None:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(monitor, "observe", broken)
    with default_store(), Mesh.open(applied) as mesh:
        run = mesh.quality.run("sales.orders")
        assert run.status == "passed" and mesh.quality.history("sales.orders")[0].id == run.id


# ---------------------------------------------------------------------------------------------
# referential integrity across sources: a key list in the scan, or a federated anti-join


@pytest.mark.parametrize("limit", [10_000, 3])
def test_reference_in_another_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """orders (SQLite) → logistics.shipments (Parquet): the 5 cancelled orders were never shipped.
    15 shipped keys fit the key-list limit and join the scan; with a limit of 3 the check runs
    as one federated query instead. Both must observe the same."""
    from meshfabric.quality import run as quality_run

    monkeypatch.setattr(quality_run, "KEYSET_LIMIT", limit)
    root = workspace(tmp_path / "ws", "quality:\n  - {type: referential, column: order_id, "
                                      "reference: logistics.shipments, threshold: 0.5}\n")
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        run = mesh.quality.run("sales.orders")
    [result] = run.results
    assert (result.passed, result.failing_rows, result.total_rows, result.observed) == (True, 5, 20, 0.75)
    assert run.statements[0].startswith('SELECT DISTINCT "order_id" FROM logistics.shipments')
    if limit == 3:
        assert "NOT EXISTS" in run.statements[-1] and "federated" in result.detail
        assert run.queries == 3  # the key probe, the scan, the federated check
    else:
        assert "IN (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19)" in run.statements[1]
        assert run.queries == 2


def test_anomaly_sample_is_bounded_and_says_so(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws", "quality:\n  - {type: anomaly, columns: [amount, customer_id], sample_size: 10, "
                                      "top: 3, max_share: 1}\n")
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        run = mesh.quality.run("sales.orders")
    [result] = run.results
    assert result.passed and result.total_rows == 10 and result.extra == {"sample_size": 10}
    assert "a random 10 of 20" in result.detail and len(result.sample) == 3
    assert "ORDER BY RANDOM() LIMIT 10" in run.statements[-1]
    scores = [s["_score"] for s in result.sample]
    assert scores == sorted(scores)
