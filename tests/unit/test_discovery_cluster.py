"""Clustering discovered datasets into business areas (issue 13): value-based links, domain suggestion,
determinism and the adjusted Rand index on a generated corpus of opaque-named tables."""

from __future__ import annotations

import keyword
import os
import random
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.discovery.cluster import cluster_datasets, similarity_matrix, tokens
from meshfabric.discovery.model import ClusterAssignment, ColumnFinding, ColumnSample, DatasetSample, DomainProfile

# ------------------------------------------------------------------------------------------ helpers


def adjusted_rand_index(truth: Sequence[Any], predicted: Sequence[Any]) -> float:
    """Hubert and Arabie's adjusted Rand index of two labellings of the same items."""
    assert len(truth) == len(predicted)
    n = len(truth)

    def pairs(k: int) -> float:
        return k * (k - 1) / 2

    contingency = Counter(zip(truth, predicted, strict=True))
    index = sum(pairs(c) for c in contingency.values())
    rows = sum(pairs(c) for c in Counter(truth).values())
    cols = sum(pairs(c) for c in Counter(predicted).values())
    total = pairs(n)
    if total == 0:
        return 1.0
    expected = rows * cols / total
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def test_adjusted_rand_index_helper() -> None:
    assert adjusted_rand_index([1, 1, 2, 2], ["a", "a", "b", "b"]) == pytest.approx(1.0)
    assert adjusted_rand_index([1, 1, 2, 2], [1, 2, 1, 2]) == pytest.approx(-0.5)
    # the textbook example (Hubert & Arabie style contingency) computed by hand
    truth = [0, 0, 0, 1, 1, 1]
    pred = [0, 0, 1, 1, 2, 2]
    assert adjusted_rand_index(truth, pred) == pytest.approx(0.24242424, abs=1e-6)
    # every item alone against one big cluster: no agreement beyond chance
    assert adjusted_rand_index([0] * 5, list(range(5))) == pytest.approx(0.0)


_SEMANTIC = {
    "pk": "identifier", "fk": "identifier", "name": "person_name", "email": "email", "phone": "phone",
    "amount": "currency_amount", "ts": "timestamp", "date": "date", "cat": "category", "country": "country_code",
    "text": "free_text", "city": "category", "small": None, "address": "address",
}
_LOGICAL = {"amount": "decimal", "ts": "timestamp", "date": "date", "small": "integer"}


def table(name: str, columns: dict[str, tuple[str, list[Any]]], *, total_rows: int | None = None,
          ) -> tuple[DatasetSample, list[ColumnFinding]]:
    """A sample and its findings from ``{column: (kind, values)}``; kind picks the semantic type."""
    rows = len(next(iter(columns.values()))[1])
    samples = []
    findings = []
    for column, (kind, values) in columns.items():
        logical = _LOGICAL.get(kind, "integer" if values and isinstance(values[0], int) else "string")
        samples.append(ColumnSample(column, logical, list(values)))
        findings.append(ColumnFinding(column, logical, _SEMANTIC.get(kind), [], 0.9))
    return DatasetSample(name, samples, rows=rows, total_rows=total_rows), findings


# ----------------------------------------------------------------------------- generated corpus

#: word variants for a column, picked per table so that names are realistic, not identical
_NAMES: dict[str, list[str]] = {
    "customer": ["customer_id", "cust_id", "customerId", "client_id", "CustomerID"],
    "order": ["order_id", "orderId", "order_no", "ord_id", "OrderNumber"],
    "product": ["product_id", "sku", "productCode", "item_sku", "prod_id"],
    "return": ["return_id", "rma_id", "returnId"],
    "promo": ["promo_id", "promotion_code", "coupon_code"],
    "contact": ["contact_id", "contactId"],
    "interaction": ["interaction_id", "touchpoint_id"],
    "lead": ["lead_id", "prospect_id", "leadId"],
    "employee": ["employee_id", "emp_id", "staff_id", "EmployeeID", "worker_id"],
    "department": ["department_code", "dept_code", "deptCode"],
    "payroll": ["payroll_id", "payslip_id"],
    "leave": ["leave_request_id", "absence_id"],
    "review": ["review_id", "appraisal_id"],
    "invoice": ["invoice_id", "invoice_no", "inv_id", "InvoiceNumber"],
    "payment": ["payment_id", "pmt_id", "paymentRef"],
    "entry": ["entry_id", "journal_entry_id", "je_id"],
    "budget": ["budget_id", "budget_line_id"],
    "expense": ["expense_id", "claim_id"],
    "shipment": ["shipment_id", "shipmentId", "consignment_id"],
    "warehouse": ["warehouse_id", "wh_id", "depot_id", "site_id"],
    "delivery": ["delivery_id", "drop_id"],
    "route": ["route_id", "lane_id"],
    "stock": ["stock_id", "inventory_id"],
    "ticket": ["ticket_id", "case_id", "ticketId", "issue_id"],
    "comment": ["comment_id", "reply_id"],
    "agent": ["agent_id", "assignee_id", "agentId"],
    "survey": ["survey_id", "csat_id"],
    "sla": ["sla_id", "policy_id"],
}

