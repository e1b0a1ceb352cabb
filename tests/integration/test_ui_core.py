"""The web UI in a real browser (headless Chromium): pages load with no console error and no request
off the machine, the numbers drawn equal the REST API's for the same principal, a restricted
principal's pages omit what it may not discover, sign-in, CSRF refusal, the alert acknowledge
round trip, and /docs and /redoc offline (issue 14). Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import access_support as acc
import ui_browser
from auth_support import HS_AUTH, hs_token, secret_env
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

RULES = """\
quality:
  - {type: not_null, column: id}
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
"""
CUSTOMER_RULES = """\
quality:
  - {type: not_null, column: email}
"""


@dataclass
class Served:
    base: str
    mesh: Mesh
    keys: dict[str, str]
    root: Path


def _record_history(mesh: Mesh) -> None:
    """Recorded activity for the charts: dated quality runs, queries (the audit log) and alerts."""
    from meshfabric.quality.detectors import MADDetector
    from meshfabric.quality.monitor import MonitorConfig, Observation, record

    now = datetime.now(UTC).replace(microsecond=0)
    for days_ago in (6, 5, 4, 3, 2, 1):
        at = now - timedelta(days=days_ago)
        mesh.quality.run("sales.orders", at=at)
        mesh.quality.run("crm.customers", at=at)
    for user in ("admin", "alice", "admin"):
        mesh.query("SELECT count(*) AS n FROM sales.orders", user=user)
    mesh.query("SELECT count(*) AS n FROM crm.customers", user="admin")
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    start = now - timedelta(hours=12)
    for product, series in (("sales.orders", "ui_rows"), ("sales.orders", "ui_nulls"), ("hr.salaries", "ui_pay")):
        for i in range(10):
            record(mesh.store, [Observation(product, series, 1.0 if i % 2 else -1.0, ts=start + timedelta(hours=i))],
                   config=config)
        record(mesh.store, [Observation(product, series, 40.0, ts=start + timedelta(hours=10))], config=config)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("ui") / "ws"
    acc.build(root, mesh=acc.MESH + HS_AUTH)
    for spec, rules in (("orders.yaml", RULES), ("customers.yaml", CUSTOMER_RULES)):
        path = root / "specs" / spec
        path.write_text(path.read_text() + rules)
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        acc.setup_principals(mesh)
        mesh.access.create_principal("admin")
        keys = {name: mesh.auth.create_api_key(name).key for name in ("admin", "alice", "carol")}
        _record_history(mesh)
        with serve_app(create_app(mesh)) as base:
            yield Served(base, mesh, keys, root)


def _sign_in(driver: Any, base: str, credential: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login")
    box = wait_for(driver, "#credential")
    box.send_keys(credential)
    driver.find_element("css selector", "form[action='/login'] button[type=submit]").click()
    # the next page, not the form still showing while the browser posts it
    wait_for(driver, "[data-principal], #login-message")


def _api(served: Served, user: str, path: str, **params: Any) -> Any:
    r = httpx.get(served.base + path, params=params, headers={"X-API-Key": served.keys[user]}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _num(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def _clean(driver: Any, base: str, name: str) -> None:
    """The page in the window loaded with no console error and no request off the machine."""
    assert console_errors(driver) == [], name
    assert external_requests(driver, base) == [], name
    assert page_weight(driver) < 1_000_000, name
    screenshot(driver, name)


# -- sign-in ---------------------------------------------------------------------------------------

def test_a_page_without_a_session_goes_to_the_login_form(browser: Any, served: Served) -> None:
    browser.delete_all_cookies()
    browser.get(served.base + "/domains/sales")
    wait_for(browser, "#credential")
    assert "/login" in browser.current_url and "next=%2Fdomains%2Fsales" in browser.current_url


def test_a_bad_key_is_refused_with_a_message(browser: Any, served: Served) -> None:
    _sign_in(browser, served.base, "mf_nothing_notakey")
    message = wait_for(browser, "#login-message").text
    assert "Not signed in" in message and browser.current_url.endswith("/login")
    assert browser.get_cookie("mf_session") is None or "principal" not in browser.page_source
    browser.get(served.base + "/")
    assert "/login" in browser.current_url


def test_sign_in_with_a_token_and_sign_out(browser: Any, served: Served) -> None:
    with secret_env():
        token = hs_token(sub="alice")
    _sign_in(browser, served.base, token)
    assert browser.find_element("css selector", "[data-principal]").text == "alice"
    cookie = browser.get_cookie("mf_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    browser.find_element("css selector", "form[action='/logout'] button").click()
    wait_for(browser, "#credential")
    browser.get(served.base + "/")
    assert "/login" in browser.current_url


# -- every page, clean -----------------------------------------------------------------------------

PAGES = ["/", "/domains/sales", "/domains/crm", "/products/sales/orders", "/search?q=ordrs", "/search?q=", "/alerts",
         "/alerts?status=resolved", "/nope"]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_loads_clean(browser: Any, served: Served, width: int) -> None:
    _sign_in(browser, served.base, served.keys["admin"])
    set_width(browser, width)
    try:
        for page in PAGES:
            drain_logs(browser)
            browser.get(served.base + page)
            wait_for(browser, "main")
            if page == "/nope":  # a 404 page: the browser logs the status itself, nothing else
                assert "404" in browser.find_element("css selector", "h1").text
                assert external_requests(browser, served.base) == []
                continue
            _clean(browser, served.base, f"{width}{page}")
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{page} scrolls sideways at {width}px"
    finally:
        set_width(browser, 1280)


def test_docs_and_redoc_render_offline(browser: Any, served: Served) -> None:
    drain_logs(browser)
    browser.get(served.base + "/docs")
    wait_for(browser, ".swagger-ui .opblock", timeout=60)
    assert console_errors(browser) == []
    assert external_requests(browser, served.base) == []
    screenshot(browser, "docs")
    browser.get(served.base + "/redoc")
    wait_for(browser, "[role=navigation], .menu-content, h1", timeout=60)
    wait_for(browser, "h1", timeout=60)
    assert console_errors(browser) == []
    assert external_requests(browser, served.base) == []
    screenshot(browser, "redoc")


# -- the numbers drawn equal the API's -------------------------------------------------------------

@pytest.mark.parametrize("user", ["admin", "alice"])
def test_domain_page_draws_the_apis_numbers(browser: Any, served: Served, user: str) -> None:
    _sign_in(browser, served.base, served.keys[user])
    browser.get(served.base + "/domains/sales")
    period = wait_for(browser, "#period")
    api = _api(served, user, "/api/v1/domains/sales/health",
               since=period.get_attribute("data-start"), until=period.get_attribute("data-end"))
    q = api["quality_trends"]
    quality = browser.find_element("css selector", "#quality")
    assert quality.get_attribute("data-trend") == q["trend"]
    dots = browser.find_elements("css selector", "#quality circle.dot")
    assert [d.get_attribute("data-x") for d in dots] == q["dates"]
    assert [float(d.get_attribute("data-value")) for d in dots] == q["scores"]
    assert len(q["scores"]) >= 6  # the six dated runs
    slo = browser.find_element("css selector", "#slo")
    assert _num(slo.get_attribute("data-overall")) == api["slo_compliance"]["overall_compliance"]
    gauges = {g.get_attribute("data-objective"): _num(g.get_attribute("data-value"))
              for g in browser.find_elements("css selector", "#slo div.gauge")}
    assert gauges == api["slo_compliance"]["metrics"]
    bars = [int(b.get_attribute("data-value")) for b in browser.find_elements("css selector", "#usage rect.bar")]
    assert bars == api["usage_patterns"]["usage"] and sum(bars) >= 3
    perf = browser.find_element("css selector", "#performance")
    pm = api["performance_metrics"]
    assert _num(perf.get_attribute("data-p50")) == pm["query_latency"]["p50"]
    assert _num(perf.get_attribute("data-p95")) == pm["query_latency"]["p95"]
    assert _num(perf.get_attribute("data-throughput")) == pm["throughput"]["value"]
    assert _num(perf.get_attribute("data-error-rate")) == pm["error_rate"]["value"]
    assert int(perf.get_attribute("data-queries")) == pm["queries"]
    listed = [r.get_attribute("data-fqn") for r in browser.find_elements("css selector", "#products tr.product")]
    assert listed == [p["fqn"] for p in _api(served, user, "/api/v1/products", domain="sales")["items"]]
    slos = {s["product"]: s["status"] for s in _api(served, user, "/api/v1/slos", domain="sales")["items"]}
    assert {r.get_attribute("data-fqn"): r.get_attribute("data-slo")
            for r in browser.find_elements("css selector", "#products tr.product")} == slos
    screenshot(browser, f"domain-sales-{user}")


@pytest.mark.parametrize("budget", [None, 0.0])
def test_overview_draws_the_apis_numbers(browser: Any, served: Served, budget: float | None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With no time budget every row's health comes later, fetched by the page's script."""
    import meshfabric.ui.pages as pages

    if budget is not None:
        monkeypatch.setattr(pages, "OVERVIEW_BUDGET", budget)
        monkeypatch.setattr(pages, "HEALTH_SECONDS", 0.0)  # nothing cached: every row is pending
    _sign_in(browser, served.base, served.keys["admin"])
    drain_logs(browser)
    browser.get(served.base + "/?days=7")
    wait_for(browser, "#domains[data-complete='1']")
    _clean(browser, served.base, f"overview-budget-{budget}")
    rows = browser.find_elements("css selector", "#domains tr.domain")
    domains = _api(served, "admin", "/api/v1/domains")["items"]
    assert {r.get_attribute("data-domain") for r in rows} == {d["name"] for d in domains}
    open_alerts = _api(served, "admin", "/api/v1/alerts", status="open", limit=1000)["items"]
    for row in rows:
        name = row.get_attribute("data-domain")
        assert row.get_attribute("data-pending") is None
        if row.get_attribute("data-start"):
            api = _api(served, "admin", f"/api/v1/domains/{name}/health",
                       since=row.get_attribute("data-start"), until=row.get_attribute("data-end"))
            assert _num(row.get_attribute("data-compliance")) == api["slo_compliance"]["overall_compliance"]
            scores = api["quality_trends"]["scores"]
            assert _num(row.get_attribute("data-quality")) == (scores[-1] if scores else None)
        mine = [a for a in open_alerts if a["product"].startswith(name + ".")]
        assert int(row.get_attribute("data-alerts")) == len(mine)
    attention = [float(r.get_attribute("data-attention")) for r in rows]
    assert attention == sorted(attention, reverse=True)
    assert rows[0].get_attribute("data-domain") in {"sales", "hr"}  # the domains with open alerts


