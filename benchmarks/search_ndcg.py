"""Search ranking quality: NDCG@10 of a labelled query set over a hand-built catalog.

    .venv/bin/python benchmarks/search_ndcg.py [--labels benchmarks/search_labels.json] [--verbose]

The catalog (about 200 products, written below by hand: 48 entities of a business, each with its
main table, a daily aggregate, an event history and an archive, columns referring to other
entities) mixes singular and plural table names (``orders`` but ``customer``), ``-ing`` and
``-ed`` forms (``shipping_carrier``, ``shipped_at``), the way real catalogs do. The labelled set
(``search_labels.json``) says, per query, which entities a person typing it looks for, graded;
a product's grade follows from its entity and role (see the file's ``about``).

Each query is run twice on the same index: with the current ranking (stems: a word with the query
word's stem counts 0.9 of the word) and with the ranking before stemming (the query reads only
its words and their prefixes). NDCG@10 with gains 2^grade − 1, the ideal ranking from every
labelled product.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from meshfabric.events import DomainEvent, append
from meshfabric.mesh import Mesh
from meshfabric.search import service, sync_search
from meshfabric.search.ranking import Group, query_group
from meshfabric.store import open_store
from meshfabric.store.models import DomainRow, ProductRow

#: entity, domain, main table name, its other columns, description, entities it refers to
ENTITIES: list[tuple[str, str, str, list[str], str, list[str]]] = [
    ("order", "sales", "orders", ["ordered_at", "status", "total_amount", "currency"],
     "Every order placed in the web shop or by phone", ["customer"]),
    ("order_item", "sales", "order_line_items", ["quantity", "unit_price", "line_total"],
     "The lines of each order: which product, how many, at what price", ["order", "product"]),
    ("customer", "crm", "customer", ["full_name", "email", "signed_up_at", "country"],
     "One row per person or company buying from us", []),
    ("customer_segment", "crm", "customer_segments", ["segment_name", "rule", "size"],
     "Groups of customers for targeting", ["customer"]),
    ("invoice", "finance", "invoices", ["issued_on", "due_on", "amount", "billing_address"],
     "Bills sent to customers for their orders", ["customer", "order"]),
    ("invoice_line", "finance", "invoice_line", ["description", "amount", "tax_rate"],
     "The billed items of an invoice", ["invoice"]),
    ("payment", "finance", "payments", ["paid_at", "amount", "method"],
     "Money received against invoices", ["invoice"]),
    ("refund", "finance", "refund", ["refunded_at", "amount", "reason"],
     "Money paid back to a customer", ["payment"]),
    ("shipment", "logistics", "shipments", ["shipped_at", "delivered_at", "tracking_code"],
     "Orders leaving a warehouse", ["order", "carrier"]),
    ("carrier", "logistics", "shipping_carrier", ["carrier_name", "service_level"],
     "Companies delivering our parcels", []),
    ("parcel", "logistics", "parcel", ["weight_kg", "dimensions", "label_printed"],
     "Boxes handed to a carrier", ["shipment"]),
    ("product", "catalog", "products", ["sku", "title", "category", "launched_on"],
     "Everything we sell", []),
    ("price", "catalog", "price_list", ["list_price", "valid_from", "valid_to"],
     "Prices of products over time", ["product"]),
    ("discount", "catalog", "discount", ["percent_off", "starts_on", "ends_on"],
     "Reductions granted on products and orders", ["product"]),
    ("campaign", "marketing", "campaigns", ["channel", "started_on", "spend"],
     "Marketing pushes across channels", []),
    ("newsletter", "marketing", "newsletter", ["subject", "sent_at", "opened_count"],
     "Mailings to subscribers", ["campaign"]),
    ("employee", "hr", "employees", ["hired_on", "job_title", "department"],
     "Staff records", []),
    ("salary", "hr", "salary", ["gross_amount", "paid_on", "grade"],
     "Monthly pay of staff", ["employee"]),
    ("contract", "legal", "contracts", ["signed_on", "counterparty", "ends_on"],
     "Signed agreements with suppliers and clients", []),
    ("ticket", "support", "support_tickets", ["opened_at", "closed_at", "priority"],
     "Requests for help from customers", ["customer"]),
    ("incident", "support", "incident", ["started_at", "resolved_at", "severity"],
     "Outages and their resolution", []),
    ("alert", "ops", "alerts", ["fired_at", "rule_name", "severity"],
     "Monitoring notifications", ["incident"]),
    ("session", "web", "web_sessions", ["started_at", "duration_s", "landing_page"],
     "Visits to the website", ["device"]),
    ("click", "web", "click", ["clicked_at", "element", "page"],
     "Each click on the site", ["session"]),
    ("device", "web", "device", ["os", "browser", "screen"],
     "Phones and computers seen on the site", []),
    ("warehouse", "inventory", "warehouses", ["city", "capacity", "opened_on"],
     "Where goods are kept", []),
    ("stock", "inventory", "stock_levels", ["on_hand", "reserved", "counted_at"],
     "How much of each product each warehouse holds", ["product", "warehouse"]),
    ("supplier", "procurement", "suppliers", ["company", "country", "rating_score"],
     "Companies we buy from", ["contract"]),
    ("review", "catalog", "product_reviews", ["stars", "text", "posted_at"],
     "What buyers write about products", ["product", "customer"]),
    ("rating", "catalog", "rating", ["score", "rated_at"],
     "Star scores without text", ["product"]),
    ("budget", "finance", "budget", ["year", "cost_center", "planned_amount"],
     "Planned spend per cost center", []),
    ("forecast", "finance", "revenue_forecast", ["month", "expected_revenue", "confidence"],
     "Expected revenue ahead", ["budget"]),
    ("account", "finance", "ledger_accounts", ["account_number", "account_type"],
     "The chart of accounts", []),
    ("contact", "crm", "contacts", ["phone", "role", "email"],
     "People at client companies", ["customer"]),
    ("address", "crm", "addresses", ["street", "city", "postcode"],
     "Postal addresses", ["customer"]),
    ("region", "sales", "sales_region", ["region_name", "manager"],
     "Territories of the sales team", []),
    ("store", "sales", "stores", ["city", "opened_on", "floor_area"],
     "Shops on the high street", ["region"]),
    ("return", "logistics", "returns", ["received_at", "condition"],
     "Goods sent back by buyers", ["order"]),
    ("visit", "web", "page_visit", ["url", "visited_at", "referrer"],
     "Page views", ["session"]),
    ("metric", "ops", "metrics", ["metric_name", "value", "recorded_at"],
     "Operational measurements", []),
    ("feedback", "support", "feedback", ["comment", "submitted_at", "sentiment"],
     "Free-text feedback from users", ["customer"]),
    ("target", "sales", "sales_targets", ["period", "target_amount"],
     "Quotas per salesperson", ["employee"]),
    ("cost", "finance", "operating_costs", ["category", "amount", "booked_on"],
     "Running costs of the business", ["budget"]),
    ("margin", "finance", "gross_margin", ["revenue", "cogs", "margin_pct"],
     "Profitability by product", ["product"]),
    ("subscriber", "marketing", "subscribers", ["email", "subscribed_on", "source"],
     "People receiving newsletters", ["newsletter"]),
    ("lead", "crm", "leads", ["source", "score", "created_at"],
     "Prospects not buying yet", ["campaign"]),
    ("opportunity", "crm", "opportunities", ["stage", "expected_close", "value"],
     "Deals in the pipeline", ["lead"]),
    ("vendor_bill", "procurement", "vendor_bills", ["received_on", "amount", "due_on"],
     "What suppliers charge us", ["supplier"]),
]


def _label(entity: str) -> str:
    return entity.replace("_", " ")


def catalog() -> list[dict[str, Any]]:
    """The products: per entity its main table, a daily aggregate, an event history and an archive."""
    found: list[dict[str, Any]] = []
    for entity, domain, table, cols, description, refs in ENTITIES:
        columns = [{"name": f"{entity}_id", "type": "bigint", "description": f"Identifies the {_label(entity)}"}]
        columns += [{"name": c, "type": "string", "description": ""} for c in cols]
        columns += [{"name": f"{r}_id", "type": "bigint", "description": f"The {_label(r)} it belongs to",
                     "refers": r} for r in refs]
        found.append({"entity": entity, "role": "main", "domain": domain, "name": table,
                      "description": description, "columns": columns})
        found.append({"entity": entity, "role": "derived", "domain": domain, "name": f"{entity}_daily",
                      "description": f"Daily counts and sums of {table.replace('_', ' ')}",
                      "columns": [{"name": "day", "type": "date", "description": ""},
                                  {"name": "count", "type": "bigint", "description": ""}]})
        found.append({"entity": entity, "role": "derived", "domain": domain, "name": f"{entity}_events",
                      "description": f"Changes to each {_label(entity)}, as they happened",
                      "columns": [{"name": f"{entity}_id", "type": "bigint", "description": ""},
                                  {"name": "event_type", "type": "string", "description": ""},
                                  {"name": "occurred_at", "type": "timestamp", "description": ""}]})
        found.append({"entity": entity, "role": "derived", "domain": "archive", "name": f"{table}_archive",
                      "description": "Rows older than seven years",
                      "columns": [{"name": c["name"], "type": c["type"], "description": ""} for c in columns]})
    return found


def grades(labels: dict[str, int], products: list[dict[str, Any]]) -> dict[str, int]:
    """fqn -> grade for one query's entity labels."""
    out: dict[str, int] = {}
    for p in products:
        fqn = f"{p['domain']}.{p['name']}"
        g = labels.get(p["entity"], 0)
        g = g if p["role"] == "main" else max(g - 1, 1) if g else 0
        refers = [c["refers"] for c in p["columns"] if "refers" in c]
        if any(labels.get(r) == 3 for r in refers):
            g = max(g, 1)
        if g:
            out[fqn] = g
    return out