_VOCAB: dict[str, list[str]] = {
    "order_status": ["pending", "paid", "shipped", "cancelled", "refunded"],
    "currency": ["EUR", "USD", "GBP", "CHF"],
    "product_category": ["apparel", "electronics", "garden", "toys", "books", "kitchen"],
    "return_reason": ["damaged", "wrong size", "not as described", "changed mind"],
    "segment": ["smb", "enterprise", "consumer", "public sector"],
    "contact_role": ["buyer", "decision maker", "champion", "billing contact"],
    "channel": ["web", "phone", "email", "event", "partner"],
    "lead_source": ["webinar", "trade show", "referral", "paid search", "organic"],
    "tier": ["bronze", "silver", "gold", "platinum"],
    "department": ["engineering", "people ops", "finance dept", "sales dept", "operations"],
    "leave_type": ["vacation", "sick", "parental", "unpaid"],
    "approval": ["requested", "approved", "rejected"],
    "invoice_status": ["draft", "issued", "overdue", "settled", "void"],
    "pay_method": ["card", "wire", "sepa", "paypal"],
    "gl_account": ["4000 revenue", "5000 cogs", "6100 salaries", "6200 rent", "1200 receivables"],
    "cost_center": ["cc-100", "cc-200", "cc-300", "cc-400"],
    "expense_category": ["travel", "meals", "software", "hardware", "training"],
    "carrier": ["dhl", "ups", "fedex", "dpd", "gls"],
    "ship_status": ["label created", "in transit", "out for delivery", "delivered", "exception"],
    "priority": ["p1", "p2", "p3", "p4"],
    "ticket_status": ["new", "open", "waiting on customer", "solved", "closed"],
    "team": ["tier 1", "tier 2", "billing support", "technical support"],
}