def test_search_shows_the_apis_ranking_and_a_correction(browser: Any, served: Served) -> None:
    _sign_in(browser, served.base, served.keys["admin"])
    browser.get(served.base + "/search?q=ordrs")
    wait_for(browser, "#total")
    api = _api(served, "admin", "/api/v1/search", q="ordrs", limit=20)
    hits = [h.get_attribute("data-fqn") for h in browser.find_elements("css selector", "#hits li.hit")]
    assert hits == [h["fqn"] for h in api["items"]] and "sales.orders" in hits
    if api["corrections"]:
        assert "Did you mean" in browser.find_element("css selector", "#did-you-mean").text


# -- a restricted principal ------------------------------------------------------------------------

def test_a_restricted_principal_sees_no_hidden_product(browser: Any, served: Served) -> None:
    """carol may discover sales.orders only: crm, hr and their products exist nowhere in her UI."""
    _sign_in(browser, served.base, served.keys["carol"])
    seen = []
    for page in ["/", "/domains/sales", "/search?q=", "/search?q=customers", "/search?q=salary",
                 "/alerts", "/alerts?status=resolved"]:
        browser.get(served.base + page)
        wait_for(browser, "main")
        seen.append(browser.page_source)
    text = "\n".join(seen)
    for hidden in ("crm.customers", "hr.salaries", "/domains/crm", "/domains/hr", "salaries", "ui_pay"):
        assert hidden not in text, hidden
    assert "sales.orders" in text or "/products/sales/orders" in text
    for page in ("/domains/hr", "/domains/crm"):
        browser.get(served.base + page)
        assert "404" in wait_for(browser, "h1").text
    rows = [r.get_attribute("data-domain") for r in browser.find_elements("css selector", "#domains tr.domain")]
    assert "hr" not in rows


