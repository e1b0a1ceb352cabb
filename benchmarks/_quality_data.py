"""The quality benchmark's data, its 20 checks and their ground truth.

The data
    ``orders`` has ``rows`` rows (row index ``i`` in ``0 .. rows-1``) and ``customers`` 10,000
    (``customer_id`` 1..10,000). Every column is a function of ``i`` through its own
    *permutation* ``p = (i·A + B) mod rows`` with ``gcd(A, rows) = 1``: each ``p`` occurs exactly
    once, so "the rows with ``p < k``" are exactly ``k`` rows, scattered through the file rather
    than bunched at its start. Defects are such ranges of ``p`` — a column's nulls are
    ``p ∈ [0, k₁)``, its bad values ``p ∈ [k₁, k₁+k₂)`` — and their counts are known without
    reading a row. Values are plain arithmetic on ``p`` (plus DuckDB's ``md5`` of ``i`` for the
    tracking ids), so generating them needs no randomness and the sums behind the mean and the
    standard deviation are exact integer sums over ranges of ``p`` (amounts are whole cents).

    =============  =================================================================================
    order_id       ``i + 1``; rows with ``p < dup`` repeat the id of the row whose ``p`` is ``dup``
                   higher, so ``dup`` ids occur twice (``2·dup`` rows involved, ``dup`` values)
    customer_id    nulls; orphans (10,001 .. 15,000, not in ``customers``); else 1 .. 10,000
    email          nulls; malformed (no ``@``, no top-level domain, a space); else ``user<i>@<domain>``
    tracking_id    a UUID built from ``md5(i)``; malformed ones miss a digit or start with ``z``
    status         nulls; ``unknown`` / ``PAID`` (case differs) outside the accepted set; else one
                   of new, paid, shipped, delivered, cancelled
    amount         nulls; negative (-1.00 .. -501.00); above 10,000 (10,001.00 .. 100,001.00); else
                   spread evenly over 0.00 .. 10,000.00 (both bounds occur)
    quantity       1 .. 20, no defect
    sku            ``SKU-`` and six digits; too long (``-DISCONTINUED`` appended); lower-case ``sku-``
    created_at     2024-01-01 + 3·p seconds; stale ones in 2001
    =============  =================================================================================

Both tables are written as Parquet by DuckDB (``orders.parquet``, ``customers.parquet``) under
``benchmarks/.data/quality/rows<N>/``, and optionally loaded into PostgreSQL (database
``mf_bench_quality``; :func:`prepare_postgres`).

The checks
    :func:`suite` lists the 20 checks in a neutral form (kind, column, parameters) that each
    tool's runner translates into its own language, and :func:`ground_truth` gives each one's
    verdict and observed values from the defect counts alone. :func:`floor_sql` is the
    hand-written query computing every metric in one statement.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

DATA_ROOT = Path(__file__).resolve().parent / ".data" / "quality"
CUSTOMERS = 10_000
ORPHAN_SPAN = 5_000
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
BAD_STATUSES = ("unknown", "PAID")
FRESH_START = datetime(2024, 1, 1)
STALE_START = datetime(2001, 1, 1)
STALE_BEFORE = "2020-01-01 00:00:00"
#: bump when the generator changes: data (and PostgreSQL tables) of another version are rebuilt
GENERATOR_VERSION = 1

#: Injected defects, in rows per million (distinct numbers, so two counts swapped would show).
DEFECTS_PPM: dict[str, int] = {
    "duplicate_ids": 1_000,
    "null_customer": 2_000,
    "orphan_customer": 2_500,
    "null_email": 5_000,
    "bad_email": 3_700,
    "bad_uuid": 1_100,
    "null_status": 900,
    "bad_status": 1_300,
    "null_amount": 1_500,
    "negative_amount": 800,
    "large_amount": 1_200,
    "long_sku": 600,
    "lower_sku": 1_700,
    "stale_created": 2_200,
}

#: The column each permutation drives, with the fractions of ``rows`` its multiplier and offset
#: start from (irrational-ish, so neighbouring rows land far apart in ``p``).
_PERMUTATIONS: dict[str, tuple[float, float]] = {
    "order_id": (0.6180339887, 0.1234567),
    "customer_id": (0.4142135623, 0.2718281),
    "email": (0.7320508075, 0.3141592),
    "tracking_id": (0.2360679774, 0.5772156),
    "status": (0.3166247903, 0.6931471),
    "amount": (0.5615528128, 0.1414213),
    "quantity": (0.6457513110, 0.8660254),
    "sku": (0.1622776601, 0.4472135),
    "created_at": (0.8284271247, 0.9162907),
}

EMAIL_DOMAINS = ("example.com", "mail.example.org", "shop.example.net", "example.co.uk")
SKU_PATTERN = "^SKU-[0-9]{6}$"


@dataclass(frozen=True)
class Permutation:
    """``p = (i·a + b) mod n`` and its inverse ``i = (p - b)·a_inv mod n``."""

    a: int
    b: int
    a_inv: int

    def sql(self, n: int, index: str = "i") -> str:
        return f"(({index} * {self.a} + {self.b}) % {n})"


@dataclass(frozen=True)
class Layout:
    """Everything the generator, the ground truth and the floor need for ``rows`` rows."""

    rows: int
    counts: dict[str, int]
    perms: dict[str, Permutation]

    @property
    def directory(self) -> Path:
        return DATA_ROOT / f"rows{self.rows}"

    @property
    def orders_path(self) -> Path:
        return self.directory / "orders.parquet"

    @property
    def customers_path(self) -> Path:
        return self.directory / "customers.parquet"

    def fingerprint(self) -> str:
        """Identifies the generated data: the generator version, the size and the defect counts."""
        counts = ",".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"meshfabric quality benchmark v{GENERATOR_VERSION} rows={self.rows} {counts}"


def layout(rows: int) -> Layout:
    if rows < 10_000:
        raise ValueError("the quality benchmark needs at least 10,000 rows")
    counts = {name: rows * ppm // 1_000_000 for name, ppm in DEFECTS_PPM.items()}
    perms = {}
    for column, (fa, fb) in _PERMUTATIONS.items():
        a = max(2, int(rows * fa))
        while math.gcd(a, rows) != 1:
            a += 1
        perms[column] = Permutation(a, int(rows * fb) % rows, pow(a, -1, rows))
    return Layout(rows, counts, perms)


# -- generation -------------------------------------------------------------------------------------
def orders_select(lay: Layout) -> str:
    """The SELECT producing ``orders`` in DuckDB (see the module docstring for each column)."""
    n, c = lay.rows, lay.counts
    p = {col: perm.sql(n) for col, perm in lay.perms.items()}
    dup = c["duplicate_ids"]
    inv = lay.perms["order_id"]
    k_null_c, k_orphan = c["null_customer"], c["orphan_customer"]
    k_null_e, k_bad_e = c["null_email"], c["bad_email"]
    k_null_s, k_bad_s = c["null_status"], c["bad_status"]
    k_null_a, k_neg, k_big = c["null_amount"], c["negative_amount"], c["large_amount"]
    k_long, k_lower = c["long_sku"], c["lower_sku"]
    domains = " ".join(f"WHEN {k} THEN '{d}'" for k, d in enumerate(EMAIL_DOMAINS))
    statuses = " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(STATUSES))
    digits = "lpad(CAST(p_sku % 1000000 AS VARCHAR), 6, '0')"
    return f"""