_COUNTRIES = ["DE", "FR", "US", "GB", "NL", "ES", "IT", "PL"]
_CITIES = ["Berlin", "Paris", "Lyon", "Madrid", "Hamburg", "Leeds", "Utrecht", "Porto"]
_FIRST = ["Anna", "Ben", "Chen", "Dora", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jon", "Kim", "Lea", "Max", "Nia"]
_LAST = ["Meyer", "Smith", "Okafor", "Rossi", "Novak", "Garcia", "Kowalski", "Dubois", "Berg", "Silva"]

# area -> entity -> column kinds ("pk:<entity>", "fk:<entity>", "cat:<vocab>", or a plain kind)
_AREAS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "sales": {
        "orders": [("order", "pk:order"), ("customer", "fk:customer"), ("status", "cat:order_status"),
                   ("order_total", "amount"), ("currency", "cat:currency"), ("order_date", "date")],
        "order_lines": [("order", "fk:order"), ("product", "fk:product"), ("quantity", "small"),
                        ("unit_price", "amount"), ("line_discount", "amount")],
        "products": [("product", "pk:product"), ("product_name", "text"), ("category", "cat:product_category"),
                     ("list_price", "amount"), ("currency", "cat:currency")],
        "returns": [("return", "pk:return"), ("order", "fk:order"), ("reason", "cat:return_reason"),
                    ("refund_amount", "amount"), ("returned_at", "ts")],
        "promotions": [("promo", "pk:promo"), ("product", "fk:product"), ("discount_pct", "small"),
                       ("valid_from", "date"), ("valid_to", "date")],
    },
    "crm": {
        "customers": [("customer", "pk:customer"), ("full_name", "name"), ("email", "email"), ("phone", "phone"),
                      ("country", "country"), ("segment", "cat:segment")],
        "contacts": [("contact", "pk:contact"), ("customer", "fk:customer"), ("contact_name", "name"),
                     ("email", "email"), ("role", "cat:contact_role")],
        "interactions": [("interaction", "pk:interaction"), ("customer", "fk:customer"), ("channel", "cat:channel"),
                         ("occurred_at", "ts"), ("notes", "text")],
        "leads": [("lead", "pk:lead"), ("lead_name", "name"), ("email", "email"), ("source", "cat:lead_source"),
                  ("score", "small")],
        "accounts": [("customer", "fk:customer"), ("tier", "cat:tier"), ("segment", "cat:segment"),
                     ("account_since", "date")],
    },
    "hr": {
        "employees": [("employee", "pk:employee"), ("employee_name", "name"), ("work_email", "email"),
                      ("department", "cat:department"), ("hire_date", "date"), ("salary", "amount")],
        "departments": [("department", "pk:department"), ("department_name", "cat:department"),
                        ("head", "fk:employee"), ("headcount", "small")],
        "payroll": [("payroll", "pk:payroll"), ("employee", "fk:employee"), ("gross_pay", "amount"),
                    ("net_pay", "amount"), ("pay_period", "date")],
        "leave_requests": [("leave", "pk:leave"), ("employee", "fk:employee"), ("leave_type", "cat:leave_type"),
                           ("start_date", "date"), ("end_date", "date"), ("approval", "cat:approval")],
        "reviews": [("review", "pk:review"), ("employee", "fk:employee"), ("rating", "small"),
                    ("reviewer", "fk:employee"), ("review_date", "date")],
    },
    "finance": {
        "invoices": [("invoice", "pk:invoice"), ("customer", "fk:customer"), ("invoice_amount", "amount"),
                     ("due_date", "date"), ("invoice_status", "cat:invoice_status")],
        "payments": [("payment", "pk:payment"), ("invoice", "fk:invoice"), ("paid_amount", "amount"),
                     ("method", "cat:pay_method"), ("paid_at", "ts")],
        "ledger": [("entry", "pk:entry"), ("gl_account", "cat:gl_account"), ("debit", "amount"),
                   ("credit", "amount"), ("posted_at", "ts"), ("cost_center", "cat:cost_center")],
        "budgets": [("budget", "pk:budget"), ("cost_center", "cat:cost_center"), ("fiscal_year", "small"),
                    ("budget_amount", "amount"), ("gl_account", "cat:gl_account")],
        "expenses": [("expense", "pk:expense"), ("employee", "fk:employee"),
                     ("expense_category", "cat:expense_category"), ("expense_amount", "amount"),
                     ("cost_center", "cat:cost_center"), ("submitted_at", "ts")],
    },
    "logistics": {
        "shipments": [("shipment", "pk:shipment"), ("order", "fk:order"), ("carrier", "cat:carrier"),
                      ("tracking_number", "text"), ("shipped_at", "ts"), ("shipment_status", "cat:ship_status")],
        "warehouses": [("warehouse", "pk:warehouse"), ("city", "city"), ("country", "country"),
                       ("capacity_pallets", "small")],
        "stock_levels": [("stock", "pk:stock"), ("warehouse", "fk:warehouse"), ("product", "fk:product"),
                         ("on_hand_qty", "small"), ("counted_at", "ts")],
        "deliveries": [("delivery", "pk:delivery"), ("shipment", "fk:shipment"), ("delivered_at", "ts"),
                       ("carrier", "cat:carrier"), ("signed_by", "name")],
        "routes": [("route", "pk:route"), ("origin_warehouse", "fk:warehouse"), ("destination_city", "city"),
                   ("distance_km", "small"), ("carrier", "cat:carrier")],
    },
    "support": {
        "tickets": [("ticket", "pk:ticket"), ("customer", "fk:customer"), ("priority", "cat:priority"),
                    ("ticket_status", "cat:ticket_status"), ("opened_at", "ts"), ("subject", "text")],
        "ticket_comments": [("comment", "pk:comment"), ("ticket", "fk:ticket"), ("author_email", "email"),
                            ("body", "text"), ("created_at", "ts")],
        "agents": [("agent", "pk:agent"), ("agent_name", "name"), ("email", "email"), ("team", "cat:team")],
        "sla_policies": [("sla", "pk:sla"), ("priority", "cat:priority"), ("response_hours", "small"),
                         ("resolution_hours", "small")],
        "satisfaction": [("survey", "pk:survey"), ("ticket", "fk:ticket"), ("agent", "fk:agent"),
                         ("csat_score", "small"), ("answered_at", "ts")],
    },
}


@dataclass
class Corpus:
    datasets: list[DatasetSample]
    findings: list[list[ColumnFinding]]
    truth: list[str]


def _key_values(rng: random.Random, entity: str, size: int) -> list[Any]:
    style = rng.choice(["uuid", "prefixed", "sparse", "dense", "prefixed", "uuid"])
    if style == "uuid":
        return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(size)]
    if style == "prefixed":
        prefix = entity[:3].upper()
        start = rng.randrange(1000, 90000)
        return [f"{prefix}-{start + i:06d}" for i in range(size)]
    if style == "sparse":
        return rng.sample(range(10_000_000, 99_999_999), size)
    start = rng.choice([1, 1, 100, 1000])
    return list(range(start, start + size))


def _column_name(rng: random.Random, word: str, kind: str) -> str:
    if kind.startswith(("pk:", "fk:")) and word in _NAMES:
        if kind.startswith("pk:") and rng.random() < 0.4:
            return "id"
        return rng.choice(_NAMES[word])
    styles = [word, word.upper(), "".join(p.capitalize() for p in word.split("_")),
              word.split("_")[0][0] + "".join(p.capitalize() for p in word.split("_"))[1:]]
    return rng.choice(styles[:3]) if rng.random() < 0.4 else word