# -- forms -----------------------------------------------------------------------------------------

def test_acknowledge_round_trip(browser: Any, served: Served) -> None:
    _sign_in(browser, served.base, served.keys["admin"])
    browser.get(served.base + "/alerts?status=open")
    row = wait_for(browser, "#alerts tr.alert[data-product='sales.orders']")
    alert_id = row.get_attribute("data-id")
    row.find_element("css selector", "button[data-action=ack]").click()
    notice = wait_for(browser, "#notice").text
    assert notice == f"alert {alert_id} acknowledged"
    shown = _api(served, "admin", f"/api/v1/alerts/{alert_id}")
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "admin"
    browser.get(served.base + "/alerts?status=acknowledged")
    assert wait_for(browser, f"#alerts tr.alert[data-id='{alert_id}']").get_attribute("data-status") == "acknowledged"
    row = browser.find_element("css selector", f"#alerts tr.alert[data-id='{alert_id}']")
    row.find_element("css selector", "input[name=for]").clear()
    row.find_element("css selector", "input[name=for]").send_keys("3h")
    row.find_element("css selector", "button[data-action=silence]").click()
    assert wait_for(browser, "#notice").text == f"alert {alert_id} silenced"
    assert _api(served, "admin", f"/api/v1/alerts/{alert_id}")["silenced_until"] is not None
    screenshot(browser, "alerts-after-silence")


