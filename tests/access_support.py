"""A workspace for access-control tests: a SQLite source with customers and orders (every row
carries a secret), a policy file, and principals with roles, groups and attributes.

``alice`` (role analyst, region EU) may query both products; ``sales.orders`` filters her to
``region = {user.region}`` and masks ``email`` (hash), ``card`` (show_last_n 4), ``ssn`` (redact),
``birth`` (date_year) and ``note`` (custom SQL). ``carol`` may only discover ``sales.orders``.
``mallory`` holds nothing. ``admin`` is the local principal and the workspace admin.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MESH = """\
name: secure-shop
sources:
  db:
    kind: sqlite
    path: data/shop.sqlite
domains:
  sales:
    owners: [sales-owner]
  crm:
    owners: [crm-owner]
  hr:
    owners: [hr-owner]
access:
  local_principal: admin
  admins: [admin]
"""

ORDERS = """\
kind: DataProduct
domain: sales
name: orders
owner: sales-owner
status: published
output:
  source: db
  table: orders
schema:
  - name: id
    type: bigint
  - name: region
    type: string
  - name: amount
    type: double
  - name: email
    type: string
    classification: [pii]
  - name: card
    type: string
  - name: ssn
    type: string
  - name: birth
    type: date
  - name: note
    type: string
"""

CUSTOMERS = """\
kind: DataProduct
domain: crm
name: customers
owner: crm-owner
status: published
output:
  source: db
  table: customers
schema:
  - name: id
    type: bigint
  - name: name
    type: string
  - name: email
    type: string
    classification: [pii]
  - name: region
    type: string
"""

SALARIES = """\
kind: DataProduct
domain: hr
name: salaries
owner: hr-owner
status: published
output:
  source: db
  table: salaries
schema:
  - name: id
    type: bigint
  - name: salary
    type: double
"""

POLICY = """\
kind: AccessPolicy
name: shop-policy
rules:
  - to: {role: analyst}
    product: sales.orders
    columns:
      email: hash
      card: {show_last_n: 4}
      ssn: redact
      birth: date_year
      note: {sql: "upper(left(note, 2))"}
    row_filter: "region = {user.region}"
  - to: {role: analyst}
    tag: pii
    mask: redact
"""

#: (id, region, amount, email, card, ssn, birth, note)
ORDERS_ROWS = [
    (1, "EU", 10.0, "eu1@x.com", "4111111111111111", "111-11-1111", "1980-05-17", "eu note one"),
    (2, "EU", 20.0, "eu2@x.com", "4222222222222222", "222-22-2222", "1990-07-01", "eu note two"),
    (3, "US", 999.0, "hidden@us.com", "4999999999999999", "999-99-9999", "1970-01-09", "SECRET-US-NOTE"),
    (4, "US", 0.0, "zero@us.com", "4000000000000000", "000-00-0000", "1999-12-31", "SECRET-ZERO"),
    (5, "APAC", 50.0, "apac@x.com", "4555555555555555", "555-55-5555", "2001-02-03", "SECRET-APAC"),
]
CUSTOMERS_ROWS = [
    (1, "Ann", "ann@secret.com", "EU"),
    (2, "Bob", "bob@secret.com", "US"),
]
#: raw values alice must never see
SECRETS = ["hidden@us.com", "999-99-9999", "4999999999999999", "SECRET-US-NOTE", "SECRET-ZERO", "SECRET-APAC",
           "eu1@x.com", "eu2@x.com", "111-11-1111", "222-22-2222", "4111111111111111", "eu note one",
           "ann@secret.com", "bob@secret.com", "1980-05-17", "zero@us.com", "apac@x.com"]
#: raw numbers of hidden rows
HIDDEN_AMOUNTS = [999.0, 50.0]


def build(root: Path, *, policy: str = POLICY, mesh: str = MESH) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "specs").mkdir(exist_ok=True)
    (root / "mesh.yaml").write_text(mesh)
    (root / "specs" / "orders.yaml").write_text(ORDERS)
    (root / "specs" / "customers.yaml").write_text(CUSTOMERS)
    (root / "specs" / "salaries.yaml").write_text(SALARIES)
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "shop.yaml").write_text(policy)
    db = root / "data" / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, region TEXT, amount REAL, email TEXT, card TEXT, ssn TEXT,"
                     " birth DATE, note TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", ORDERS_ROWS)
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT, email TEXT, region TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?,?,?,?)", CUSTOMERS_ROWS)
        conn.execute("CREATE TABLE salaries (id INTEGER, salary REAL)")
        conn.executemany("INSERT INTO salaries VALUES (?,?)", [(1, 123456.0)])
    return root


def setup_principals(mesh: object) -> None:
    access = mesh.access  # type: ignore[attr-defined]
    access.create_role("analyst")
    access.create_role("viewer")
    access.create_principal("alice", groups=["eu-team"], attributes={"region": "EU"})
    access.create_principal("carol")
    access.create_principal("mallory")
    access.create_principal("etl-bot", kind="service")
    access.assign_role("alice", "analyst")
    access.assign_role("carol", "viewer")
    access.grant("analyst", "query", domain="sales")
    access.grant("analyst", "query", product="crm.customers")
    access.grant("viewer", "discover", product="sales.orders")
    access.grant("etl-bot", "write", product="sales.orders", grantee_kind="user")
