"""A product's quality scan on Spark: the statements the quality compiler writes, run by Spark.

:meth:`meshfabric.connectors.base.Connector.run_on_port` hands the quality run a
:class:`~meshfabric.connectors.base.PortSession` — a relation, the port's columns, a dialect and
``fetch``. :func:`run_on_port` gives it the same session over Spark: the product is read as
a query scan of every column (JDBC with the connector's own statement, Parquet natively, …; see
:mod:`.reads`) and registered as a temp view; the rules are compiled in the DuckDB dialect
(exact comparisons, like Spark's) over that view, and each statement is transpiled to Spark SQL
by sqlglot when it is fetched. So the compiler, the judging and the stored results are the
ones of an in-source run; only where the aggregates are computed changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector, TableStatistics
    from meshfabric.query.catalog import ProductBinding
    from meshfabric.spec.models import OutputPort, SparkEngineSpec

T = TypeVar("T")

#: the temp view a quality run reads (a name the compiler quotes like any relation)
VIEW = "__mf_quality"


class _OneSource:
    """The query layer's catalog for reading one port: its connector, no statistics."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    def connector(self, source: str) -> Connector:
        return self._connector

    def statistics(self, binding: ProductBinding) -> TableStatistics | None:
        return None

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        return None

    def all_products(self) -> list[ProductBinding]:
        return []


def run_on_port(spec: SparkEngineSpec, connector: Connector, port: OutputPort, fn: Callable[[Any], T]) -> T:
    """Call ``fn`` with a PortSession whose statements (DuckDB dialect) Spark runs over ``port``."""
    from meshfabric.connectors.base import PortSession
    from meshfabric.query.catalog import ProductBinding, ProductColumn
    from meshfabric.query.planner import Scan
    from meshfabric.spark.execute import query_error, to_spark_sql
    from meshfabric.spark.reads import read_scan
    from meshfabric.spark.session import spark_session

    spark, jars = spark_session(spec)
    columns = connector.columns(port)
    binding = ProductBinding("quality", "product", connector.name, port,
                             tuple(ProductColumn(c.name, c.type, c.nullable) for c in columns))
    scan = Scan(VIEW, binding, tuple(c.name for c in columns))
    read = read_scan(spark, scan, _OneSource(connector), jars)  # type: ignore[arg-type]
    read.frame.createOrReplaceTempView(VIEW)

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        text = to_spark_sql(sql)
        try:
            return [tuple(row) for row in spark.sql(text).collect()]
        except Exception as exc:
            raise query_error(exc, {VIEW: binding.fqn}) from None

    try:
        return fn(PortSession(f'"{VIEW}"', list(columns), "duckdb", fetch))
    finally:
        spark.catalog.dropTempView(VIEW)
