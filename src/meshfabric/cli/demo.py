"""``meshfabric demo``: a three-domain mesh over real, locally generated data.

CRM customers live in a SQLite database, sales orders in a DuckDB database file and logistics
shipments in Parquet files. The demo writes the workspace, applies it, and answers a question
no single domain can: revenue and delivery times by country and carrier, in one SQL statement.
Then it evolves a schema, guards a data contract, runs quality rules and the anomaly monitor on
a day whose load ran twice, searches the catalog, follows the column lineage of a product
defined by SQL and the impact of a change, and lets two people with different roles ask the
same question. Data is generated deterministically (hash-based, no randomness, no downloads).

The data is dated up to yesterday, and the demo leaves history for the dashboard: the last
:data:`HISTORY_DAYS` days are replayed day by day (:class:`History`). Each morning that day's
loads land in the sources — a few of them defective, as loads are: a CRM import that writes
lower-case country codes, a partner feed in cents, a missed sales load, a load that ran twice,
two days without shipment files — then the quality rules, the freshness and availability
probes and the SLO checks run for real over the data as it stood, and the analysts' queries
run at their hours. Each is recorded at the time it stands for (the ``at=`` of the services);
every number comes from a real run.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    import duckdb

MARKER = ".meshfabric-demo"

MESH_YAML = """\
# The demo mesh: three domains, three kinds of source, no servers.
name: acme-demo
description: Demo workspace created by `meshfabric demo`
sources:
  crm_db:
    kind: sqlite
    path: data/crm.sqlite
    description: The CRM team's operational database
  sales_db:
    kind: duckdb
    path: data/sales.duckdb
    description: The sales team's analytical database
  lake:
    kind: files
    path: data/lake
    description: Logistics events landed as Parquet
domains:
  crm:
    description: Customers and accounts
    owners: [crm-team@acme.example]
  sales:
    description: Orders and revenue
    owners: [sales-team@acme.example]
  logistics:
    description: Warehouses, carriers and shipments
    owners: [logistics-team@acme.example]
    slos:                       # shipment files land every morning: more than a day old is stale
      freshness: {max_minutes: 1680}
slos:                           # loads run once a day: data dated yesterday is fresh
  freshness: {max_minutes: 2880}
access:
  local_principal: ops          # who this CLI/SDK acts as; a workspace admin
  admins: [ops]
"""

ACCESS_POLICY_YAML = """\
# Applied with the specs: masks and row filters per role, enforced on every query.
kind: AccessPolicy
name: customer-privacy
rules:
  - to: {role: marketing}
    product: crm.customers
    columns:
      email: hash                      # salted SHA-256: joinable, not readable
      name: {show_first_n: 1}
    row_filter: "country = {user.country}"
  - to: {role: finance}
    tag: pii                           # every column classified pii, in every product
    mask: redact
"""

CUSTOMERS_YAML = """\
kind: DataProduct
domain: crm
name: customers
owner: crm-team@acme.example
description: One row per customer, with country and segment. Email and name are personal data.
tags: [customer, master-data]
status: published
version: 1.0.0
output:
  source: crm_db
  table: customers
schema:
  - {name: customer_id, type: bigint, nullable: false, description: Customer key}
  - {name: name, type: string, classification: [pii]}
  - {name: email, type: string, classification: [pii]}
  - {name: country, type: string, description: ISO 3166 alpha-2}
  - {name: segment, type: string, description: "consumer, smb or enterprise"}
  - {name: signup_date, type: date}
quality:
  - {type: not_null, column: email}
  - {type: accepted_values, column: country, values: [DE, FR, ES, PT, NL, PL]}
"""

ORDERS_YAML = """\
kind: DataProduct
domain: sales
name: orders
owner: sales-team@acme.example
description: Every order placed in any channel, with its final status and amount in EUR.
tags: [orders, revenue]
status: published
version: 2.1.0
output:
  source: sales_db
  table: orders
schema:
  - {name: order_id, type: bigint, nullable: false}
  - {name: customer_id, type: bigint, nullable: false, description: crm.customers.customer_id}
  - {name: order_date, type: date, nullable: false}
  - {name: channel, type: string, description: "web, store or partner"}
  - {name: status, type: string, description: "completed, cancelled or returned"}
  - {name: amount, type: "decimal(12,2)", description: Order total in EUR}
quality:
  - {type: uniqueness, column: order_id}
  - {type: not_null, column: customer_id}
  - {type: accepted_values, column: status, values: [completed, returned, cancelled]}
  - {type: range, column: amount, min: 0, max: 1000, severity: warning}
  - {type: freshness, column: order_date, max_age: 48h}
  - {type: schema}