def _values(rng: random.Random, kind: str, rows: int, keys: dict[str, list[Any]]) -> list[Any]:
    base = datetime(2024, 1, 1)
    if kind.startswith("pk:"):
        population = keys[kind[3:]]
        return rng.sample(population, min(rows, len(population)))
    if kind.startswith("fk:"):
        population = keys[kind[3:]]
        return [rng.choice(population) if rng.random() > 0.03 else None for _ in range(rows)]
    if kind.startswith("cat:"):
        vocab = _VOCAB[kind[4:]]
        weights = [1 / (i + 1) for i in range(len(vocab))]
        return rng.choices(vocab, weights, k=rows)
    if kind == "amount":
        return [round(rng.lognormvariate(4, 1), 2) for _ in range(rows)]
    if kind == "ts":
        return [base + timedelta(minutes=rng.randrange(500_000)) for _ in range(rows)]
    if kind == "date":
        return [(base + timedelta(days=rng.randrange(700))).date() for _ in range(rows)]
    if kind == "name":
        return [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(rows)]
    if kind == "email":
        return [f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}{rng.randrange(99)}@example.org"
                for _ in range(rows)]
    if kind == "phone":
        return [f"+49 30 {rng.randrange(1000000, 9999999)}" for _ in range(rows)]
    if kind == "country":
        return rng.choices(_COUNTRIES, k=rows)
    if kind == "city":
        return rng.choices(_CITIES, k=rows)
    if kind == "small":
        return [rng.randrange(1, 100) for _ in range(rows)]
    if kind == "text":
        words = ["quick", "refund", "late", "broken", "thanks", "update", "please", "urgent", "box", "label"]
        return [" ".join(rng.choices(words, k=rng.randrange(3, 9))) + f" {rng.randrange(10_000)}"
                for _ in range(rows)]
    raise AssertionError(kind)


def generate_corpus(seed: int, *, opaque_columns: float = 0.1) -> Corpus:
    """~30 tables in 6 areas: opaque table names, varied column spellings, key styles (UUIDs, prefixed codes,
    sparse and dense integers), cross-area foreign keys, shared country codes and currencies, partial samples
    of large tables and a few spreadsheet exports whose columns are called col_1, col_2, ..."""
    rng = random.Random(seed)
    entity_sizes = {e: rng.randrange(60, 400) for names in _NAMES for e in [names]}
    keys = {entity: _key_values(rng, entity, size) for entity, size in entity_sizes.items()}
    tables: list[tuple[str, str, list[tuple[str, str]]]] = [
        (area, entity, cols) for area, entities in _AREAS.items() for entity, cols in entities.items()]
    rng.shuffle(tables)
    corpus = Corpus([], [], [])
    for number, (area, entity, cols) in enumerate(tables, start=1):
        pk_entity = next((k[3:] for _, k in cols if k.startswith("pk:")), None)
        if pk_entity is not None:
            population = len(keys[pk_entity])
            rows = population if rng.random() < 0.6 else rng.randrange(population // 3, population)
            total_rows = population
        else:
            rows = rng.randrange(80, 500)
            total_rows = rows
        style = rng.random()
        if style < 0.2:
            name = entity
        elif style < 0.5:
            name = f"t_{rng.randrange(10_000):04d}"
        elif style < 0.7:
            name = f"export_{number}"
        elif style < 0.85:
            name = f"sheet{number}"
        else:
            name = f"tbl{rng.randrange(1000)}_{number}"
        opaque = rng.random() < opaque_columns
        columns: dict[str, tuple[str, list[Any]]] = {}
        for index, (word, kind) in enumerate(cols, start=1):
            column = f"col_{index}" if opaque else _column_name(rng, word, kind)
            while column in columns:
                column += "_2"
            columns[column] = (kind.split(":")[0], _values(rng, kind, rows, keys))
        # common housekeeping columns that say nothing about the area
        if rng.random() < 0.5 and not opaque:
            columns["created_at"] = ("ts", _values(rng, "ts", rows, keys))
        if rng.random() < 0.3 and not opaque:
            columns["updated_by"] = ("cat", rng.choices(["etl", "admin", "sync"], k=rows))
        dataset, findings = table(name, columns, total_rows=total_rows if total_rows > rows else None)
        corpus.datasets.append(dataset)
        corpus.findings.append(findings)
        corpus.truth.append(area)
    return corpus


# ---------------------------------------------------------------------------------------- behaviour


def _by_name(assignments: list[ClusterAssignment]) -> dict[str, ClusterAssignment]:
    return {a.dataset: a for a in assignments}


def _three_areas() -> tuple[list[DatasetSample], list[list[ColumnFinding]]]:
    rng = random.Random(7)
    customers = [f"C{n:05d}" for n in rng.sample(range(10_000, 99_999), 120)]
    orders = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(200)]
    employees = [rng.randrange(7_000_000, 7_999_999) for _ in range(80)]
    sensors = [f"dev-{rng.getrandbits(32):08x}" for _ in range(40)]
    statuses = ["pending", "paid", "shipped", "cancelled"]
    specs = [
        ("t_0001", {"id": ("pk", customers), "c2": ("name", [f"n{i}" for i in range(120)]),
                    "c3": ("email", [f"u{i}@x.org" for i in range(120)])}),
        ("t_0002", {"id": ("pk", orders), "ref": ("fk", rng.choices(customers, k=200)),
                    "st": ("cat", rng.choices(statuses, k=200))}),
        ("t_0003", {"k": ("fk", rng.choices(orders, k=150)), "q": ("small", [rng.randrange(1, 9) for _ in range(150)]),
                    "st": ("cat", rng.choices(statuses, k=150))}),
        ("t_0004", {"id": ("pk", employees), "v": ("amount", [rng.random() * 9000 for _ in range(80)])}),
        ("t_0005", {"who": ("fk", rng.choices(employees, k=90)), "d": ("date", [None] * 90)}),
        ("t_0006", {"dev": ("pk", sensors), "loc": ("cat", rng.choices(["roof", "lab", "hall"], k=40))}),
        ("t_0007", {"dev": ("fk", rng.choices(sensors, k=300)), "r": ("amount", [rng.random() for _ in range(300)])}),
    ]
    pairs = [table(name, cols) for name, cols in specs]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_key_containment_links_tables_with_opaque_names() -> None:
    datasets, findings = _three_areas()
    got = _by_name(cluster_datasets(datasets, findings))
    assert got["t_0001"].cluster == got["t_0002"].cluster == got["t_0003"].cluster
    assert got["t_0004"].cluster == got["t_0005"].cluster
    assert got["t_0006"].cluster == got["t_0007"].cluster
    assert len({got["t_0001"].cluster, got["t_0004"].cluster, got["t_0006"].cluster}) == 3