def ndcg(ranked: list[str], graded: dict[str, int], k: int = 10) -> float:
    def dcg(gains: list[int]) -> float:
        return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))

    ideal = dcg(sorted(graded.values(), reverse=True))
    return dcg([graded.get(f, 0) for f in ranked]) / ideal if ideal else 0.0


def populate(url: str, products: list[dict[str, Any]]) -> None:
    store = open_store(url)
    with store.write() as s:
        for d in sorted({p["domain"] for p in products}):
            s.add(DomainRow(name=d, description=f"The {d} domain", owners=[f"{d}@example.com"]))
            append(s, DomainEvent("domain.created", d, {"domain": d}))
        for p in products:
            columns = [{k: v for k, v in c.items() if k != "refers"} | {"classification": []} for c in p["columns"]]
            s.add(ProductRow(domain=p["domain"], name=p["name"], owner=f"{p['domain']}@example.com",
                             description=p["description"], tags=[], status="published", version="1.0.0",
                             source="db", spec={}, spec_hash="x", columns=columns, file=""))
            append(s, DomainEvent("product.created", p["domain"], {"product": f"{p['domain']}.{p['name']}"}))
    store.close()


def _words_only(word: str) -> Group:
    """The ranking before stemming: a query word reads itself and the words it starts with."""
    return Group(word, {word: 1.0})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", default=str(Path(__file__).with_name("search_labels.json")))
    parser.add_argument("--verbose", action="store_true", help="each query's NDCG@10 before and after")
    args = parser.parse_args()
    queries = json.loads(Path(args.labels).read_text())["queries"]
    products = catalog()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        populate(url, products)
        mesh = Mesh.from_store(url)
        sync_search(mesh.store)
        results: dict[str, list[float]] = {"before": [], "after": []}
        for q in queries:
            graded = grades(q["entities"], products)
            row = []
            for way, group in (("before", _words_only), ("after", query_group)):
                service.query_group = group
                found = mesh.search(q["query"], limit=10)
                score = ndcg([h.fqn for h in found if h.kind == "product"], graded)
                results[way].append(score)
                row.append(score)
            service.query_group = query_group
            if args.verbose:
                print(f"{q['query']:<20} {row[0]:.3f} → {row[1]:.3f}  ({len(graded)} relevant)")
        mesh.close()
    print(f"{len(products)} products, {len(queries)} labelled queries")
    for way in ("before", "after"):
        vals = results[way]
        print(f"NDCG@10 {way:<6} (ranking {'without' if way == 'before' else 'with'} stems): "
              f"mean {sum(vals) / len(vals):.3f}, min {min(vals):.3f}")
    worse = [q["query"] for q, b, a in zip(queries, results["before"], results["after"], strict=True) if a < b - 1e-9]
    print(f"queries worse with stems: {worse or 'none'}")


if __name__ == "__main__":
    main()
