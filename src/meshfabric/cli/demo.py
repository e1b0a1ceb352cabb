"""``meshfabric demo``: a three-domain mesh over real, locally generated data.

CRM customers live in a SQLite database, sales orders in a DuckDB database file and logistics
shipments in Parquet files. The demo writes the workspace, applies it, and answers a question
no single domain can: revenue and delivery times by country and carrier, in one SQL statement.
Then it evolves a schema, guards a data contract, runs quality rules and the anomaly monitor on
a day whose load ran twice, searches the catalog, follows the column lineage of a product
defined by SQL and the impact of a change, and lets two people with different roles ask the
same question. Data is generated deterministically (hash-based, no randomness, no downloads).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshfabric.errors import ConfigError

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
  - {type: referential, column: customer_id, reference: crm.customers, reference_column: customer_id}
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

QUESTION = "Revenue and delivery time by country and carrier, completed orders of 2026"
DEMO_SQL = """\
SELECT c.country,
       s.carrier,
       count(*)                                   AS orders,
       sum(o.amount)                              AS revenue_eur,
       round(avg(date_diff('hour', s.shipped_at, s.delivered_at)) / 24.0, 1) AS avg_delivery_days
FROM sales.orders AS o
JOIN crm.customers AS c ON c.customer_id = o.customer_id
JOIN logistics.shipments AS s ON s.order_id = o.order_id
WHERE o.status = 'completed'
  AND o.order_date >= DATE '2026-01-01'
  AND c.segment <> 'enterprise'
GROUP BY c.country, s.carrier
ORDER BY revenue_eur DESC
LIMIT 10"""

#: the day whose sales load ran twice: the quality step finds the duplicates and the volume spike
DOUBLE_LOAD_DAY = "2026-09-14"

# hash-based pseudo-random in [0, 1): deterministic across runs and platforms
_R = "((hash(i, '{salt}') % 1000003) / 1000003.0)"


def _r(salt: str) -> str:
    return _R.format(salt=salt)


@dataclass
class DemoSizes:
    customers: int = 5_000
    orders: int = 200_000


@dataclass
class DemoReport:
    directory: Path
    steps: list[tuple[str, float]] = field(default_factory=list)


def generate_data(root: Path, sizes: DemoSizes) -> dict[str, int]:
    """Write the three domains' data into their sources; returns row counts."""
    import duckdb

    data = root / "data"
    (data / "lake" / "shipments").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""
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
               DATE '2022-01-01' + (hash(i, 'signup') % 1400)::INT AS signup_date
        FROM range(1, {sizes.customers} + 1) t(i)
    """)
    con.execute(f"""
        CREATE TABLE orders AS
        SELECT i AS order_id,
               1 + (hash(i, 'cust') % {sizes.customers})::BIGINT AS customer_id,
               DATE '2025-01-01' + (hash(i, 'day') % 690)::INT AS order_date,
               CASE WHEN {_r('ch')} < 0.6 THEN 'web' WHEN {_r('ch')} < 0.9 THEN 'store' ELSE 'partner' END AS channel,
               CASE WHEN {_r('st')} < 0.88 THEN 'completed' WHEN {_r('st')} < 0.95 THEN 'returned'
                    ELSE 'cancelled' END AS status,
               round(5 + 495 * {_r('amt')} * {_r('amt2')} + 20 * {_r('amt3')}, 2)::DECIMAL(12,2) AS amount
        FROM range(1, {sizes.orders} + 1) t(i)
    """)
    con.execute("""
        CREATE TABLE shipments AS
        SELECT row_number() OVER (ORDER BY order_id) AS shipment_id, order_id,
               list_extract(['DHL','UPS','GLS','DPD','PostNL'], 1 + (hash(order_id, 'car') % 5)::INT) AS carrier,
               list_extract(['Hamburg','Lyon','Zaragoza','Poznań'], 1 + (hash(order_id, 'wh') % 4)::INT) AS warehouse,
               order_date + INTERVAL 8 HOUR + to_hours((hash(order_id, 'ship') % 48)::INT) AS shipped_at,
               CASE WHEN order_date > DATE '2026-11-20' AND (hash(order_id, 'tr') % 2) = 0 THEN NULL
                    ELSE order_date + INTERVAL 8 HOUR + to_hours((hash(order_id, 'ship') % 48)::INT)
                         + to_hours((12 + (hash(order_id, 'dlv') % 120) +
                                     [0, 10, 36, 20, 50][1 + (hash(order_id, 'car') % 5)::INT])::INT)
               END AS delivered_at,
               round(3.5 + 12 * ((hash(order_id, 'cost') % 1000) / 1000.0), 2)::DECIMAL(10,2) AS cost
        FROM orders WHERE status <> 'cancelled'
    """)
    # A defect for the quality step to find: the sales load of one day ran twice
    con.execute(f"INSERT INTO orders SELECT * FROM orders WHERE order_date = DATE '{DOUBLE_LOAD_DAY}'")
    twice = con.execute(f"SELECT count(*) FROM orders WHERE order_date = DATE '{DOUBLE_LOAD_DAY}'").fetchone()[0] // 2
    # CRM: a SQLite database, as an operational app would keep it
    sqlite_path = data / "crm.sqlite"
    sqlite_path.unlink(missing_ok=True)
    rows = con.execute("SELECT customer_id, name, email, country, segment, CAST(signup_date AS VARCHAR) "
                       "FROM customers ORDER BY customer_id").fetchall()
    with sqlite3.connect(sqlite_path) as lite:
        lite.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
                     "country TEXT, segment TEXT, signup_date DATE)")
        lite.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", rows)
    # Sales: a DuckDB database file
    duck_path = data / "sales.duckdb"
    duck_path.unlink(missing_ok=True)
    con.execute(f"ATTACH '{duck_path}' AS sales_file")
    con.execute("CREATE TABLE sales_file.orders AS SELECT * FROM orders ORDER BY order_id")
    con.execute("DETACH sales_file")
    # Logistics: Parquet files, one per quarter of shipping
    for old in (data / "lake" / "shipments").glob("*.parquet"):
        old.unlink()
    quarters = con.execute("SELECT DISTINCT strftime(shipped_at, '%Y-Q') || quarter(shipped_at) FROM shipments "
                           "ORDER BY 1").fetchall()
    for (q,) in quarters:
        target = data / "lake" / "shipments" / f"shipments-{q}.parquet"
        con.execute(f"COPY (SELECT * FROM shipments WHERE strftime(shipped_at, '%Y-Q') || quarter(shipped_at) = '{q}' "
                    f"ORDER BY shipment_id) TO '{target}' (FORMAT parquet)")
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("customers", "orders", "shipments")}
    counts["orders"] -= twice
    counts[f"orders of {DOUBLE_LOAD_DAY} loaded twice"] = twice
    con.close()
    return counts


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


def run_demo(root: Path, say: Callable[[str, object], None], sizes: DemoSizes | None = None) -> DemoReport:
    """Build, apply and query the demo mesh; ``say(kind, payload)`` reports each step."""
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
    counts = step("Generate data: CRM in SQLite, sales in DuckDB, logistics in Parquet",
                  lambda: generate_data(root, sizes))
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
        answer = step(f"Query across domains: {QUESTION}", lambda: mesh.query(DEMO_SQL))
        say("sql", DEMO_SQL)
        say("result", answer)
        evolve_schema(root, mesh, step, say)
        contract_round(root, mesh, step, say)
        quality_round(mesh, step, say)
        discovery_round(mesh, step, say)
        access_round(mesh, step, say)
        say("events", mesh.events.list(limit=None))
    finally:
        mesh.close()
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
