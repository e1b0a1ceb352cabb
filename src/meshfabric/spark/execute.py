"""Run a federated plan on Spark: the same plan, access rules and result shape as the DuckDB engine.

``run_query_spark`` is guard → secure → plan exactly as :func:`meshfabric.query.run_query`;
only the executor differs. :func:`execute_spark` registers every scan as a temp view under its
internal name (``__mf_scan_N``; see :mod:`.reads` for how each kind is read), then runs the
plan's engine query, transpiled from DuckDB to Spark SQL by sqlglot, and returns Arrow.

Access holds as in the DuckDB engine (``query/engine.py load_secured``): a secured scan's rows
are filtered by the policy's row filter and given the hash salt as the column ``__mf_salt``,
then *materialised* (``localCheckpoint``) before the user's query is even parsed. The
checkpoint is the barrier: Spark's optimizer would otherwise merge the user's predicates with
the row filter and could evaluate them — an expression that raises is an oracle — on rows the
principal may not see; over a checkpoint there is nothing below to push into, and the salt is
a value in the data, never a literal in a plan an error message might print.

>>> to_spark_sql("SELECT sum(x) FROM __mf_scan_0 WHERE d <= DATE '1998-12-01' - INTERVAL 90 DAY")
"SELECT SUM(x) FROM __mf_scan_0 WHERE d <= CAST('1998-12-01' AS DATE) - INTERVAL '90' DAY"
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError, QueryCancelled, QueryError, QueryTimeout, SourceError
from meshfabric.query.result import QueryResult, QueryStats, ScanStats

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession

    from meshfabric.connectors.base import CancelToken, Deadline
    from meshfabric.query.catalog import ProductBinding, ProductCatalog
    from meshfabric.query.planner import Plan, Scan
    from meshfabric.query.secure import SecuredView
    from meshfabric.spark.reads import ScanRead
    from meshfabric.spec.models import SparkEngineSpec

_SCAN_NAME = re.compile(r"__mf_scan_\d+")
_ROUTINE = re.compile(r"routine `?([^`\s]+)`?", re.IGNORECASE)


#: functions both engines know by name that give other values on Spark: refused, not transpiled
SAME_NAME_OTHER_MEANING = {
    "hash": "Spark's hash is a 32-bit Murmur3, DuckDB's a 64-bit hash of its own",
}


def to_spark_sql(sql: str) -> str:
    """The engine query (DuckDB dialect) as Spark SQL; QueryError when a construct has no
    Spark equivalent (sqlglot raises instead of writing something that means otherwise)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        for node in tree.find_all(exp.Func):
            name = node.sql_name().lower() if not isinstance(node, exp.Anonymous) else str(node.this).lower()
            if name in SAME_NAME_OTHER_MEANING:
                raise QueryError(f"Spark has no function {name} that computes what DuckDB's does: "
                                 f"{SAME_NAME_OTHER_MEANING[name]}",
                                 hint="run the query on the DuckDB engine (--engine duckdb)")
        return _spark_spelling(tree).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise QueryError(f"Spark cannot run this query: {_first_line(str(exc))}",
                         hint="run it on the DuckDB engine (--engine duckdb), or rewrite that part") from None


def _spark_spelling(tree: Any) -> Any:
    """DuckDB functions sqlglot writes for Spark by name although Spark lacks them, rewritten
    to what Spark has: ``isinf(x)`` is ``abs(x) = double('Infinity')``; ``quantile_cont(x, q)``
    and ``percentile_cont(q) WITHIN GROUP (ORDER BY x)`` are Spark's exact ``percentile(x, q)``
    (sqlglot would write a two-argument PERCENTILE_CONT Spark refuses, or the approximate
    PERCENTILE_APPROX, which gives other numbers)."""
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None \
                and not isinstance(node.parent, exp.WithinGroup):
            return exp.Anonymous(this="PERCENTILE", expressions=[node.this.copy(), node.expression.copy()])
        if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
            order = node.expression
            keys = order.expressions if isinstance(order, exp.Order) else []
            if len(keys) == 1 and isinstance(keys[0], exp.Ordered) and not keys[0].args.get("desc"):
                return exp.Anonymous(this="PERCENTILE", expressions=[keys[0].this.copy(), node.this.this.copy()])
        return node

    def finite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.IsInf):
            infinity = exp.cast(exp.Literal.string("Infinity"), "double")
            return exp.EQ(this=exp.Abs(this=node.this.copy()), expression=infinity)
        return node

    # inner spellings first: a rewritten aggregate takes copies of its (already rewritten) arguments
    return tree.transform(finite).transform(rewrite)


