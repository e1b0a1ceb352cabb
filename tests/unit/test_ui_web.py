"""The web UI's framework through FastAPI's TestClient (no browser): sign-in and its session cookie,
CSRF refusal, access filtering per principal, error pages, and the API left as it was (issue 14)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

import access_support as acc
from auth_support import HS_AUTH, hs_token, secret_env
from helpers import default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.ui.web import COOKIE, SessionStore


@dataclass
class Setup:
    mesh: Mesh
    app: Any
    keys: dict[str, str]
    alert_id: int


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from meshfabric.quality.detectors import MADDetector
    from meshfabric.quality.monitor import MonitorConfig, Observation, record

    root = tmp_path_factory.mktemp("uiweb") / "ws"
    acc.build(root, mesh=acc.MESH + HS_AUTH)
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        acc.setup_principals(mesh)
        mesh.access.create_principal("admin")
        keys = {name: mesh.auth.create_api_key(name).key for name in ("admin", "alice", "carol", "mallory")}
        config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
        t0 = datetime.now(UTC) - timedelta(hours=12)
        for product, series in (("sales.orders", "web_a"), ("hr.salaries", "web_hidden")):
            for i in range(10):
                record(mesh.store, [Observation(product, series, 1.0 if i % 2 else -1.0, ts=t0 + timedelta(hours=i))],
                       config=config)
            record(mesh.store, [Observation(product, series, 40.0, ts=t0 + timedelta(hours=10))], config=config)
        found, _ = mesh.alerts.page(product="sales.orders", status="open")
        yield Setup(mesh, create_app(mesh), keys, found[0].id)


def _client(setup: Setup) -> TestClient:
    client = TestClient(setup.app, raise_server_exceptions=False, follow_redirects=False)
    client.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"  # as a browser asks
    return client


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def _signed_in(setup: Setup, user: str) -> TestClient:
    client = _client(setup)
    token = _token(client.get("/login").text)
    r = client.post("/login", data={"csrf_token": token, "credential": setup.keys[user], "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client


def _set_cookie(response: Any) -> str:
    return "; ".join(v for k, v in response.headers.multi_items() if k == "set-cookie")


# -- sign-in and the session cookie ----------------------------------------------------------------

def test_a_page_without_a_session_redirects_to_login(setup: Setup) -> None:
    r = _client(setup).get("/domains/sales?days=7")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fdomains%2Fsales%3Fdays%3D7"


def test_the_session_cookie_is_httponly_strict_and_expires(setup: Setup) -> None:
    client = _client(setup)
    form = client.get("/login")
    anonymous = _set_cookie(form)
    assert "HttpOnly" in anonymous and "SameSite=strict" in anonymous and "Max-Age=" in anonymous
    token = _token(form.text)
    r = client.post("/login", data={"csrf_token": token, "credential": setup.keys["alice"]})
    cookie = _set_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 0 < max_age <= 12 * 3600 and "Secure" not in cookie  # plain http in tests; https sets Secure
    # the id changed at sign-in (an id planted before it is worth nothing) and names nothing
    before = re.search(rf"{COOKIE}=([^;]+)", anonymous).group(1)  # type: ignore[union-attr]
    after = re.search(rf"{COOKIE}=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    assert before != after and "alice" not in after and setup.keys["alice"] not in cookie
    page = client.get("/")
    assert page.status_code == 200 and 'data-principal="alice"' in page.text


def test_https_sets_the_secure_flag(setup: Setup) -> None:
    client = TestClient(setup.app, base_url="https://testserver", follow_redirects=False)
    assert "Secure" in _set_cookie(client.get("/login"))


def test_a_bad_key_is_refused_with_a_message(setup: Setup) -> None:
    client = _client(setup)
    token = _token(client.get("/login").text)
    for credential in ("mf_nothing_wrong", "not a token", "eyJhbGciOiJIUzI1NiJ9.e30.forged"):
        r = client.post("/login", data={"csrf_token": token, "credential": credential})
        assert r.status_code in (400, 401) and "Not signed in" in r.text
    assert client.get("/").status_code == 303


def test_a_token_signs_in_too(setup: Setup) -> None:
    client = _client(setup)
    token = _token(client.get("/login").text)
    with secret_env():
        jwt = hs_token(sub="carol")
    r = client.post("/login", data={"csrf_token": token, "credential": jwt})
    assert r.status_code == 303
    assert 'data-principal="carol"' in client.get("/").text


def test_login_returns_only_to_a_page_of_this_site(setup: Setup) -> None:
    client = _client(setup)
    token = _token(client.get("/login").text)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        r = client.post("/login", data={"csrf_token": token, "credential": setup.keys["alice"], "next": target})
        assert r.headers["location"] == "/"
        token = _token(client.get("/logout").text)
        client.post("/logout", data={"csrf_token": token})
        token = _token(client.get("/login").text)


def test_sign_out_ends_the_session_on_the_server(setup: Setup) -> None:
    client = _signed_in(setup, "alice")
    stolen = client.cookies.get(COOKIE)
    token = _token(client.get("/").text)
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and f"{COOKIE}=" in _set_cookie(r)
    replay = _client(setup)
    replay.cookies.set(COOKIE, stolen)  # type: ignore[arg-type]
    assert replay.get("/").status_code == 303


def test_a_revoked_key_ends_the_session(setup: Setup) -> None:
    created = setup.mesh.auth.create_api_key("alice", name="short-lived")
    client = _client(setup)
    token = _token(client.get("/login").text)
    assert client.post("/login", data={"csrf_token": token, "credential": created.key}).status_code == 303
    assert client.get("/").status_code == 200
    setup.mesh.auth.revoke_api_key(created.info.id)
    r = client.get("/")
    assert r.status_code == 303 and "ended=1" in r.headers["location"]
    assert "session ended" in client.get(r.headers["location"]).text


def test_the_ui_session_does_not_authenticate_the_api(setup: Setup) -> None:
    client = _signed_in(setup, "admin")
    r = client.get("/api/v1/domains")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


# -- CSRF ------------------------------------------------------------------------------------------

def test_a_post_without_a_valid_token_is_refused_and_changes_nothing(setup: Setup) -> None:
    client = _signed_in(setup, "admin")
    other = _signed_in(setup, "admin")
    before = setup.mesh.alerts.get(setup.alert_id).to_dict()
    foreign = _token(other.get("/alerts").text)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
        for action in ("ack", "resolve", "silence"):
            r = client.post(f"/alerts/{setup.alert_id}/{action}", data={**data, "for": "1h"})
            assert r.status_code == 403 and "nothing was changed" in r.text, (action, data)
    assert setup.mesh.alerts.get(setup.alert_id).to_dict() == before
    r = client.post(f"/alerts/{setup.alert_id}/ack", json={"csrf_token": _token(client.get("/alerts").text)})
    assert r.status_code == 403  # only a form body carries the token
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_login_needs_its_token_too(setup: Setup) -> None:
    client = _client(setup)
    client.get("/login")
    r = client.post("/login", data={"credential": setup.keys["admin"]})
    assert r.status_code == 403
    assert client.get("/").status_code == 303


def test_acknowledge_and_silence_with_the_token(setup: Setup) -> None:
    found, _ = setup.mesh.alerts.page(product="sales.orders", status="open")
    alert_id = found[-1].id
    client = _signed_in(setup, "admin")
    token = _token(client.get("/alerts").text)
    r = client.post(f"/alerts/{alert_id}/silence", data={"csrf_token": token, "for": "soon"})
    assert r.status_code == 400 and "duration" in r.text
    r = client.post(f"/alerts/{alert_id}/silence", data={"csrf_token": token, "for": "2h", "status": "active"})
    assert r.status_code == 303 and r.headers["location"] == f"/alerts?status=active&done=silence&alert={alert_id}"
    assert setup.mesh.alerts.get(alert_id).silenced_until is not None
    r = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token, "note": "on it"})
    assert r.status_code == 303
    acked = setup.mesh.alerts.get(alert_id)
    assert acked.status == "acknowledged" and acked.acknowledged_by == "admin"
    assert f"alert {alert_id} acknowledged" in client.get(r.headers["location"]).text


def test_acting_on_an_alert_of_a_hidden_product_is_refused(setup: Setup) -> None:
    hidden, _ = setup.mesh.alerts.page(product="hr.salaries", status="open")
    client = _signed_in(setup, "carol")
    token = _token(client.get("/alerts").text)
    r = client.post(f"/alerts/{hidden[0].id}/ack", data={"csrf_token": token})
    assert r.status_code in (403, 404) and "salaries" not in r.text
    assert setup.mesh.alerts.get(hidden[0].id).status == "open"


# -- what a principal sees -------------------------------------------------------------------------

def test_a_restricted_principal_sees_only_what_it_may_discover(setup: Setup) -> None:
    client = _signed_in(setup, "carol")
    pages = [client.get(p) for p in ("/", "/domains/sales", "/search?q=", "/search?q=salary", "/alerts",
                                     "/alerts?status=resolved")]
    assert all(p.status_code == 200 for p in pages)
    text = "\n".join(p.text for p in pages)
    for hidden in ("crm.customers", "hr.salaries", "/domains/hr", "/domains/crm", "web_hidden"):
        assert hidden not in text
    assert "/products/sales/orders" in text
    for page in ("/domains/hr", "/domains/crm"):
        r = client.get(page)
        assert r.status_code == 404 and "salaries" not in r.text
    admin = _signed_in(setup, "admin").get("/").text
    assert 'data-domain="hr"' in admin and 'data-domain="crm"' in admin


def test_without_auth_the_local_principal_needs_no_login(setup: Setup) -> None:
    client = TestClient(create_app(setup.mesh, auth=False), follow_redirects=False)
    page = client.get("/")
    assert page.status_code == 200 and "local principal" in page.text and 'data-domain="hr"' in page.text
    assert client.get("/login").headers["location"] == "/"
    token = _token(client.get("/alerts").text)
    assert client.post(f"/alerts/{setup.alert_id}/ack", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


# -- pages, errors, assets -------------------------------------------------------------------------

def test_pages_are_small_and_send_security_headers(setup: Setup) -> None:
    client = _signed_in(setup, "admin")
    for path in ("/", "/domains/sales", "/search?q=orders", "/alerts"):
        r = client.get(path)
        assert r.status_code == 200 and len(r.content) < 1_000_000
        policy = r.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy  # no inline script runs
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        assert not re.search(r'(src|href)="(https?:)?//', r.text), path


def test_static_assets_need_no_session(setup: Setup) -> None:
    client = _client(setup)
    for path in ("/static/ui.css", "/static/favicon.svg", "/static/vendor/swagger-ui/swagger-ui-bundle.js",
                 "/static/vendor/redoc/redoc.standalone.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/../pages.py").status_code == 404


def test_docs_and_redoc_use_local_assets(setup: Setup) -> None:
    client = _client(setup)
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        assert "/static/vendor/" in r.text and "cdn." not in r.text and "fonts.googleapis" not in r.text
        assert not re.search(r'(src|href)="https?://', r.text), path
    assert client.get("/openapi.json").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(not p.startswith(("/api/", "/metrics")) for p in paths)  # UI pages stay out of the API


def test_bad_input_is_a_clear_page_not_a_traceback(setup: Setup) -> None:
    client = _signed_in(setup, "admin")
    cases = {"/alerts?status=whatever": 400, "/?days=abc": 400, "/?days=0": 400, "/domains/nope": 404,
             "/search?q=" + "x" * 600: 400, "/nowhere": 404, "/alerts?offset=-1": 400}
    for path, status in cases.items():
        r = client.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html") and "Traceback" not in r.text
        assert re.search(r'<p class="message">.+</p>', r.text), path
    assert client.post("/alerts/abc/ack", data={"csrf_token": _token(client.get("/").text)}).status_code in (400, 404)
    api = client.get("/api/v1/nowhere", headers={"Accept": "text/html"})
    assert api.headers["content-type"].startswith("application/problem+json")
    # outside the API an unknown path is a page for a browser, a problem document for a client
    assert client.get("/nowhere", headers={"Accept": "application/json"}).headers["content-type"].startswith(
        "application/problem+json")
    assert client.get("/static/nothing.css", headers={"Accept": "*/*"}).headers["content-type"].startswith(
        "application/problem+json")


def test_a_bug_reveals_nothing(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(type(setup.mesh), "search", broken)
    r = _signed_in(setup, "admin").get("/search?q=x")
    assert r.status_code == 500 and "secret internals" not in r.text and "Traceback" not in r.text
    assert "bug in meshfabric" in r.text


def test_the_session_store_is_bounded() -> None:
    store = SessionStore(max_sessions=10)
    signed = [store.create(principal="p", credential="c")[0] for _ in range(3)]
    for _ in range(30):
        store.create()
    assert len(store) <= 10
    assert all(store.get(sid) is not None for sid in signed)  # anonymous sessions went first
    assert store.get("x" * 500) is None and store.get(None) is None


def test_overview_rows_past_the_budget_are_fetched_later(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshfabric.ui.pages as pages

    monkeypatch.setattr(pages, "OVERVIEW_BUDGET", 0.0)
    monkeypatch.setattr(pages, "HEALTH_SECONDS", 0.0)
    client = _signed_in(setup, "carol")
    page = client.get("/?days=7").text
    assert 'data-pending="/overview/rows/sales?days=7"' in page and "/static/overview.js" in page
    assert 'data-complete=""' in page
    row = client.get("/overview/rows/sales?days=7")
    assert row.status_code == 200 and row.headers["x-fragment"] == "overview-row"
    assert row.text.lstrip().startswith('<tr class="domain" data-domain="sales"') and "data-pending" not in row.text
    assert client.get("/overview/rows/hr?days=7").status_code == 404  # hidden from carol
    monkeypatch.setattr(pages, "OVERVIEW_BUDGET", 10.0)
    page = client.get("/?days=7").text
    assert "data-pending" not in page and 'data-complete="1"' in page and "overview.js" not in page


def test_the_overview_cache_is_per_principal(setup: Setup) -> None:
    admin = _signed_in(setup, "admin")
    carol = _signed_in(setup, "carol")
    assert 'data-domain="hr"' in admin.get("/").text
    assert 'data-domain="hr"' not in carol.get("/").text
    assert carol.get("/overview/rows/hr").status_code == 404