SELECT
  CAST(CASE WHEN p_order < {dup} THEN ((p_order + {dup} + {n} - {inv.b}) % {n}) * {inv.a_inv} % {n} + 1
       ELSE i + 1 END AS BIGINT) AS order_id,
  CAST(CASE WHEN p_customer < {k_null_c} THEN NULL
       WHEN p_customer < {k_null_c + k_orphan} THEN {CUSTOMERS + 1} + p_customer % {ORPHAN_SPAN}
       ELSE 1 + p_customer % {CUSTOMERS} END AS BIGINT) AS customer_id,
  CASE WHEN p_email < {k_null_e} THEN NULL
       WHEN p_email < {k_null_e + k_bad_e} THEN
         CASE p_email % 3 WHEN 0 THEN 'user' || i || '.example.com'
                          WHEN 1 THEN 'user' || i || '@example'
                          ELSE 'user ' || i || '@example.com' END
       ELSE 'user' || i || '@' || CASE i % {len(EMAIL_DOMAINS)} {domains} END END AS email,
  CASE WHEN p_uuid >= {c["bad_uuid"]} THEN uuid
       WHEN p_uuid % 2 = 0 THEN left(uuid, 35)
       ELSE 'z' || right(uuid, 35) END AS tracking_id,
  CASE WHEN p_status < {k_null_s} THEN NULL
       WHEN p_status < {k_null_s + k_bad_s} THEN
         CASE p_status % 2 WHEN 0 THEN '{BAD_STATUSES[0]}' ELSE '{BAD_STATUSES[1]}' END
       ELSE CASE p_status % {len(STATUSES)} {statuses} END END AS status,
  CASE WHEN p_amount < {k_null_a} THEN NULL
       WHEN p_amount < {k_null_a + k_neg} THEN CAST(-(100 + (p_amount - {k_null_a}) * 50000 // {k_neg}) AS DOUBLE) / 100
       WHEN p_amount < {k_null_a + k_neg + k_big} THEN
         CAST(1000100 + (p_amount - {k_null_a + k_neg}) * 9000000 // {k_big} AS DOUBLE) / 100
       ELSE CAST((p_amount - {k_null_a + k_neg + k_big}) * 1000001 // {n - k_null_a - k_neg - k_big} AS DOUBLE) / 100
       END AS amount,
  CAST(1 + p_quantity % 20 AS INTEGER) AS quantity,
  CASE WHEN p_sku < {k_long} THEN 'SKU-' || {digits} || '-DISCONTINUED'
       WHEN p_sku < {k_long + k_lower} THEN 'sku-' || {digits}
       ELSE 'SKU-' || {digits} END AS sku,
  CASE WHEN p_created < {c["stale_created"]} THEN TIMESTAMP '{STALE_START:%Y-%m-%d %H:%M:%S}' + to_seconds(p_created)
       ELSE TIMESTAMP '{FRESH_START:%Y-%m-%d %H:%M:%S}' + to_seconds(3 * p_created) END AS created_at
FROM (
  SELECT i, {p["order_id"]} AS p_order, {p["customer_id"]} AS p_customer, {p["email"]} AS p_email,
         {p["tracking_id"]} AS p_uuid, {p["status"]} AS p_status, {p["amount"]} AS p_amount,
         {p["quantity"]} AS p_quantity, {p["sku"]} AS p_sku, {p["created_at"]} AS p_created,
         substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-'
           || substr(h, 21, 12) AS uuid
  FROM (SELECT range AS i, md5(CAST(range AS VARCHAR)) AS h FROM range({n}))
)"""


def customers_select() -> str:
    return f"SELECT CAST(range AS BIGINT) AS customer_id, 'customer ' || range AS name FROM range(1, {CUSTOMERS + 1})"


@dataclass
class Prepared:
    """Where the data is and what preparing it cost."""

    orders: Path
    customers: Path
    generated_seconds: float | None = None
    postgres_seconds: float | None = None
    postgres_reused: bool | None = None
    notes: list[str] = field(default_factory=list)


def generate(lay: Layout, log: Callable[[str], None]) -> Prepared:
    """Write both Parquet files unless files of this layout are already there."""
    import duckdb

    out = Prepared(lay.orders_path, lay.customers_path)
    stamp = lay.directory / "FINGERPRINT"
    if stamp.exists() and stamp.read_text() == lay.fingerprint() and lay.orders_path.exists():
        log(f"parquet: reusing {lay.directory}")
        return out
    lay.directory.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    log(f"parquet: generating {lay.rows:,} orders into {lay.directory} ...")
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET preserve_insertion_order = true")
        for path, select in ((lay.orders_path, orders_select(lay)), (lay.customers_path, customers_select())):
            tmp = path.with_suffix(".parquet.tmp")
            con.execute(f"COPY ({select}) TO '{tmp.as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
            tmp.replace(path)
    finally:
        con.close()
    stamp.write_text(lay.fingerprint())
    out.generated_seconds = time.perf_counter() - started
    log(f"parquet: generated in {out.generated_seconds:.1f} s")
    return out


# -- PostgreSQL -------------------------------------------------------------------------------------
PG_HOST, PG_PORT, PG_USER, PG_DATABASE = "127.0.0.1", 5432, "postgres", "mf_bench_quality"

_PG_COLUMNS = (
    ("order_id", "bigint"), ("customer_id", "bigint"), ("email", "text"), ("tracking_id", "text"),
    ("status", "text"), ("amount", "double precision"), ("quantity", "integer"), ("sku", "text"),
    ("created_at", "timestamp"),
)  # fmt: skip


def pg_url(database: str = PG_DATABASE) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def prepare_postgres(lay: Layout, prepared: Prepared, log: Callable[[str], None]) -> None:
    """Load both tables into ``mf_bench_quality`` unless the tables there carry this layout's
    fingerprint (kept as the ``orders`` table comment). ``COPY … FREEZE`` from the Parquet file
    rendered as CSV; ``customers`` gets its primary key, both tables are analysed."""
    import io

    import psycopg
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    admin_dsn = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone():
            admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
            log(f"postgres: created database {PG_DATABASE}")
    dsn = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DATABASE}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT obj_description(to_regclass('public.orders'), 'pg_class')").fetchone()
        if row and row[0] == lay.fingerprint():
            prepared.postgres_reused = True
            log(f"postgres: reusing {PG_DATABASE} (fingerprint matches)")
            return
        log(f"postgres: loading {lay.rows:,} orders into {PG_DATABASE} ...")
        started = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.execute("DROP TABLE IF EXISTS customers")
        tables = {
            "orders": (lay.orders_path, ", ".join(f"{name} {kind}" for name, kind in _PG_COLUMNS)),
            "customers": (lay.customers_path, "customer_id bigint, name text"),
        }
        for table, (path, columns) in tables.items():
            with conn.transaction():
                conn.execute(f"CREATE TABLE {table} ({columns})")
                with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, FREEZE)") as copy:
                    for batch in pq.ParquetFile(path).iter_batches(batch_size=200_000):
                        sink = io.BytesIO()
                        pcsv.write_csv(batch, sink, pcsv.WriteOptions(include_header=False))
                        copy.write(sink.getvalue())
        conn.execute("ALTER TABLE customers ADD PRIMARY KEY (customer_id)")
        conn.execute("VACUUM ANALYZE orders")
        conn.execute("VACUUM ANALYZE customers")
        conn.execute(f"COMMENT ON TABLE orders IS '{lay.fingerprint()}'")
        prepared.postgres_reused = False
        prepared.postgres_seconds = time.perf_counter() - started
        log(f"postgres: loaded in {prepared.postgres_seconds:.1f} s")


# -- the checks -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One check in a form every runner translates: ``kind`` names what is checked.

    kinds: ``row_count`` (min, max), ``not_null``, ``completeness`` (threshold: least share of
    non-null rows), ``unique``, ``regex`` (pattern; ``format`` names meshfabric's equivalent
    named format), ``accepted_values`` (values), ``range`` (min, max, inclusive; ``temporal``
    when the bounds are timestamps), ``length`` (max characters), ``statistic`` (statistic:
    mean | stddev | distinct_count, min, max), ``freshness`` (max_age, max_age_seconds: the
    newest value is at most that old), ``referential`` (table, key: non-null values exist there).
    Validity kinds ignore nulls; every bound is inclusive.
    """

    id: str
    kind: str
    column: str | None
    params: dict[str, Any]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def suite(lay: Layout) -> list[Check]:
    from meshfabric.spec.quality_rules import FORMATS

    n = lay.rows
    return [
        Check("c01", "row_count", None, {"min": n, "max": n}, f"row count = {n:,}"),
        Check("c02", "not_null", "order_id", {}, "order_id not null"),
        Check("c03", "unique", "order_id", {}, "order_id unique"),
        Check("c04", "not_null", "customer_id", {}, "customer_id not null"),
        Check("c05", "completeness", "email", {"threshold": 0.99}, "email ≥ 99% complete"),
        Check("c06", "regex", "email", {"pattern": FORMATS["email"], "format": "email"}, "email format"),
        Check("c07", "regex", "tracking_id", {"pattern": FORMATS["uuid"], "format": "uuid"}, "tracking_id uuid"),
        Check("c08", "accepted_values", "status", {"values": list(STATUSES)}, "status in accepted set"),
        Check("c09", "completeness", "status", {"threshold": 0.995}, "status ≥ 99.5% complete"),
        Check("c10", "range", "amount", {"min": 0, "max": 10_000}, "amount in [0, 10000]"),
        Check("c11", "statistic", "amount", {"statistic": "mean", "min": 4_900, "max": 5_200},
              "mean(amount) in [4900, 5200]"),
        Check("c12", "statistic", "amount", {"statistic": "stddev", "max": 3_000}, "stddev(amount) ≤ 3000"),
        Check("c13", "range", "quantity", {"min": 1, "max": 20}, "quantity in [1, 20]"),
        Check("c14", "statistic", "quantity", {"statistic": "mean", "min": 10, "max": 11},
              "mean(quantity) in [10, 11]"),
        Check("c15", "length", "sku", {"max": 10}, "length(sku) ≤ 10"),
        Check("c16", "regex", "sku", {"pattern": SKU_PATTERN, "format": None}, "sku matches ^SKU-[0-9]{6}$"),
        Check("c17", "statistic", "status", {"statistic": "distinct_count", "min": 5, "max": 7},
              "distinct(status) in [5, 7]"),
        Check("c18", "freshness", "created_at", {"max_age": "1d", "max_age_seconds": 86_400},
              "newest created_at ≤ 1 day old"),
        Check("c19", "range", "created_at", {"min": STALE_BEFORE, "temporal": True}, "created_at ≥ 2020-01-01"),
        Check("c20", "referential", "customer_id", {"table": "customers", "key": "customer_id"},
              "customer_id in customers"),
    ]  # fmt: skip


# -- the ground truth -------------------------------------------------------------------------------
#: How close an observed value must be to count as equal: counts are exact, statistics within a
#: relative 1e-9 (floating-point sums in another order), ages within 10 minutes of the tool's
#: own clock, percentages within 0.005 (tools that round them to two decimals).
TOLERANCE: dict[str, tuple[str, float]] = {
    "rows": ("abs", 0.0),
    "failing_rows": ("abs", 0.0),
    "duplicate_values": ("abs", 0.0),
    "value": ("rel", 1e-9),
    "age_seconds": ("abs", 600.0),
    "failing_percent": ("abs", 0.005),
}


@dataclass
class Truth:
    """A check's verdict and observed values, derived from the defect counts.

    ``observed`` holds every quantity some tool may report for the check: ``failing_rows``
    (rows failing a row-level check, nulls for completeness), ``duplicate_values``,
    ``failing_percent``, ``value`` (a statistic or the row count) and ``newest`` for freshness,
    whose age depends on when a tool looked (:meth:`expected`)."""

    passed: bool
    observed: dict[str, float]
    newest: datetime | None = None

    def expected(self, quantity: str, now: float | None) -> float | None:
        if quantity == "age_seconds":
            if self.newest is None or now is None:
                return None
            return now - self.newest.replace(tzinfo=UTC).timestamp()
        return self.observed.get(quantity)


def _range_sum(lo: int, hi: int, value: Callable[[Any], Any], chunk: int = 50_000) -> tuple[int, int]:
    """Exact ``Σ value(p)`` and ``Σ value(p)²`` over ``p ∈ [lo, hi)`` (integer values, int64 chunks)."""
    import numpy as np

    s1 = s2 = 0
    for start in range(lo, hi, chunk):
        v = value(np.arange(start, min(hi, start + chunk), dtype=np.int64))
        s1 += int(v.sum())
        s2 += int((v * v).sum())
    return s1, s2


def _mean_stddev(n: int, s1: int, s2: int, scale: int) -> tuple[float, float]:
    """Mean and sample standard deviation of ``n`` values ``x/scale`` from exact sums of ``x``."""
    mean = Fraction(s1, n * scale)
    variance = (Fraction(s2) - Fraction(s1 * s1, n)) / (n - 1) / (scale * scale)
    return float(mean), math.sqrt(variance)


def _distinct(lo: int, hi: int, value: Callable[[int], str]) -> set[str]:
    """The values over ``p ∈ [lo, hi)`` for a value that depends on ``p`` mod at most 10."""
    return {value(p) for p in range(lo, min(hi, lo + 10))}


def _in(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def ground_truth(lay: Layout, checks: list[Check]) -> dict[str, Truth]:
    """Every check's verdict and observed values, from the defect counts and exact range sums."""
    n, c = lay.rows, lay.counts

    def rows_rule(failing: int, checked: int, threshold: float = 1.0) -> Truth:
        share = (checked - failing) / checked if checked else 1.0
        return Truth(share >= threshold, {"failing_rows": failing, "failing_percent": 100.0 * failing / checked})

    # amount: nulls, negatives, large values, then the valid 0.00 .. 10000.00 (whole cents)
    a0 = c["null_amount"]
    a1 = a0 + c["negative_amount"]
    a2 = a1 + c["large_amount"]
    parts = [
        _range_sum(a0, a1, lambda p: -(100 + (p - a0) * 50_000 // (a1 - a0))),
        _range_sum(a1, a2, lambda p: 1_000_100 + (p - a1) * 9_000_000 // (a2 - a1)),
        _range_sum(a2, n, lambda p: (p - a2) * 1_000_001 // (n - a2)),
    ]
    amount_mean, amount_sd = _mean_stddev(n - a0, sum(s for s, _ in parts), sum(q for _, q in parts), 100)
    q1, q2 = _range_sum(0, n, lambda p: 1 + p % 20)
    quantity_mean, quantity_sd = _mean_stddev(n, q1, q2, 1)
    s0 = c["null_status"]
    s1 = s0 + c["bad_status"]
    statuses = _distinct(s0, s1, lambda p: BAD_STATUSES[p % 2]) | _distinct(s1, n, lambda p: STATUSES[p % 5])
    stats = {
        ("amount", "mean"): amount_mean,
        ("amount", "stddev"): amount_sd,
        ("quantity", "mean"): quantity_mean,
        ("quantity", "stddev"): quantity_sd,
        ("status", "distinct_count"): float(len(statuses)),
    }
    failing = {
        "c02": (0, n),
        "c03": (2 * c["duplicate_ids"], n),
        "c04": (c["null_customer"], n),
        "c05": (c["null_email"], n),
        "c06": (c["bad_email"], n - c["null_email"]),
        "c07": (c["bad_uuid"], n),
        "c08": (c["bad_status"], n - c["null_status"]),
        "c09": (c["null_status"], n),
        "c10": (c["negative_amount"] + c["large_amount"], n - c["null_amount"]),
        "c13": (0, n),
        "c15": (c["long_sku"], n),
        "c16": (c["long_sku"] + c["lower_sku"], n),
        "c19": (c["stale_created"], n),
        "c20": (c["orphan_customer"], n - c["null_customer"]),
    }
    newest = FRESH_START + timedelta(seconds=3 * (n - 1))
    out: dict[str, Truth] = {}
    for check in checks:
        prm = check.params
        if check.id in failing:
            bad, checked = failing[check.id]
            truth = rows_rule(bad, checked, float(prm.get("threshold", 1.0)))
            if check.kind == "unique":
                truth.observed["duplicate_values"] = c["duplicate_ids"]
            out[check.id] = truth
        elif check.kind == "row_count":
            out[check.id] = Truth(_in(n, prm.get("min"), prm.get("max")), {"rows": n, "value": n})
        elif check.kind == "statistic":
            value = stats[(str(check.column), prm["statistic"])]
            out[check.id] = Truth(_in(value, prm.get("min"), prm.get("max")), {"value": value})
        elif check.kind == "freshness":
            age = datetime.now(UTC).timestamp() - newest.replace(tzinfo=UTC).timestamp()
            out[check.id] = Truth(age <= prm["max_age_seconds"], {}, newest=newest)
        else:
            raise ValueError(f"no ground truth for check {check.id} ({check.kind})")
    return out


# -- the floor: one hand-written statement ----------------------------------------------------------
def floor_sql(orders: str, customers: str, dialect: str = "duckdb") -> str:
    """Every metric of the suite in one statement over ``orders`` and ``customers`` (relations as
    FROM-clause text): one aggregate pass, one GROUP BY for duplicates, one anti-join.

    In PostgreSQL the distinct count gets a pass of its own: a ``COUNT(DISTINCT …)`` cannot be
    a partial aggregate there, and in the main pass it would keep the whole pass from using
    parallel workers (DuckDB has no such limit, so there it stays in the main pass)."""
    from meshfabric.spec.quality_rules import FORMATS

    def like(col: str, pattern: str) -> str:
        return f"regexp_matches({col}, '{pattern}')" if dialect == "duckdb" else f"{col} ~ '{pattern}'"

    accepted = ", ".join(f"'{s}'" for s in STATUSES)
    distinct = "count(DISTINCT status) AS c17_value"
    apart = dialect != "duckdb"
    in_main = "" if apart else f"\n         {distinct},"
    own_pass = f",\n(SELECT {distinct} FROM {orders}) AS dist" if apart else ""
    return f"""
SELECT * FROM (
  SELECT count(*) AS n,
         count(*) - count(order_id) AS c02_nulls,
         count(*) - count(customer_id) AS c04_nulls,
         count(*) - count(email) AS c05_nulls,
         count(CASE WHEN NOT {like("email", FORMATS["email"])} THEN 1 END) AS c06_failing,
         count(CASE WHEN NOT {like("tracking_id", FORMATS["uuid"])} THEN 1 END) AS c07_failing,
         count(CASE WHEN status NOT IN ({accepted}) THEN 1 END) AS c08_failing,
         count(*) - count(status) AS c09_nulls,
         count(CASE WHEN amount < 0 OR amount > 10000 THEN 1 END) AS c10_failing,
         avg(amount) AS c11_value,
         stddev_samp(amount) AS c12_value,
         count(CASE WHEN quantity < 1 OR quantity > 20 THEN 1 END) AS c13_failing,
         avg(CAST(quantity AS DOUBLE PRECISION)) AS c14_value,
         count(CASE WHEN length(sku) > 10 THEN 1 END) AS c15_failing,
         count(CASE WHEN NOT {like("sku", SKU_PATTERN)} THEN 1 END) AS c16_failing,{in_main}
         max(created_at) AS c18_newest,
         count(CASE WHEN created_at < TIMESTAMP '{STALE_BEFORE}' THEN 1 END) AS c19_failing
  FROM {orders}
) AS agg,
(
  SELECT count(*) AS c03_values, coalesce(sum(k), 0) AS c03_failing
  FROM (SELECT count(*) AS k FROM {orders} WHERE order_id IS NOT NULL GROUP BY order_id HAVING count(*) > 1) AS d
) AS dup,
(
  SELECT count(*) AS c20_failing FROM {orders} AS o
  WHERE o.customer_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM {customers} AS c WHERE c.customer_id = o.customer_id)
) AS orphans{own_pass}"""


def floor_results(row: dict[str, Any], checks: list[Check], now: float) -> dict[str, dict[str, Any]]:
    """The floor's metrics judged against each check's bounds, in the runners' result shape."""
    n = int(row["n"])
    out: dict[str, dict[str, Any]] = {}
    for check in checks:
        prm = check.params
        observed: dict[str, float] = {}
        if check.kind == "row_count":
            observed = {"rows": n}
            passed = _in(n, prm.get("min"), prm.get("max"))
        elif check.kind == "freshness":
            newest = row["c18_newest"]
            age = now - newest.replace(tzinfo=UTC).timestamp()
            observed = {"age_seconds": age}
            passed = age <= prm["max_age_seconds"]
        elif check.kind == "statistic":
            value = float(row[f"{check.id}_value"])
            observed = {"value": value}
            passed = _in(value, prm.get("min"), prm.get("max"))
        else:
            bad = int(row.get(f"{check.id}_failing", row.get(f"{check.id}_nulls", 0)) or 0)
            observed = {"failing_rows": bad}
            passed = (n - bad) / n >= prm["threshold"] if check.kind == "completeness" else bad == 0
            if check.kind == "unique":
                observed["duplicate_values"] = int(row["c03_values"])
        out[check.id] = {"passed": passed, "observed": observed}
    return out