def run_query_spark(
    sql: str,
    catalog: ProductCatalog,
    *,
    spec: SparkEngineSpec | None = None,
    limit: int | None = None,
    views: Callable[[tuple[ProductBinding, ...]], Mapping[str, SecuredView]] | None = None,
    timeout: float | None = None,
    output: Path | None = None,
    cancel: CancelToken | None = None,
) -> QueryResult:
    """:func:`meshfabric.query.run_query` with the plan executed on Spark (``spec``: the
    ``engine:`` of mesh.yaml, default ``local[2]``); ``output`` as for :func:`execute_spark`;
    ``cancel`` stops the query's Spark jobs from another thread (QueryCancelled), as a passed
    time limit would."""
    from meshfabric.connectors.base import Deadline
    from meshfabric.query.guard import guard
    from meshfabric.query.planner import plan
    from meshfabric.query.secure import secure
    from meshfabric.spec.models import SparkEngineSpec

    deadline = Deadline(timeout) if timeout is not None else None
    if deadline is not None and cancel is not None:
        cancel.bind(deadline)
    start = time.perf_counter()
    guarded = guard(sql, catalog, limit=limit)
    query = guarded.expression if views is None else secure(guarded.expression, views(guarded.products))
    the_plan = plan(query, catalog, limit=limit)
    try:
        return execute_spark(the_plan, catalog, spec=spec or SparkEngineSpec(),
                             planning_seconds=time.perf_counter() - start, deadline=deadline, output=output)
    except KeyboardInterrupt:
        if deadline is None:
            raise
        deadline.cancel("interrupted")  # the job group is cancelled like at a passed limit
        raise QueryCancelled("interrupted", "Spark was running it") from None


def execute_spark(
    plan: Plan,
    catalog: ProductCatalog,
    *,
    spec: SparkEngineSpec,
    planning_seconds: float = 0.0,
    deadline: Deadline | None = None,
    output: Path | None = None,
) -> QueryResult:
    """Read every scan of ``plan`` on Spark, run its engine query there, return Arrow and stats
    (the same :class:`QueryResult` as the DuckDB engine; ``engine_seconds`` includes starting
    Spark when this process had not yet). With a ``deadline`` the Spark jobs of this query are
    cancelled when it passes and QueryTimeout says what was running.

    With ``output`` (a ``.parquet`` file) and executors on this machine (``local`` or a loopback
    master), the executors write the result there themselves — through a hidden folder beside
    it, renamed into place only when complete — and the result holds no rows but its schema,
    with ``rows_written`` set; on a remote cluster the rows come back as Arrow as usual."""
    from meshfabric.spark.session import spark_session

    _recheck(plan)
    spark_sql = to_spark_sql(plan.sql)
    started = time.perf_counter()
    spark, jars = spark_session(spec)
    sc = spark.sparkContext
    group = f"meshfabric-{uuid.uuid4().hex[:12]}"
    names = {s.name: s.product for s in plan.scans}
    stage = ["the scans were being read"]
    if deadline is not None:
        if deadline.expired:
            raise _stopped(deadline, "the query was being planned")
        deadline.start()
    reads: dict[str, ScanRead] = {}
    admitted: dict[str, int] = {}
    try:
        with deadline.cancels(lambda: sc.cancelJobGroup(group)) if deadline is not None else nullcontext():
            sc.setJobGroup(group, "meshfabric query", interruptOnCancel=True)
            try:
                for scan in plan.scans:
                    stage[0] = f"reading '{scan.product}' from source '{scan.source}'"
                    if deadline is not None:
                        deadline.check()
                    read = _read(spark, scan, catalog, jars, deadline)
                    frame, count = _secured(read.frame, scan)
                    if count is not None:
                        admitted[scan.name] = count
                    elif read.rows is None and read.how.startswith("jdbc"):
                        frame = frame.observe(_metric(scan), _count())
                    frame.createOrReplaceTempView(scan.name)
                    reads[scan.name] = read
                scanned = time.perf_counter()
                stage[0] = "Spark was running the query"
                result = spark.sql(spark_sql)
                if output is not None and _shares_disk(spec.master):
                    written = _write_parquet(result, output)
                    table = result.limit(0).toArrow()
                else:
                    written, table = None, result.toArrow()
                observed = _observed(result, plan.scans)
            except MeshfabricError:
                raise
            except Exception as exc:
                if deadline is not None and deadline.expired:
                    raise _stopped(deadline, stage[0]) from None
                raise query_error(exc, names) from None
            finally:
                sc.setLocalProperty("spark.jobGroup.id", None)
    finally:
        if deadline is not None:
            deadline.stop()
        for name in reads:
            spark.catalog.dropTempView(name)
    finished = time.perf_counter()
    stats = QueryStats(
        scans=tuple(_stats(scan, reads[scan.name], observed.get(scan.name), admitted.get(scan.name))
                    for scan in plan.scans),
        planning_seconds=planning_seconds,
        scan_seconds=scanned - started,
        engine_seconds=finished - scanned,
    )
    out = QueryResult(_plain(table), stats)
    if written is not None:
        out.rows_written = written  # type: ignore[attr-defined]
    return out