def test_dense_integer_ranges_are_not_join_evidence() -> None:
    # 1..100 is inside any 1..n key: that says nothing about the two tables
    a, fa = table("a", {"x": ("pk", list(range(1, 101)))})
    b, fb = table("b", {"y": ("fk", [i % 50 + 1 for i in range(300)])})
    c, fc = table("c", {"z": ("fk", [f"K{i}" for i in range(300)])})
    d, fd = table("d", {"w": ("pk", [f"K{i}" for i in range(0, 300, 2)])})
    sims = similarity_matrix([a, b, c, d], [fa, fb, fc, fd])
    assert sims.get((0, 1), 0.0) < 0.2
    assert sims.get((2, 3), 0.0) >= 0.5


def test_categorical_vocabularies_separate_areas_with_opaque_names() -> None:
    rng = random.Random(3)
    vocab_a = ["shipped", "pending", "paid", "refunded"]
    vocab_b = ["sick", "vacation", "parental"]
    specs = []
    for i in range(3):
        specs.append((f"export_{i}", {"c1": ("cat", rng.choices(vocab_a, k=100)),
                                      "c2": ("amount", [rng.random() for _ in range(100)])}))
        specs.append((f"sheet{i}", {"c1": ("cat", rng.choices(vocab_b, k=100)),
                                    "c2": ("amount", [rng.random() for _ in range(100)])}))
    pairs = [table(n, c) for n, c in specs]
    got = cluster_datasets([p[0] for p in pairs], [p[1] for p in pairs])
    labels = [a.cluster for a in got]
    assert labels[0::2] == [labels[0]] * 3
    assert labels[1::2] == [labels[1]] * 3
    assert labels[0] != labels[1]


def test_reference_vocabularies_do_not_link_areas() -> None:
    """Country codes are everybody's: two opaque tables sharing only them are not alike, while sharing an
    area's own vocabulary (the same values typed as a plain category) is."""
    rng = random.Random(5)
    codes = ["DE", "FR", "US", "GB", "NL"]

    def pair(semantic_kind: str) -> float:
        a, fa = table("sheet1", {"c1": (semantic_kind, rng.choices(codes, k=200)),
                                 "c2": ("amount", [rng.random() for _ in range(200)])})
        b, fb = table("export_2", {"x": (semantic_kind, rng.choices(codes, k=150)),
                                   "y": ("ts", [None] * 150)})
        # a third table, so that a value shared by the two is rarer than one everybody has
        c, fc = table("t_3", {"z": ("cat", rng.choices(["low", "high"], k=90)), "w": ("small", [1] * 90)})
        return similarity_matrix([a, b, c], [fa, fb, fc]).get((0, 1), 0.0)

    assert pair("country") < 0.15
    assert pair("cat") > 0.2


def test_known_products_propagate_their_domain() -> None:
    datasets, findings = _three_areas()
    got = _by_name(cluster_datasets(datasets, findings, known={"t_0001": "sales", "t_0004": "people"}))
    assert got["t_0001"].suggested_domain == "sales"
    assert got["t_0002"].suggested_domain == "sales"
    assert got["t_0003"].suggested_domain == "sales"
    assert got["t_0005"].suggested_domain == "people"
    assert got["t_0006"].suggested_domain not in {"sales", "people"}


def test_known_domains_keep_clusters_apart() -> None:
    datasets, findings = _three_areas()
    got = _by_name(cluster_datasets(datasets, findings, known={"t_0001": "crm", "t_0002": "sales"}))
    assert got["t_0001"].cluster != got["t_0002"].cluster
    assert got["t_0001"].suggested_domain == "crm"
    assert got["t_0002"].suggested_domain == "sales"


