"""The Spark execution engine: federated plans, access rules and quality scans run on Apache Spark.

``engine: {kind: spark, master: …}`` in mesh.yaml (or ``--engine spark``, ``mesh.query(sql,
engine="spark")``) runs the same plan the DuckDB engine runs — same scans, same secured views,
same ``QueryResult`` — with the scans read by Spark's executors (JDBC, native Parquet) and the
engine query transpiled to Spark SQL. pyspark is imported only when a query runs on Spark:
importing this package costs nothing (``pip install 'meshfabric[spark]'`` adds it).
"""

from __future__ import annotations

from meshfabric.spark.execute import execute_spark, run_query_spark, to_spark_sql
from meshfabric.spark.session import EngineUnavailable, find_jars, spark_session, stop

__all__ = ["EngineUnavailable", "execute_spark", "find_jars", "run_query_spark", "spark_session", "stop",
           "to_spark_sql"]