"""

SHIPMENTS_YAML = """\
kind: DataProduct
domain: logistics
name: shipments
owner: logistics-team@acme.example
description: One row per shipped order; delivered_at is empty while in transit.
tags: [shipments, delivery]
status: published
version: 1.3.0
output:
  source: lake
  path: shipments/*.parquet
schema:
  - {name: shipment_id, type: bigint, nullable: false}
  - {name: order_id, type: bigint, nullable: false, description: sales.orders.order_id}
  - {name: carrier, type: string}
  - {name: warehouse, type: string}
  - {name: shipped_at, type: timestamp}
  - {name: delivered_at, type: timestamp}
  - {name: cost, type: "decimal(10,2)", description: Shipping cost in EUR}
quality:
  - {type: not_null, column: carrier}
  - {type: freshness, column: shipped_at, max_age: 28h}
"""

DAILY_REVENUE_YAML = """\
kind: DataProduct
domain: sales
name: daily_revenue
owner: finance-analytics@acme.example
description: Completed revenue per day and channel, derived in the sales database by SQL.
tags: [revenue, finance]
status: published
version: 1.0.0
output:
  source: sales_db
  sql: |
    SELECT order_date AS day, channel,
           count(*) AS orders,
           sum(amount) AS revenue_eur,
           round(avg(amount), 2) AS avg_order_eur
    FROM orders
    WHERE status = 'completed'
    GROUP BY order_date, channel
schema:
  - {name: day, type: date, nullable: false}
  - {name: channel, type: string}
  - {name: orders, type: bigint, nullable: false}
  - {name: revenue_eur, type: "decimal(38,2)"}
  - {name: avg_order_eur, type: double}
"""

QUESTION = "Revenue and delivery time by country and carrier, completed orders of the last 12 months"
_DEMO_SQL = """\
SELECT c.country,
       s.carrier,
       count(*)                                   AS orders,
       sum(o.amount)                              AS revenue_eur,
       round(avg(date_diff('hour', s.shipped_at, s.delivered_at)) / 24.0, 1) AS avg_delivery_days
FROM sales.orders AS o
JOIN crm.customers AS c ON c.customer_id = o.customer_id
JOIN logistics.shipments AS s ON s.order_id = o.order_id
WHERE o.status = 'completed'
  AND o.order_date >= DATE '{since}'
  AND c.segment <> 'enterprise'
GROUP BY c.country, s.carrier
ORDER BY revenue_eur DESC
LIMIT 10"""


def demo_sql(today: dt.date) -> str:
    """The cross-domain question, over the twelve months before ``today``."""
    return _DEMO_SQL.format(since=(today - dt.timedelta(days=365)).isoformat())


#: days of history replayed before today; the data is dated up to yesterday
HISTORY_DAYS = 30
ORDER_DAYS = 690
SIGNUP_DAYS = 1400

# What goes wrong during the replayed days, in days before today (the morning it happens).
#: a CRM import writes lower-case country codes for a tenth of the customers; reverted later
CRM_IMPORT, CRM_FIXED = 26, 23
#: order dates whose partner-channel amounts arrive in cents; corrected in the source later
PARTNER_CENTS, PARTNER_FIXED = (21, 20, 19), 16
#: the morning the sales load does not run (the next morning loads both days)
SALES_MISSED = 13
#: the order date whose load runs twice (never cleaned: the demo's quality step finds it)
DOUBLE_LOAD = 10
#: mornings without shipment files in the lake (the backlog lands the morning after)
LAKE_MISSED = (6, 5)
#: the working week: weekday → the hour the analyst queries (the report job runs at 07:05; no
#: one queries at weekends)
ANALYST_HOURS = {0: 9, 1: 14, 2: 11, 3: 16, 4: 10}
#: who runs the daily revenue report
REPORT_BOT = "reporting-bot"


def double_load_day(today: dt.date) -> dt.date:
    return today - dt.timedelta(days=DOUBLE_LOAD)


# hash-based pseudo-random in [0, 1): deterministic across runs and platforms
_R = "((hash(i, '{salt}') % 1000003) / 1000003.0)"


def _r(salt: str) -> str:
    return _R.format(salt=salt)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class DemoSizes:
    customers: int = 5_000
    orders: int = 200_000


@dataclass
class DemoReport:
    directory: Path
    steps: list[tuple[str, float]] = field(default_factory=list)


class DemoData:
    """The demo's data, generated in an in-memory DuckDB (hash-based, dated up to yesterday), and
    the loads that put it into the three sources: everything dated before the replayed days at
    once (:meth:`initial_load`), then one morning at a time (:meth:`morning`)."""

    def __init__(self, root: Path, sizes: DemoSizes, today: dt.date) -> None:
        import duckdb

        self.data = root / "data"
        self.today = today
        self.con: duckdb.DuckDBPyConnection = duckdb.connect()
        #: dates loaded late: the next morning that runs loads them (sales, lake)
        self.pending: dict[str, list[dt.date]] = {"sales": [], "lake": []}
        self._generate(sizes)

    def close(self) -> None:
        self.con.close()

    def day(self, back: int) -> dt.date:
        return self.today - dt.timedelta(days=back)

    def _generate(self, sizes: DemoSizes) -> None:
        t = self.today.isoformat()
        self.con.execute(f"""
            CREATE TABLE customers AS
            SELECT i AS customer_id,
                   list_extract(['Ana','Ben','Chloé','Dev','Eun','Fatima','Goran','Hiro','Ines','Jonas'],
                                1 + (hash(i, 'fn') % 10)::INT) || ' ' ||
                   list_extract(['Silva','Müller','Dubois','Rossi','Kowalski','Nakamura','García','Smith'],
                                1 + (hash(i, 'ln') % 8)::INT) AS name,
                   'customer' || i || '@' || list_extract(['mail.example','corp.example','web.example'],
                                1 + (hash(i, 'dom') % 3)::INT) AS email,
                   CASE WHEN {_r('c')} < 0.30 THEN 'DE' WHEN {_r('c')} < 0.50 THEN 'FR' WHEN {_r('c')} < 0.65 THEN 'ES'
                        WHEN {_r('c')} < 0.78 THEN 'PT' WHEN {_r('c')} < 0.90 THEN 'NL' ELSE 'PL' END AS country,
                   CASE WHEN {_r('s')} < 0.70 THEN 'consumer' WHEN {_r('s')} < 0.93 THEN 'smb' ELSE 'enterprise' END
                        AS segment,
                   DATE '{t}' - {SIGNUP_DAYS} + (hash(i, 'signup') % {SIGNUP_DAYS})::INT AS signup_date
            FROM range(1, {sizes.customers} + 1) t(i)
        """)
        self.con.execute(f"""
            CREATE TABLE orders AS
            SELECT i AS order_id,
                   1 + (hash(i, 'cust') % {sizes.customers})::BIGINT AS customer_id,
                   DATE '{t}' - {ORDER_DAYS} + (hash(i, 'day') % {ORDER_DAYS})::INT AS order_date,
                   CASE WHEN {_r('ch')} < 0.6 THEN 'web' WHEN {_r('ch')} < 0.9 THEN 'store' ELSE 'partner' END
                        AS channel,
                   CASE WHEN {_r('st')} < 0.88 THEN 'completed' WHEN {_r('st')} < 0.95 THEN 'returned'
                        ELSE 'cancelled' END AS status,
                   round(5 + 495 * {_r('amt')} * {_r('amt2')} + 20 * {_r('amt3')}, 2)::DECIMAL(12,2) AS amount
            FROM range(1, {sizes.orders} + 1) t(i)
        """)
        # shipped 8 to 56 hours after the order day; in transit (no delivered_at) until delivered;
        # shipments not shipped by today do not exist yet
        self.con.execute(f"""
            CREATE TABLE shipments AS
            WITH s AS (
                SELECT order_id,
                       list_extract(['DHL','UPS','GLS','DPD','PostNL'], 1 + (hash(order_id, 'car') % 5)::INT)
                            AS carrier,
                       list_extract(['Hamburg','Lyon','Zaragoza','Poznań'], 1 + (hash(order_id, 'wh') % 4)::INT)
                            AS warehouse,
                       order_date + INTERVAL 8 HOUR + to_hours((hash(order_id, 'ship') % 48)::INT) AS shipped_at,
                       order_date + INTERVAL 8 HOUR + to_hours((hash(order_id, 'ship') % 48)::INT)
                            + to_hours((12 + (hash(order_id, 'dlv') % 120) +
                                        [0, 10, 36, 20, 50][1 + (hash(order_id, 'car') % 5)::INT])::INT) AS delivered,
                       round(3.5 + 12 * ((hash(order_id, 'cost') % 1000) / 1000.0), 2)::DECIMAL(10,2) AS cost
                FROM orders WHERE status <> 'cancelled')
            SELECT row_number() OVER (ORDER BY order_id) AS shipment_id, order_id, carrier, warehouse, shipped_at,
                   CASE WHEN delivered < TIMESTAMP '{t}' THEN delivered END AS delivered_at, cost
            FROM s WHERE shipped_at < TIMESTAMP '{t}'
        """)

    def counts(self) -> dict[str, int]:
        counts = {t: int(self.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
                  for t in ("customers", "orders", "shipments")}
        day = double_load_day(self.today)
        counts[f"orders of {day} loaded twice"] = int(self.con.execute(
            "SELECT count(*) FROM orders WHERE order_date = ?", [day]).fetchone()[0])  # type: ignore[index]
        return counts

    # -- the sources ---------------------------------------------------------------------------
    def initial_load(self) -> None:
        """Everything dated before the first replayed morning's loads, into fresh sources."""
        cutoff = self.day(HISTORY_DAYS + 1)
        (self.data / "lake" / "shipments").mkdir(parents=True, exist_ok=True)
        sqlite_path = self.data / "crm.sqlite"
        sqlite_path.unlink(missing_ok=True)
        with sqlite3.connect(sqlite_path) as lite:
            lite.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
                         "country TEXT, segment TEXT, signup_date DATE)")
        self._customers("signup_date < ?", cutoff)
        duck_path = self.data / "sales.duckdb"
        duck_path.unlink(missing_ok=True)
        self.con.execute(f"ATTACH {_quote(duck_path)} AS sales_file")
        try:
            self.con.execute("CREATE TABLE sales_file.orders AS SELECT * FROM orders WHERE order_date < ? "
                             "ORDER BY order_id", [cutoff])
        finally:
            self.con.execute("DETACH sales_file")
        # logistics: Parquet files, one per quarter of shipping, then one per day
        for old in (self.data / "lake" / "shipments").glob("*.parquet"):
            old.unlink()
        quarter = "strftime(shipped_at, '%Y-Q') || quarter(shipped_at)"
        quarters = self.con.execute(f"SELECT DISTINCT {quarter} FROM shipments WHERE shipped_at < ? ORDER BY 1",
                                    [cutoff]).fetchall()
        for (q,) in quarters:
            target = self.data / "lake" / "shipments" / f"shipments-{q}.parquet"
            self.con.execute(f"COPY (SELECT * FROM shipments WHERE {quarter} = ? AND shipped_at < ? "
                             f"ORDER BY shipment_id) TO {_quote(target)} (FORMAT parquet)", [q, cutoff])

    def _customers(self, where: str, *params: Any) -> int:
        rows = self.con.execute("SELECT customer_id, name, email, country, segment, CAST(signup_date AS VARCHAR) "
                                f"FROM customers WHERE {where} ORDER BY customer_id", list(params)).fetchall()
        with sqlite3.connect(self.data / "crm.sqlite") as lite:
            lite.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def _orders(self, day: dt.date, *, times: int = 1, cents: bool = False) -> None:
        amount = "CASE WHEN channel = 'partner' THEN CAST(amount * 100 AS DECIMAL(12,2)) ELSE amount END" \
            if cents else "amount"
        self.con.execute(f"ATTACH {_quote(self.data / 'sales.duckdb')} AS sales_file")
        try:
            for _ in range(times):
                self.con.execute(f"INSERT INTO sales_file.orders SELECT order_id, customer_id, order_date, channel, "
                                 f"status, {amount} FROM orders WHERE order_date = ? ORDER BY order_id", [day])
        finally:
            self.con.execute("DETACH sales_file")

    def _sales_sql(self, sql: str, params: list[Any]) -> None:
        self.con.execute(f"ATTACH {_quote(self.data / 'sales.duckdb')} AS sales_file")
        try:
            self.con.execute(sql, params)
        finally:
            self.con.execute("DETACH sales_file")

    def _land(self, day: dt.date) -> None:
        target = self.data / "lake" / "shipments" / f"shipments-{day.isoformat()}.parquet"
        start = dt.datetime.combine(day, dt.time())
        self.con.execute(f"COPY (SELECT * FROM shipments WHERE shipped_at >= ? AND shipped_at < ? "
                         f"ORDER BY shipment_id) TO {_quote(target)} (FORMAT parquet)",
                         [start, start + dt.timedelta(days=1)])

    def morning(self, day: dt.date) -> list[str]:
        """The loads of ``day``'s morning (the data dated the day before, and any backlog) with
        what went wrong in them; returns what happened, for the report. ``day`` is today for the
        last load, which brings everything up to yesterday."""
        back = (self.today - day).days
        yesterday = day - dt.timedelta(days=1)
        notes: list[str] = []
        self._customers("signup_date = ?", yesterday)
        if back == CRM_IMPORT:
            with sqlite3.connect(self.data / "crm.sqlite") as lite:
                n = lite.execute("UPDATE customers SET country = lower(country) WHERE customer_id % 10 = 3").rowcount
            notes.append(f"crm: an import wrote lower-case country codes for {n:,} customers")
        if back == CRM_FIXED:
            with sqlite3.connect(self.data / "crm.sqlite") as lite:
                n = lite.execute("UPDATE customers SET country = upper(country) WHERE country <> upper(country)"
                                 ).rowcount
            notes.append(f"crm: the {n:,} country codes were repaired")
        self.pending["sales"].append(yesterday)
        if back == SALES_MISSED:
            notes.append(f"sales: the load of {yesterday} did not run")
        else:
            for d in self.pending["sales"]:
                back_d = (self.today - d).days
                self._orders(d, times=2 if back_d == DOUBLE_LOAD else 1, cents=back_d in PARTNER_CENTS)
                if back_d == DOUBLE_LOAD:
                    notes.append(f"sales: the load of {d} ran twice")
                if back_d in PARTNER_CENTS and back_d == max(PARTNER_CENTS):
                    notes.append(f"sales: the partner feed sends amounts in cents (from the orders of {d})")
            if len(self.pending["sales"]) > 1:
                notes.append(f"sales: the loads of {', '.join(str(d) for d in self.pending['sales'])} caught up")
            self.pending["sales"].clear()
        if back == PARTNER_FIXED:
            dates = [self.day(b) for b in PARTNER_CENTS]
            self._sales_sql("UPDATE sales_file.orders SET amount = CAST(amount / 100 AS DECIMAL(12,2)) "
                            "WHERE channel = 'partner' AND order_date IN (?, ?, ?)", dates)
            notes.append(f"sales: the partner amounts of {dates[0]} to {dates[-1]} were corrected")
        self.pending["lake"].append(yesterday)
        if back in LAKE_MISSED:
            notes.append(f"logistics: no shipment file landed (shipments of {yesterday})")
        else:
            for d in self.pending["lake"]:
                self._land(d)
            if len(self.pending["lake"]) > 1:
                notes.append(f"logistics: the backlog of {len(self.pending['lake'])} days of shipment files landed")
            self.pending["lake"].clear()
        return notes


def generate_data(root: Path, sizes: DemoSizes, today: dt.date | None = None) -> tuple[DemoData, dict[str, int]]:
    """Generate the data and write what is dated before the replayed days into the sources;
    returns the data (for the daily loads) and row counts."""
    data = DemoData(root, sizes, today or dt.datetime.now(dt.UTC).date())
    try:
        data.initial_load()
        return data, data.counts()
    except BaseException:
        data.close()
        raise


def write_workspace(root: Path) -> None:
    files = {
        "mesh.yaml": MESH_YAML,
        "products/crm/customers.yaml": CUSTOMERS_YAML,
        "products/sales/orders.yaml": ORDERS_YAML,
        "products/logistics/shipments.yaml": SHIPMENTS_YAML,
        "products/sales/daily_revenue.yaml": DAILY_REVENUE_YAML,
        "policies/customer-privacy.yaml": ACCESS_POLICY_YAML,
        ".gitignore": ".meshfabric/\ndata/\n",
        MARKER: "created by meshfabric demo; `meshfabric demo` may overwrite this folder\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def prepare_directory(root: Path) -> None:
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise ConfigError(f"{root} exists and is not a meshfabric demo folder",
                          hint="pass an empty or new folder: meshfabric demo DIR")
    state = root / ".meshfabric"
    if state.exists():
        import shutil

        shutil.rmtree(state)
    root.mkdir(parents=True, exist_ok=True)


@dataclass
class HistoryDay:
    """What one replayed day did: the morning's incidents and the measurements taken over the
    data as it stood."""

    day: dt.date
    notes: list[str]
    #: product → (score, rules that failed) of its quality run at 06:00
    quality: dict[str, tuple[float | None, list[str]]] = field(default_factory=dict)
    #: product → minutes since its newest data, probed at 06:05 (None: not measurable)
    freshness: dict[str, float | None] = field(default_factory=dict)
    queries: list[dt.datetime] = field(default_factory=list)


@dataclass
class History:
    days: list[HistoryDay] = field(default_factory=list)
    #: the alerts the replayed runs and checks raised (the workspace had none before), as they are now
    alerts: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def quality_runs(self) -> int:
        return sum(len(d.quality) for d in self.days)

    @property
    def probes(self) -> int:
        return sum(len(d.freshness) for d in self.days)

    @property
    def queries(self) -> list[dt.datetime]:
        return [q for d in self.days for q in d.queries]


def workload(day: dt.date) -> list[tuple[dt.datetime, str | None, str]]:
    """The queries of ``day``: (when, as whom — None is the workspace's local principal, SQL),
    each about the data loaded that morning: on working days the revenue report at 07:05 and one
    analyst's question at the hour of :data:`ANALYST_HOURS`."""
    def at(hour: int, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)

    hour = ANALYST_HOURS.get(day.weekday())
    if hour is None:
        return []
    yesterday = (day - dt.timedelta(days=1)).isoformat()
    report = (at(7, 5), REPORT_BOT, (
        "SELECT channel, count(*) AS orders, sum(amount) AS revenue_eur FROM sales.orders "
        f"WHERE order_date = DATE '{yesterday}' AND status = 'completed' GROUP BY channel ORDER BY channel"))
    if day.weekday() % 2 == 0:
        analyst = (at(hour, 20), None, (
            "SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue_eur "
            "FROM sales.orders AS o JOIN crm.customers AS c ON c.customer_id = o.customer_id "
            f"WHERE o.order_date = DATE '{yesterday}' GROUP BY c.country ORDER BY revenue_eur DESC"))
    else:
        analyst = (at(hour, 40), None, (
            "SELECT carrier, count(*) AS shipments, round(avg(cost), 2) AS avg_cost_eur FROM logistics.shipments "
            f"WHERE shipped_at >= TIMESTAMP '{yesterday} 00:00:00' GROUP BY carrier ORDER BY carrier"))
    return [report, analyst]


def replay_history(mesh: Any, data: DemoData, progress: Callable[[str, int, int], None] | None = None) -> History:
    """Replay the last :data:`HISTORY_DAYS` days: each morning's loads at 05:00, the quality
    rules at 06:00, probes at 06:05, SLO checks at 06:10, the day's queries at their hours — all
    run for real over the data as it stood, recorded at those times — then today's loads, probes
    and checks, now."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    mesh.access.create_principal(REPORT_BOT, kind="service")
    mesh.access.grant(REPORT_BOT, "query", domain="sales", grantee_kind="user")
    # the products read from a source: sales.daily_revenue is computed from sales.orders at every
    # read (its freshness is theirs; `serve` probes it like every product from now on)
    probed = [p.fqn for p in mesh.products() if p.output.get("sql") is None]
    with_rules = mesh.quality.products_with_rules()
    history = History()
    days = [data.day(back) for back in range(HISTORY_DAYS, 0, -1)]
    judged: list[Any] = []

    def check(at: dt.datetime | None) -> None:
        for fqn in probed:
            mesh.observe.check(fqn, at=at)

    # the SLO checks read only the store, up to their time: one day's run beside the next day's
    # loads and runs, in order (a product's alerts move forward in time)
    with ThreadPoolExecutor(3, thread_name_prefix="demo-history") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix="demo-checks") as checks:
        for i, day in enumerate(days):
            if progress is not None:
                progress(f"replaying {day}", i, len(days))
            record = HistoryDay(day, data.morning(day))
            morning = dt.datetime.combine(day, dt.time(6, 0), dt.UTC)
            # the day's runs read the sources independently of one another: run them side by side
            runs = {fqn: pool.submit(mesh.quality.run, fqn, at=morning) for fqn in with_rules}
            probes = {fqn: pool.submit(mesh.observe.run_probe, fqn, at=morning + dt.timedelta(minutes=5))
                      for fqn in probed}
            queries = [pool.submit(mesh.queries.run, sql, user=user, at=when) for when, user, sql in workload(day)]
            for fqn, future in runs.items():
                run = future.result()
                record.quality[fqn] = (run.score, [r.rule for r in run.results if not r.passed])
            for fqn, future in probes.items():
                record.freshness[fqn] = future.result().freshness_minutes
            for when, future in zip([w for w, _, _ in workload(day)], queries, strict=True):
                future.result()
                record.queries.append(when)
            # the checks judge what the probes and runs recorded
            judged.append(checks.submit(check, morning + dt.timedelta(minutes=10)))
            history.days.append(record)
        if progress is not None:
            progress("today's loads", len(days), len(days))
        # today's loads bring the data up to yesterday; today's probes and checks run now
        data.morning(data.today)
        for future in [pool.submit(mesh.observe.run_probe, fqn) for fqn in probed]:
            future.result()
        judged.append(checks.submit(check, None))
        for future in judged:
            future.result()
    history.alerts = mesh.alerts.list(limit=1000)
    history.seconds = time.perf_counter() - started
    return history


def run_demo(root: Path, say: Callable[[str, object], None], sizes: DemoSizes | None = None, *,
             progress: Callable[[str, int, int], None] | None = None, today: dt.date | None = None) -> DemoReport:
    """Build, apply and query the demo mesh; ``say(kind, payload)`` reports each step,
    ``progress(what, done, total)`` the days of the history as they are replayed."""
    from meshfabric.mesh import Mesh

    sizes = sizes or DemoSizes()
    root = root.resolve()
    report = DemoReport(root)

    def step(title: str, fn: Callable[[], object]) -> object:
        say("step", title)
        start = time.perf_counter()
        out = fn()
        report.steps.append((title, time.perf_counter() - start))
        return out

    prepare_directory(root)
    data, counts = step(  # type: ignore[misc]
        f"Generate data: CRM in SQLite, sales in DuckDB, logistics in Parquet, dated up to yesterday; "
        f"what is older than {HISTORY_DAYS} days is loaded", lambda: generate_data(root, sizes, today))
    try:
        say("counts", counts)
        step("Write the workspace: mesh.yaml, four product specs and an access policy", lambda: write_workspace(root))
        say("files", sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml")))
        mesh = Mesh.open(root)
        try:
            plan = step("Plan (apply --dry-run)", lambda: mesh.apply(dry_run=True))
            say("plan", plan)
            result = step("Apply: validate specs, check declared schemas against the sources, write the catalog",
                          lambda: mesh.apply())
            say("applied", result)
            say("products", mesh.products())
            history = step(f"Replay the last {HISTORY_DAYS} days: each morning's loads land, then quality rules, "
                           "freshness probes, SLO checks and the analysts' queries run over the data as it stood",
                           lambda: replay_history(mesh, data, progress))
            say("history", history)
            sql = demo_sql(data.today)
            answer = step(f"Query across domains: {QUESTION}", lambda: mesh.query(sql))
            say("sql", sql)
            say("result", answer)
            evolve_schema(root, mesh, step, say)
            contract_round(root, mesh, step, say)
            quality_round(mesh, step, say)
            discovery_round(mesh, step, say)
            access_round(mesh, step, say)
            say("events", mesh.events.list(limit=None))
        finally:
            mesh.close()
    finally:
        data.close()
    return report


def _edit_orders(root: Path, old: str, new: str) -> None:
    spec = root / "products" / "sales" / "orders.yaml"
    text = spec.read_text(encoding="utf-8")
    if old not in text:
        raise ValueError(f"demo spec does not contain {old!r}")
    spec.write_text(text.replace(old, new), encoding="utf-8")


def evolve_schema(root: Path, mesh: Any, step: Callable[[str, Callable[[], object]], object],
                  say: Callable[[str, object], None]) -> None:
    """A compatible change lands as schema version 2; a breaking one is refused with its reasons."""
    import duckdb

    from meshfabric.errors import IncompatibleSchema

    def add_column() -> object:
        with duckdb.connect(str(root / "data" / "sales.duckdb")) as con:
            con.execute("ALTER TABLE orders ADD COLUMN coupon_code VARCHAR")
            con.execute("UPDATE orders SET coupon_code = 'WELCOME10' WHERE order_id % 17 = 0")
        column = "  - {name: coupon_code, type: string, description: 'Promotion used, if any'}\n"
        _edit_orders(root, "  - {name: amount,", column + "  - {name: amount,")
        return mesh.apply()

    result = step("Evolve a schema: sales adds a nullable column (BACKWARD-compatible)", add_column)
    say("schema_accepted", (result, mesh.schemas.history("sales.orders")))

    def tighten() -> object:
        _edit_orders(root, "  - {name: status, type: string,", "  - {name: status, type: string, nullable: false,")
        try:
            return mesh.apply()
        except IncompatibleSchema as exc:
            return exc
        finally:
            _edit_orders(root, "  - {name: status, type: string, nullable: false,", "  - {name: status, type: string,")

    refused = step("Try a breaking change: make 'status' required (old data may hold nulls)", tighten)
    say("schema_refused", refused)


def contract_round(root: Path, mesh: Any, step: Callable[[str, Callable[[], object]], object],
                   say: Callable[[str, object], None]) -> None:
    """Logistics gets a contract on sales.orders, checked against metrics measured just now."""
    from meshfabric.contracts.odcs import dump_contract
    from meshfabric.errors import ContractBroken

    def make() -> object:
        contract = mesh.contracts.generate("sales.orders", "logistics", {"completeness": 0.97, "latency": 800},
                                           save=True)
        target = root / "contracts" / "sales.orders-logistics.odcs.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_contract(contract), encoding="utf-8")
        return contract, target

    contract, target = step("Generate a data contract: sales.orders → logistics (ODCS v3.1)", make)  # type: ignore[misc]
    say("contract", (contract, target.relative_to(root)))

    def measure() -> object:
        started = time.perf_counter()
        row = mesh.query("SELECT count(*) AS n, count(customer_id) AS c, count(amount) AS a, count(status) AS s "
                         "FROM sales.orders").arrow().to_pylist()[0]
        latency_ms = (time.perf_counter() - started) * 1000
        completeness = min(row["c"], row["a"], row["s"]) / row["n"] if row["n"] else 0.0
        metrics = {"completeness": completeness, "latency": latency_ms, "availability": 1.0, "accuracy": 1.0}
        return metrics, mesh.contracts.test(contract.id, metrics)

    measured = step("Check the contract against metrics measured in the source", measure)
    say("compliance", measured)

    def drop_column() -> object:
        _edit_orders(root, "  - {name: channel,", "#  - {name: channel,")
        try:
            return mesh.apply()
        except ContractBroken as exc:
            return exc
        finally:
            _edit_orders(root, "#  - {name: channel,", "  - {name: channel,")

    broken = step("Try dropping a column logistics relies on (compatible for the registry, not for the contract)",
                  drop_column)
    say("contract_refused", broken)


def quality_round(mesh: Any, step: Callable[[str, Callable[[], object]], object],
                  say: Callable[[str, object], None]) -> None:
    """sales.orders' rules run inside DuckDB and catch the double load; the monitor, fed the
    daily order volume measured in the source, raises the alert for the same day."""
    import datetime as dt

    from meshfabric.quality.monitor import Observation, record

    run = step("Run sales.orders' quality rules inside its source (one aggregate scan + what needs its own)",
               lambda: mesh.quality.run("sales.orders"))
    say("quality", run)

    def monitor() -> object:
        daily = mesh.query("SELECT order_date, count(*) AS n FROM sales.orders "
                           "GROUP BY order_date ORDER BY order_date").arrow().to_pylist()
        points = [Observation("sales.orders", "daily_orders", float(r["n"]),
                              ts=dt.datetime.combine(r["order_date"], dt.time(23, 59), tzinfo=dt.UTC))
                  for r in daily]
        result = record(mesh, points)
        # each alert as it is now: later normal points in the same series may have resolved it
        return len(points), [mesh.alerts.get(a.id) for a in result.alerts]

    observed = step("Monitor daily order volume: z-score, MAD and seasonal detectors over the series", monitor)
    say("alerts", observed)


ACCESS_SQL = "SELECT customer_id, name, email, country, segment FROM crm.customers ORDER BY customer_id LIMIT 4"


def access_round(mesh: Any, step: Callable[[str, Callable[[], object]], object],
                 say: Callable[[str, object], None]) -> None:
    """Two people with different roles ask the same question and get different, correctly masked
    and filtered answers; a product neither may see does not exist for them; all is audited."""
    from meshfabric.errors import MeshfabricError

    def principals() -> object:
        access = mesh.access
        for role in ("marketing", "finance"):
            access.create_role(role)
        access.create_principal("maria", attributes={"country": "PT"})
        access.create_principal("frank")
        access.assign_role("maria", "marketing")
        access.assign_role("frank", "finance")
        access.grant("marketing", "query", product="crm.customers")
        access.grant("finance", "query", domain="crm")
        access.grant("finance", "query", domain="sales")
        return [access.effective(user, "crm.customers") for user in ("maria", "frank")]

    policies = step("Access: roles marketing (maria, PT) and finance (frank); policy file applied with the specs",
                    principals)
    say("policies", policies)

    def ask(user: str) -> object:
        return mesh.query(ACCESS_SQL, user=user)

    for user in ("maria", "frank"):
        answer = step(f"Query crm.customers as {user}", lambda user=user: ask(user))  # type: ignore[misc]
        say("access_result", (user, answer))

    def hidden() -> object:
        try:
            return mesh.query("SELECT sum(amount) AS revenue FROM sales.orders", user="maria")
        except MeshfabricError as exc:
            return exc

    say("access_denied", step("maria asks for sales.orders, which she was not granted", hidden))

    def verdicts() -> object:
        mesh.access.grant("marketing", "discover", product="sales.orders")
        return mesh.quality.history("sales.orders", user="maria", limit=1)[0]

    say("quality_withheld", step("sales lets marketing discover sales.orders: maria sees its quality verdicts, "
                                 "not the values measured from its data", verdicts))

    def trail() -> object:
        return [e for user in ("maria", "frank") for e in mesh.access.audit_log(user=user, limit=5)]

    say("audit", step("The audit trail of both: every decision, allowed or denied", trail))


def discovery_round(mesh: Any, step: Callable[[str, Callable[[], object]], object],
                    say: Callable[[str, object], None]) -> None:
    """Find products by searching; see where a SQL-defined product's columns come from; see what
    a change to one column would break, across domains."""
    say("search", step('Search the catalog: "customer email"', lambda: mesh.search("customer email", limit=5)))
    say("search", step('Search with a typo: "revenu per chanel"', lambda: mesh.search("revenu per chanel", limit=3)))
    walk = step("Column lineage of sales.daily_revenue, derived from its SQL on apply",
                lambda: mesh.lineage.upstream("sales.daily_revenue", columns=True))
    say("lineage", walk)
    say("impact", step("Impact analysis: what changing sales.orders.amount would affect",
                       lambda: mesh.lineage.impact("sales.orders.amount")))