def test_domain_profiles_match_by_text_when_no_member_is_known() -> None:
    customers = [f"C{n}" for n in range(100, 250)]
    ds1, f1 = table("t_1", {"customer_id": ("pk", customers), "full_name": ("name", [f"x{i}" for i in range(150)]),
                            "email": ("email", [f"e{i}@x.org" for i in range(150)]), "segment": ("cat", ["smb"] * 150)})
    ds2, f2 = table("t_2", {"contact_id": ("pk", [f"K{i}" for i in range(80)]),
                            "customer_id": ("fk", customers[:80]),
                            "contact_email": ("email", [f"k{i}@x.org" for i in range(80)])})
    ds3, f3 = table("sheet3", {"employee_id": ("pk", list(range(5000, 5060))),
                               "salary": ("amount", [1.0] * 60), "department": ("cat", ["it", "ops"] * 30)})
    domains = [
        DomainProfile("customer_relations", ["customer master data", "contacts of customers", "customer segment",
                                             "email"], ["person_name", "email"]),
        DomainProfile("people", ["employees", "salary bands", "departments and teams"], ["person_name"]),
        DomainProfile("telemetry", ["device readings", "sensor temperature"], []),
    ]
    got = _by_name(cluster_datasets([ds1, ds2, ds3], [f1, f2, f3], domains=domains))
    assert got["t_1"].cluster == got["t_2"].cluster
    assert got["t_1"].suggested_domain == got["t_2"].suggested_domain == "customer_relations"
    assert got["t_1"].domain_similarity > 0
    assert got["sheet3"].suggested_domain == "people"


def test_a_lone_table_gets_its_own_cluster_and_a_term_made_name() -> None:
    datasets, findings = _three_areas()
    lone, lone_findings = table("t_9999", {
        "recipe_id": ("pk", [f"r{i}" for i in range(50)]),
        "recipe_title": ("text", [f"soup {i}" for i in range(50)]),
        "cooking_minutes": ("amount", [20.5] * 50),
        "recipe_calories": ("amount", [400.0] * 50),
    })
    got = cluster_datasets([*datasets, lone], [*findings, lone_findings])
    mine = got[-1]
    assert [a.cluster for a in got].count(mine.cluster) == 1
    assert mine.domain_similarity == 0.0
    assert mine.suggested_domain.isidentifier() and mine.suggested_domain == mine.suggested_domain.lower()
    assert mine.suggested_domain.split("_")[0] == "recipe"
    assert mine.terms[0] == "recipe" and {"cooking", "calory"} & set(mine.terms)


def test_labels_are_ordered_by_first_member() -> None:
    datasets, findings = _three_areas()
    got = cluster_datasets(datasets, findings)
    seen: list[str] = []
    for a in got:
        if a.cluster not in seen:
            seen.append(a.cluster)
    assert seen == [f"c{i}" for i in range(1, len(seen) + 1)]
    assert [a.dataset for a in got] == [d.name for d in datasets]


def test_deterministic() -> None:
    corpus = generate_corpus(11)
    first = cluster_datasets(corpus.datasets, corpus.findings)
    second = cluster_datasets(list(corpus.datasets), [list(f) for f in corpus.findings])
    assert first == second


_SUBPROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from test_discovery_cluster import generate_corpus
from meshfabric.discovery.cluster import cluster_datasets
corpus = generate_corpus(4)
got = cluster_datasets(corpus.datasets, corpus.findings)
print(json.dumps([[a.cluster, a.terms, a.suggested_domain, a.domain_similarity] for a in got]))
"""


def test_deterministic_across_hash_seeds() -> None:
    """String hashing is salted per process; the result must not depend on it."""
    script = _SUBPROCESS.format(tests=str(Path(__file__).parent))
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_empty_and_no_findings() -> None:
    assert cluster_datasets([], []) == []
    ds = DatasetSample("sheet1", [ColumnSample("a", "string", [None, None])], rows=2)
    (only,) = cluster_datasets([ds], [])
    assert only.cluster == "c1"
    assert only.suggested_domain.isidentifier()


def test_tokens() -> None:
    assert tokens("OrderNumber") == ["order", "number"]
    assert tokens("cust_addr_2") == ["customer", "address"]
    assert tokens("t_0042") == ["t"] or tokens("t_0042") == []
    assert tokens("ticketIDs") == ["ticket", "id"]


def test_adjusted_rand_index_on_generated_areas() -> None:
    """Three generated corpora (not one seed the weights were fitted to): on average at least 0.6, none
    below 0.5. Over seeds 1..10 the mean is about 0.65 (0.53 .. 0.75); the seed's literal TF-IDF over table
    names with DBSCAN scored 0.00."""
    scores = []
    for seed in (1, 2, 3):
        corpus = generate_corpus(seed)
        got = cluster_datasets(corpus.datasets, corpus.findings)
        scores.append(adjusted_rand_index(corpus.truth, [a.cluster for a in got]))
    assert min(scores) >= 0.5, scores
    assert sum(scores) / len(scores) >= 0.6, scores


def test_table_names_alone_would_not_do() -> None:
    """The generated tables carry no area in their names for the most part: grouping by table-name tokens
    scores near zero, so the score above comes from columns and values."""
    corpus = generate_corpus(1)
    by_name = [" ".join(t for t in tokens(d.name) if t not in {"t", "tbl", "export", "sheet"}) or d.name
               for d in corpus.datasets]
    assert adjusted_rand_index(corpus.truth, by_name) < 0.2


def test_500_datasets_of_twenty_columns_each_get_an_assignment() -> None:
    # its speed is measured by benchmarks/discovery.py, not asserted here
    rng = random.Random(5)
    datasets: list[DatasetSample] = []
    findings: list[list[ColumnFinding]] = []
    while len(datasets) < 500:
        corpus = generate_corpus(rng.randrange(1_000_000))
        for ds, fs in zip(corpus.datasets, corpus.findings, strict=True):
            columns = list(ds.columns)
            extra = [ColumnSample(f"{c.name}_{k}", c.logical_type, c.values) for k in range(4) for c in columns]
            columns = (columns + extra)[:20]
            datasets.append(DatasetSample(f"{ds.name}_{len(datasets)}", columns, ds.rows, ds.total_rows))
            findings.append([*fs, *[ColumnFinding(c.name, c.logical_type, None, [], 0.5) for c in columns[len(fs):]]])
    datasets, findings = datasets[:500], findings[:500]
    got = cluster_datasets(datasets, findings)
    assert len(got) == 500 and all(a.cluster.startswith("c") for a in got)


# ------------------------------------------------------------------------------------------- property

_cell = st.one_of(st.none(), st.integers(-5, 50), st.sampled_from(["a", "b", "ID-1", "ID-2", "x y", ""]),
                  st.floats(allow_nan=True), st.booleans())


@st.composite
def _datasets(draw: st.DrawFn) -> tuple[list[DatasetSample], list[list[ColumnFinding]]]:
    count = draw(st.integers(0, 6))
    datasets: list[DatasetSample] = []
    findings: list[list[ColumnFinding]] = []
    for i in range(count):
        rows = draw(st.integers(0, 8))
        columns = []
        found = []
        for j in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from(["id", "customer_id", "col1", "OrderDate", "x", "_", "数据", "status"]))
            logical = draw(st.sampled_from(["string", "integer", "double", "timestamp", "boolean", ""]))
            values = draw(st.lists(_cell, min_size=rows, max_size=rows))
            columns.append(ColumnSample(f"{name}{j}", logical, values))
            semantic = draw(st.sampled_from([None, "identifier", "email", "category", "person_name"]))
            found.append(ColumnFinding(f"{name}{j}", logical, semantic, [], 0.5))
        name = draw(st.sampled_from(["t_0001", "sheet1", "orders", "export_3", ""]))
        datasets.append(DatasetSample(f"{name}{i}", columns, rows))
        findings.append(draw(st.sampled_from([found, [], found[:1]])))
    return datasets, findings


@settings(max_examples=150, deadline=None)
@given(_datasets(), st.booleans())
def test_any_small_input_gets_one_wellformed_assignment_each(data: tuple[list[DatasetSample],
                                                                          list[list[ColumnFinding]]],
                                                             with_context: bool) -> None:
    datasets, findings = data
    known = {datasets[0].name: "sales"} if with_context and datasets else None
    domains = [DomainProfile("sales", ["orders customers"], ["email"])] if with_context else []
    got = cluster_datasets(datasets, findings, known=known, domains=domains)
    assert [a.dataset for a in got] == [d.name for d in datasets]
    labels = [a.cluster for a in got]
    first_seen = list(dict.fromkeys(labels))
    assert first_seen == [f"c{i}" for i in range(1, len(first_seen) + 1)]
    for a in got:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", a.suggested_domain) or a.suggested_domain == "sales"
        assert not keyword.iskeyword(a.suggested_domain)
        assert 0.0 <= a.domain_similarity <= 1.0 + 1e-9
    assert got == cluster_datasets(datasets, findings, known=known, domains=domains)


# ------------------------------------------------------------------------------ domain propagation


def _registered(corpus: Corpus, seed: int) -> tuple[dict[str, str], list[DomainProfile]]:
    """One or two registered datasets per area and a profile per area: a short description plus the
    registered datasets' names and column names, as ``discover`` builds them from the workspace."""
    descriptions = {
        "sales": "What we sell: orders, order lines and the product catalogue",
        "crm": "Customers, their contacts and accounts",
        "hr": "Employees, payroll and leave",
        "finance": "Invoices, payments, the general ledger and budgets",
        "logistics": "Shipments, warehouses and deliveries",
        "support": "Support tickets, agents and satisfaction surveys",
    }
    rng = random.Random(seed * 7 + 1)
    known: dict[str, str] = {}
    for area in sorted(set(corpus.truth)):
        members = [i for i, t in enumerate(corpus.truth) if t == area]
        for i in rng.sample(members, rng.choice([1, 1, 2])):
            known[corpus.datasets[i].name] = area
    profiles = []
    for area in sorted(set(corpus.truth)):
        texts = [area, descriptions[area]]
        for ds in corpus.datasets:
            if known.get(ds.name) == area:
                texts += [ds.name, *(c.name for c in ds.columns)]
        profiles.append(DomainProfile(area, texts, []))
    return known, profiles