def _stopped(deadline: Deadline, running: str) -> QueryError:
    """QueryCancelled when the query was cancelled (a client gone, Ctrl-C), else QueryTimeout."""
    if getattr(deadline, "cancelled", None) is not None:
        return QueryCancelled(deadline.cancelled, running)
    return QueryTimeout(deadline.seconds, running)


def _shares_disk(master: str) -> bool:
    from meshfabric.spark.session import _loopback

    return _loopback(master)


def _write_parquet(result: DataFrame, output: Path) -> int:
    """Write ``result`` as one Parquet file at ``output`` from the executors; nothing is left at
    ``output`` unless the whole file was written. Returns its rows."""
    import shutil
    import uuid as _uuid

    import pyarrow.parquet as pq

    output = output.resolve()
    staging = output.parent / f".{output.name}.mf-spark-{_uuid.uuid4().hex[:8]}"
    try:
        result.coalesce(1).write.mode("errorifexists").parquet(str(staging))
        parts = sorted(staging.glob("part-*.parquet"))
        if len(parts) != 1:
            raise QueryError(f"Spark wrote {len(parts)} files for {output.name}, not one")
        rows = int(pq.read_metadata(parts[0]).num_rows)
        parts[0].replace(output)
        return rows
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read(spark: SparkSession, scan: Scan, catalog: ProductCatalog, jars: Any, deadline: Deadline | None) -> ScanRead:
    """One scan's DataFrame; a source that cannot be read is a SourceError naming it (a JDBC
    read connects here, to learn its columns)."""
    from meshfabric.spark.reads import read_scan

    started = time.perf_counter()
    try:
        read = read_scan(spark, scan, catalog, jars, deadline)
    except MeshfabricError:
        raise
    except Exception as exc:
        if deadline is not None and deadline.expired:
            raise
        raise SourceError(scan.source, f"reading product '{scan.product}' on Spark failed: {_java_cause(exc)}",
                          hint=f"check the source with `meshfabric sources test {scan.source}`") from None
    read.seconds = read.seconds or time.perf_counter() - started
    return read


def _secured(frame: DataFrame, scan: Scan) -> tuple[DataFrame, int | None]:
    """The rows of a secured scan its row filter admits, with the salt column, materialised
    (see the module docstring); other scans unchanged. Returns the frame and the rows admitted."""
    if scan.row_filter is None and scan.salt is None:
        return frame, None
    from pyspark.sql import functions as F

    from meshfabric.query.secure import SALT_COLUMN

    if scan.row_filter is not None:
        frame = frame.where(scan.row_filter.sql(dialect="spark"))
    if scan.salt is not None:
        frame = frame.withColumn(SALT_COLUMN, F.lit(scan.salt).cast("string"))
    try:
        frame = frame.localCheckpoint(eager=True)
        return frame, frame.count()
    except Exception as exc:
        cause = _java_cause(exc)
        if "SQLException" in cause or "Connection" in cause:  # the read failed, not the filter
            raise SourceError(scan.source, f"reading product '{scan.product}' on Spark failed: {cause}",
                              hint=f"check the source with `meshfabric sources test {scan.source}`") from None
        raise QueryError(
            f"the row filter of the access policy on '{scan.product}' could not be evaluated "
            "(a value does not fit its expression; the value is not shown)",
            hint="ask a workspace admin to check the policy (`meshfabric policy test`)",
        ) from None


