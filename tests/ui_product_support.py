"""A workspace for the product page's tests (issue 14): the access-control shop
(:mod:`access_support`: alice queries sales with masks and a row filter, carol may only discover
sales.orders, mallory holds nothing, admin administers), with

- ``sales.order_totals`` defined by SQL over the orders table (column lineage from sales.orders),
- quality rules on sales.orders and runs on three earlier days and today (``small_amounts`` fails),
- a second schema version of sales.orders (a nullable column added),
- a contract sales.orders → crm, tested against metrics that break its latency promise.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import access_support as acc
from auth_support import HS_AUTH

RULES = """\
quality:
  - {type: not_null, column: id}
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
"""

TOTALS = """\
kind: DataProduct
domain: sales
name: order_totals
owner: sales-owner
status: published
description: Order amounts per region, computed by SQL over the orders table.
output:
  source: db
  sql: SELECT region, sum(amount) AS total, count(*) AS orders FROM orders GROUP BY region
schema:
  - {name: region, type: string}
  - {name: total, type: double}
  - {name: orders, type: bigint}
"""

USERS = ("admin", "alice", "carol", "mallory")


def build(root: Path) -> Path:
    acc.build(root, mesh=acc.MESH + HS_AUTH)
    orders = root / "specs" / "orders.yaml"
    orders.write_text(orders.read_text() + RULES)
    (root / "specs" / "order_totals.yaml").write_text(TOTALS)
    return root


def prepare(mesh: Any, root: Path) -> dict[str, str]:
    """Apply, add principals and the recorded history; returns an API key per user."""
    mesh.apply()
    acc.setup_principals(mesh)
    mesh.access.create_principal("admin")
    keys = {name: mesh.auth.create_api_key(name).key for name in USERS}
    now = datetime.now(UTC).replace(microsecond=0)
    for days_ago in (3, 2, 1):
        mesh.quality.run("sales.orders", at=now - timedelta(days=days_ago, hours=2))
    mesh.quality.run("sales.orders")
    # schema version 2: a column added, nullable (compatible under BACKWARD)
    with sqlite3.connect(root / "data" / "shop.sqlite") as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN channel TEXT")
    spec = root / "specs" / "orders.yaml"
    spec.write_text(spec.read_text().replace("quality:", "  - name: channel\n    type: string\nquality:", 1))
    mesh.apply()
    contract = mesh.contracts.generate("sales.orders", "crm", {"latency": 500}, save=True)
    mesh.contracts.test(contract.id, {"latency": 900, "completeness": 1.0, "availability": 1.0, "accuracy": 1.0})
    return keys
