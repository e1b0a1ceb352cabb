"""The product page in a real browser (headless Chromium, issue 14): it loads with no console error
and no request off the machine, what it draws equals the REST API's answer for the same
principal, the lineage graph draws the upstreams and downstreams and navigates, column lineage
comes on demand, a restricted principal gets no access panel and the not-found page for what it
may not discover. Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import ui_browser
import ui_product_support as support
from auth_support import secret_env
from helpers import default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app
from ui_browser import (
    console_errors,
    drain_logs,
    external_requests,
    page_weight,
    screenshot,
    serve_app,
    set_width,
    wait_for,
)

pytestmark = pytest.mark.slow
browser = ui_browser.browser  # the fixture, found by pytest under this name


@dataclass
class Served:
    base: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = support.build(tmp_path_factory.mktemp("uiproduct") / "ws")
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        keys = support.prepare(mesh, root)
        with serve_app(create_app(mesh)) as base:
            yield Served(base, keys)


def _sign_in(driver: Any, served: Served, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(served.base + "/login")
    wait_for(driver, "#credential").send_keys(served.keys[user])
    driver.find_element("css selector", "form[action='/login'] button[type=submit]").click()
    wait_for(driver, "main")


def _api(served: Served, user: str, path: str, **params: Any) -> Any:
    r = httpx.get(served.base + path, params=params, headers={"X-API-Key": served.keys[user]}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _all(driver: Any, css: str) -> list[Any]:
    return list(driver.find_elements("css selector", css))


def _clean(driver: Any, served: Served, name: str) -> None:
    assert console_errors(driver) == [], name
    assert external_requests(driver, served.base) == [], name
    assert page_weight(driver) < 1_000_000, name
    screenshot(driver, name)


def _open(driver: Any, served: Served, path: str) -> None:
    drain_logs(driver)
    driver.get(served.base + path)
    wait_for(driver, "main")


@pytest.mark.parametrize("user", ["admin", "alice"])
def test_the_page_draws_the_apis_answer(browser: Any, served: Served, user: str) -> None:
    _sign_in(browser, served, user)
    _open(browser, served, "/products/sales/orders")
    svg = wait_for(browser, "#lineage-graph svg[data-mode=products]")
    _clean(browser, served, f"product-sales.orders-{user}")
    assert browser.find_element("css selector", "#product").get_attribute("data-fqn") == "sales.orders"
    # quality history: the scores and failing rules drawn are the API's runs
    runs = _api(served, user, "/api/v1/products/sales.orders/quality/runs", limit=30)["items"]
    drawn = _all(browser, "#quality tr.run")
    assert [int(r.get_attribute("data-run-id")) for r in drawn] == [r["id"] for r in runs]
    assert [r.get_attribute("data-score") for r in drawn] == [
        "" if r["score"] is None else repr(float(r["score"])) for r in runs]
    assert {r.get_attribute("data-failed") for r in drawn} == {"small_amounts"}
    # schema versions, as the registry answers
    versions = _api(served, user, "/api/v1/products/sales.orders/schemas")["items"]
    assert [int(v.get_attribute("data-version")) for v in _all(browser, "#schema details.schema-version")] == [
        v["version"] for v in versions]
    # contracts
    contracts = _api(served, user, "/api/v1/contracts", product="sales.orders")["items"]
    assert [c.get_attribute("data-id") for c in _all(browser, "#contracts tr.contract")] == [c["id"] for c in contracts]
    # the lineage graph: a node for the product and for each upstream and downstream the API walks
    walks = {d: _api(served, user, f"/api/v1/lineage/{d}", node="sales.orders") for d in ("upstream", "downstream")}
    expected = {"sales.orders"} | {n["key"] for d in walks.values() for n in d["nodes"] if n["kind"] != "column"}
    nodes = {n.get_attribute("data-key"): n for n in _all(browser, "#lineage-graph g.node")}
    assert set(nodes) == expected and "sales.order_totals" in nodes
    assert int(nodes["sales.order_totals"].get_attribute("data-layer")) == 1
    assert int(svg.get_attribute("data-edges")) >= 1
    edge = browser.find_element("css selector", "#lineage-graph path.edge")
    assert (edge.get_attribute("data-src"), edge.get_attribute("data-dst")) == ("sales.orders", "sales.order_totals")
    assert (browser.find_elements("css selector", "#access") != []) is (user == "admin")


def test_column_lineage_on_demand_and_navigation(browser: Any, served: Served) -> None:
    _sign_in(browser, served, "admin")
    _open(browser, served, "/products/sales/orders")
    wait_for(browser, "#lineage-graph svg[data-mode=products]")
    drain_logs(browser)
    browser.find_element("css selector", "#lineage-columns").click()
    svg = wait_for(browser, "#lineage-graph svg[data-mode=columns]")
    walk = _api(served, "admin", "/api/v1/lineage/downstream", node="sales.orders", columns="true")
    column_edges = {(e["dst"]["key"], e["src"]["key"]) for e in walk["edges"]
                    if e["rel"] == "derived_from" and e["src"]["kind"] == "column"}
    drawn = {(p.get_attribute("data-src"), p.get_attribute("data-dst"))
             for p in _all(browser, "#lineage-graph path.column-edge")}
    assert drawn == column_edges and ("sales.orders.amount", "sales.order_totals.total") in drawn
    product_edges = {(e["dst"]["key"], e["src"]["key"]) for e in walk["edges"]
                     if e["rel"] == "derived_from" and e["src"]["kind"] == "product"}
    assert int(svg.get_attribute("data-edges")) == len(column_edges) + len(product_edges)
    assert "sales.order_totals.total" in {c.get_attribute("data-key") for c in _all(browser, "#lineage-graph g.col")}
    assert browser.find_element("css selector", "#lineage-columns").get_attribute("aria-pressed") == "true"
    browser.execute_script("document.getElementById('lineage').scrollIntoView()")
    _clean(browser, served, "product-sales.orders-columns")
    # a product node opens that product's page
    browser.find_element("css selector", "#lineage-graph g.node[data-key='sales.order_totals']").click()
    wait_for(browser, "#product[data-fqn='sales.order_totals']")
    assert browser.current_url.endswith("/products/sales/order_totals")
    upstream = {n.get_attribute("data-key") for n in _all(browser, "#lineage-graph g.node")}
    assert "sales.orders" in upstream
    back = browser.find_element("css selector", "#lineage-graph g.node[data-key='sales.orders']")
    assert back.get_attribute("data-layer") == "-1"


def test_a_restricted_principal(browser: Any, served: Served) -> None:
    # carol may discover sales.orders only: its page, without the access panel or what she cannot see
    _sign_in(browser, served, "carol")
    _open(browser, served, "/products/sales/orders")
    wait_for(browser, "#lineage-graph svg")
    _clean(browser, served, "product-sales.orders-carol")
    assert browser.find_elements("css selector", "#access") == []
    assert {n.get_attribute("data-key") for n in _all(browser, "#lineage-graph g.node")} == {"sales.orders"}
    assert "order_totals" not in browser.page_source
    # a product she may not discover is the page of one that does not exist (a missing name as
    # close to the names she may see, so that the did-you-mean hint is the same too)
    _open(browser, served, "/products/sales/order_totals")
    hidden = browser.find_element("css selector", "main").text.replace("sales.order_totals", "NAME")
    assert external_requests(browser, served.base) == []
    screenshot(browser, "product-hidden-carol")
    _open(browser, served, "/products/sales/order_totalz")
    missing = browser.find_element("css selector", "main").text.replace("sales.order_totalz", "NAME")
    assert hidden == missing and "404" in hidden and "order_totals" not in hidden


def test_the_page_fits_a_phone(browser: Any, served: Served) -> None:
    _sign_in(browser, served, "admin")
    set_width(browser, 390)
    try:
        _open(browser, served, "/products/sales/orders")
        wait_for(browser, "#lineage-graph svg")
        _clean(browser, served, "product-sales.orders-390")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, "the product page scrolls sideways at 390px"
    finally:
        set_width(browser, 1280)