def test_labels_propagate_beyond_direct_neighbours() -> None:
    """A chain of key links from one registered dataset carries its domain two hops on; the other
    registered domain keeps its own chain; the clusters are the domains' groups."""
    rng = random.Random(11)
    orders = [f"O-{n:06d}" for n in rng.sample(range(100_000, 999_999), 150)]
    lines = [f"L-{n:06d}" for n in rng.sample(range(100_000, 999_999), 200)]
    staff = [f"E{n:05d}" for n in rng.sample(range(10_000, 99_999), 60)]
    pairs = [
        table("t_1", {"k": ("pk", orders), "s": ("cat", rng.choices(["paid", "open"], k=150))}),
        table("t_2", {"k": ("pk", lines), "o": ("fk", rng.choices(orders, k=200))}),
        table("t_3", {"l": ("fk", rng.choices(lines, k=120)), "q": ("small", [1] * 120)}),
        table("t_4", {"k": ("pk", staff), "v": ("amount", [1.0] * 60)}),
        table("t_5", {"w": ("fk", rng.choices(staff, k=90)), "d": ("date", [None] * 90)}),
    ]
    got = cluster_datasets([p[0] for p in pairs], [p[1] for p in pairs], known={"t_1": "sales", "t_4": "people"})
    assert [a.suggested_domain for a in got] == ["sales", "sales", "sales", "people", "people"]
    assert got[0].cluster == got[1].cluster == got[2].cluster != got[3].cluster == got[4].cluster


def test_domain_words_reach_a_dataset_without_links() -> None:
    """No registered member, no key link: the stemmed words of a domain's description against the column
    names ("invoices" ~ ``invoice_no``) decide."""
    a, fa = table("t_77", {"invoice_no": ("pk", [f"I{i}" for i in range(50)]),
                           "paid_amount": ("amount", [1.0] * 50), "ledger_account": ("cat", ["4000", "5000"] * 25)})
    b, fb = table("sheet4", {"ticket_ref": ("pk", [f"T{i}" for i in range(40)]),
                             "agent": ("cat", ["ann", "bo"] * 20)})
    domains = [DomainProfile("finance", ["finance", "Payments, invoices and the general ledger"]),
               DomainProfile("support", ["support", "Support tickets and agents"])]
    got = cluster_datasets([a, b], [fa, fb], domains=domains)
    assert [x.suggested_domain for x in got] == ["finance", "support"]
    assert got[0].cluster != got[1].cluster
    assert got[0].domain_similarity > 0


def test_an_area_no_domain_reaches_is_clustered_apart() -> None:
    datasets, findings = _three_areas()
    got = _by_name(cluster_datasets(datasets, findings, known={"t_0001": "sales", "t_0004": "people"}))
    assert got["t_0006"].cluster == got["t_0007"].cluster
    assert got["t_0006"].cluster not in {got["t_0001"].cluster, got["t_0004"].cluster}
    assert got["t_0006"].suggested_domain == got["t_0007"].suggested_domain
    assert got["t_0006"].domain_similarity == 0.0


def test_propagation_on_generated_areas() -> None:
    """With registered products and domain profiles (seeds 3..5, not fitted to): adjusted Rand index and
    suggested-domain accuracy over the unregistered datasets at least 0.65 and 0.75 on average. Over seeds
    1..10 the means were 0.73 and 0.84, where Louvain with cluster-level domain matching gave 0.65 and 0.84."""
    aris, accuracies = [], []
    for seed in (3, 4, 5):
        corpus = generate_corpus(seed)
        known, profiles = _registered(corpus, seed)
        got = cluster_datasets(corpus.datasets, corpus.findings, domains=profiles, known=known)
        aris.append(adjusted_rand_index(corpus.truth, [a.cluster for a in got]))
        unregistered = [i for i, ds in enumerate(corpus.datasets) if ds.name not in known]
        accuracies.append(sum(got[i].suggested_domain == corpus.truth[i] for i in unregistered) / len(unregistered))
        for i, a in enumerate(got):
            if corpus.datasets[i].name in known:
                assert a.suggested_domain == known[a.dataset] and a.domain_similarity == 1.0
    assert sum(aris) / 3 >= 0.65, aris
    assert sum(accuracies) / 3 >= 0.75, accuracies


def test_propagation_is_deterministic_across_inputs_copies() -> None:
    corpus = generate_corpus(6)
    known, profiles = _registered(corpus, 6)
    first = cluster_datasets(corpus.datasets, corpus.findings, domains=profiles, known=known)
    again = cluster_datasets(list(corpus.datasets), [list(f) for f in corpus.findings], domains=list(profiles),
                             known=dict(sorted(known.items())))
    assert first == again