def _metric(scan: Scan) -> str:
    return f"mf_rows_{scan.name}"


def _count() -> Any:
    from pyspark.sql import functions as F

    return F.count(F.lit(1)).alias("rows")


def _observed(result: DataFrame, scans: tuple[Scan, ...]) -> dict[str, int]:
    """Rows each observed JDBC scan returned while the query ran (Spark's observed metrics of
    the query's execution); scans Spark's optimizer removed are absent."""
    out: dict[str, int] = {}
    try:
        metrics = result._jdf.queryExecution().observedMetrics()
        for scan in scans:
            found = metrics.get(_metric(scan))
            if found.isDefined():
                out[scan.name] = int(found.get().getLong(0))
    except Exception:  # metrics are statistics: an engine without them reports no rows
        return out
    return out


def _stats(scan: Scan, read: ScanRead, observed: int | None, admitted: int | None) -> ScanStats:
    from meshfabric.query.guard import DIALECT

    in_engine = read.how in ("parquet", "csv", "json")
    rows = read.rows if read.rows is not None else (admitted if admitted is not None else observed or 0)
    return ScanStats(
        name=scan.name,
        product=scan.product,
        source=scan.source,
        columns=scan.columns,
        source_sql=read.source_sql,
        rows=0 if in_engine else rows,
        seconds=read.seconds,
        pushed_filters=tuple(f.sql(dialect=DIALECT) for f in scan.filters),
        kept_filters=tuple(f.sql(dialect=DIALECT) for f in scan.kept),
        limit=scan.limit,
        admitted_rows=admitted,
        placement="engine" if in_engine else "source",
    )


def _plain(table: Any) -> Any:
    """Spark's Arrow as the DuckDB engine gives it: timestamps with the session zone (UTC)
    keep it, nothing else changes; a table without columns keeps its rows."""
    return table


def _recheck(plan: Plan) -> None:
    """The guard again over the exact engine text: only the plan's scans may be read."""
    from meshfabric.query.guard import check_sql, product_tables
    from meshfabric.query.secure import SALT_COLUMN

    internal = {s.name for s in plan.scans}
    checked = check_sql(plan.sql, internal=internal | {"__mf_limited", SALT_COLUMN})
    for table in product_tables(checked):
        if table.args.get("db") or table.name.lower() not in internal:
            raise QueryError(f"internal error: the engine query still names '{table.sql()}'")


def query_error(exc: BaseException, names: dict[str, str]) -> QueryError:
    """One line saying what Spark refused, scan names shown as the products they read."""
    text = _java_cause(exc)
    routine = _ROUTINE.search(str(exc))
    condition = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    cls = condition() if callable(condition) else None
    if cls == "UNRESOLVED_ROUTINE" or (cls is None and routine is not None and "resolve" in str(exc).lower()):
        name = routine.group(1).split(".")[-1].lower() if routine else "a function of the query"
        return QueryError(f"Spark has no function {name}: the query cannot run on the Spark engine",
                          hint="run it on the DuckDB engine (--engine duckdb), or use a function both know")
    message = _SCAN_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), text)
    return QueryError(f"the query failed on Spark: {message}")


def _java_cause(exc: BaseException) -> str:
    """The first line of what went wrong, without Java stack frames or py4j wrapping."""
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            cause = java
            while cause.getCause() is not None:
                cause = cause.getCause()
            text = str(cause.toString())
        except Exception:
            text = str(exc)
    return _first_line(re.sub(r"^\s*(\[[A-Z_.]+\]\s*)", "", text))


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"