def test_a_form_without_its_token_is_refused_and_changes_nothing(browser: Any, served: Served) -> None:
    _sign_in(browser, served.base, served.keys["admin"])
    browser.get(served.base + "/alerts?status=open")
    row = wait_for(browser, "#alerts tr.alert")
    alert_id = row.get_attribute("data-id")
    before = _api(served, "admin", f"/api/v1/alerts/{alert_id}")
    for token in ("", "forged-token"):
        browser.execute_script(
            "const f = arguments[0]; const t = f.querySelector('input[name=csrf_token]');"
            "if (arguments[1]) { t.value = arguments[1]; } else { t.remove(); } f.submit();",
            row.find_element("css selector", "form[action$='/ack']"), token)
        heading = wait_for(browser, "h1").text
        assert heading.startswith("403"), heading
        assert "nothing was changed" in browser.page_source
        assert _api(served, "admin", f"/api/v1/alerts/{alert_id}") == before
        browser.get(served.base + "/alerts?status=open")
        row = wait_for(browser, f"#alerts tr.alert[data-id='{alert_id}']")
    drain_logs(browser)


# -- without authentication ------------------------------------------------------------------------

def test_no_auth_serves_the_local_principal_without_a_login(browser: Any, served: Served) -> None:
    with serve_app(create_app(served.mesh, auth=False)) as base:
        browser.delete_all_cookies()
        drain_logs(browser)
        browser.get(base + "/")
        wait_for(browser, "#domains")
        assert "local principal" in browser.find_element("css selector", ".who").text
        names = {r.get_attribute("data-domain") for r in browser.find_elements("css selector", "#domains tr.domain")}
        assert names == {"sales", "crm", "hr"}
        _clean(browser, base, "no-auth-overview")
        browser.get(base + "/login")
        assert browser.current_url == base + "/"
