"""Access rules on the Spark engine: a masked, row-filtered principal gets exactly the answer the
DuckDB engine gives it, and nothing a policy hides reaches Spark.

The workspace is ``access_support``'s (alice: region-filtered orders, hash/last-4/redact/year/
custom-SQL masks; carol: discover only), with ``engine:`` pointing at the test cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import MESH, SECRETS, build, setup_principals
from meshfabric.errors import AccessDenied, QueryError

pytestmark = pytest.mark.slow

QUERIES = [
    "SELECT * FROM sales.orders ORDER BY id",
    "SELECT region, count(*) AS n, sum(amount) AS total FROM sales.orders GROUP BY region ORDER BY region",
    "SELECT o.id, o.email, c.name, c.email AS customer_email FROM sales.orders o "
    "JOIN crm.customers c ON c.id = o.id ORDER BY o.id",
    "SELECT email, count(*) AS n FROM sales.orders WHERE email IS NOT NULL GROUP BY email ORDER BY email",
    "SELECT max(amount) AS top, min(birth) AS oldest FROM sales.orders WHERE amount > 5",
    "SELECT count(*) AS n FROM sales.orders",
]


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "salt-for-tests")
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


def _engine_yaml(spec: Any) -> str:
    conf = "".join(f"      {k}: \"{v}\"\n" for k, v in spec.conf.items())
    return f"engine:\n  kind: spark\n  master: {spec.master}\n  conf:\n{conf}"


@pytest.fixture
def mesh(tmp_path: Path, spark_engine: Any) -> Iterator[Any]:
    from meshfabric import Mesh

    with Mesh.open(build(tmp_path / "ws", mesh=MESH + _engine_yaml(spark_engine))) as m:
        m.apply()
        setup_principals(m)
        yield m


@pytest.mark.parametrize("sql", QUERIES)
def test_a_masked_filtered_principal_gets_the_same_answer_on_both_engines(mesh: Any, sql: str) -> None:
    on_duckdb = mesh.query(sql, user="alice", engine="duckdb").arrow()
    on_spark = mesh.query(sql, user="alice", engine="spark").arrow()
    assert on_spark.column_names == on_duckdb.column_names
    assert on_spark.to_pylist() == on_duckdb.to_pylist()
    shown = repr(on_spark.to_pylist())
    assert not [s for s in SECRETS if s in shown]


def test_the_workspace_engine_is_the_default_and_admins_see_raw_values(mesh: Any) -> None:
    spark = mesh.query("SELECT id, ssn FROM sales.orders ORDER BY id")  # mesh.yaml engine: spark
    duck = mesh.query("SELECT id, ssn FROM sales.orders ORDER BY id", engine="duckdb")
    assert spark.arrow().to_pylist() == duck.arrow().to_pylist()
    assert spark.rows[0] == (1, "111-11-1111")


def test_hidden_rows_never_reach_a_raising_expression_on_spark(mesh: Any) -> None:
    # 1 / (amount - 999) raises only on the US row alice may not see (ANSI division by zero on
    # Spark): with the row filter applied first, the query runs over her rows only
    sql = "SELECT id, 1 / (amount - 999) AS x FROM sales.orders ORDER BY id"
    assert mesh.query(sql, user="alice", engine="spark").arrow().to_pylist() == \
        mesh.query(sql, user="alice", engine="duckdb").arrow().to_pylist()


def test_access_is_decided_once_whatever_the_engine(mesh: Any) -> None:
    with pytest.raises(AccessDenied):
        mesh.query("SELECT * FROM sales.orders", user="carol", engine="spark")
    with pytest.raises(QueryError, match="not found"):
        mesh.query("SELECT * FROM hr.salaries", user="alice", engine="spark")
    last = mesh.access.audit_log(limit=1)[0]
    assert last.principal == "alice" and last.decision == "denied"
