"""A real browser for the web UI's tests: headless Debian Chromium driven by selenium (issue 14).

Use it from a test module (the fixture must be a module attribute to be found; an assignment
keeps ruff's F811 quiet) and mark the tests ``@pytest.mark.slow``::

    import ui_browser
    from ui_browser import console_errors, external_requests, screenshot, serve_app

    browser = ui_browser.browser

    def test_page(browser, ui_server):
        browser.get(ui_server + "/")
        assert not console_errors(browser)
        assert not external_requests(browser, ui_server)
        screenshot(browser, "overview")

- ``browser``: one headless Chromium for the test session (a fresh profile in a temp dir, no
  network side channels: no QUIC, no background networking, no component update, no sync),
  with the browser console and the performance (network) logs recorded. Without chromium or
  chromedriver it skips with the reason; under ``CI=true`` it fails instead.
- :func:`serve_app` serves an ASGI app (``create_app(mesh)``) with uvicorn in a thread on a free
  loopback port, for as long as the ``with`` lasts.
- :func:`console_errors` and :func:`external_requests` read (and so drain) the logs gathered
  since their last call: call them once per page, after it loaded.
- :func:`screenshot` saves ``test-artifacts/ui/<name>.png``; :func:`set_width` resizes the
  window (1280 for a desktop, 390 for a phone).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MESHFABRIC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MESHFABRIC_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: schemes a page may load without touching the network
LOCAL_SCHEMES = ("data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " (required under CI=true)")
    pytest.skip(reason)


def _executable(path: str) -> str | None:
    found = shutil.which(path)
    return found if found and os.access(found, os.X_OK) else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) for the session; skips when there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed: pip install -e '.[dev]'")
    binary, driver_path = _executable(CHROMIUM), _executable(CHROMEDRIVER)
    if binary is None or driver_path is None:
        _unavailable(f"no Chromium at {CHROMIUM} or chromedriver at {CHROMEDRIVER}: "
                     "apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="mf-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--disable-default-apps", "--disable-extensions",
                 "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as exc:  # a broken install: say so instead of erroring every test
        shutil.rmtree(profile, ignore_errors=True)
        _unavailable(f"Chromium did not start: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- serving an app --------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL (``http://127.0.0.1:<port>``)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- reading what the browser did ------------------------------------------------------------------

def console_errors(driver: Any) -> list[str]:
    """The browser console's errors (level SEVERE) since the last call: script errors, CSP
    violations, resources that failed to load."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def requested_urls(driver: Any) -> list[str]:
    """The URL of every request the browser sent since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        try:
            message = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def external_requests(driver: Any, allowed_origin: str) -> list[str]:
    """Every request since the last call that went anywhere but ``allowed_origin`` (scheme, host
    and port, e.g. ``http://127.0.0.1:8123``); ``data:``/``blob:`` URLs stay in the page."""
    origin = allowed_origin.rstrip("/")
    return [u for u in requested_urls(driver)
            if not u.startswith(LOCAL_SCHEMES) and not (u == origin or u.startswith(origin + "/"))]


def drain_logs(driver: Any) -> None:
    """Forget the logs gathered so far (before the page a test looks at)."""
    driver.get_log("browser")
    driver.get_log("performance")


def screenshot(driver: Any, name: str) -> Path:
    """Save a PNG of the window as ``test-artifacts/ui/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".png")
    driver.save_screenshot(str(path))
    return path


def set_width(driver: Any, width: int, height: int = 900) -> None:
    """Resize the window: 1280 for a desktop, 390 for a phone."""
    driver.set_window_size(width, height)


def wait_for(driver: Any, css: str, timeout: float = 20) -> Any:
    """The first element matching ``css`` once it is in the page (or a TimeoutException)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def page_weight(driver: Any) -> int:
    """The bytes the current page transferred (document and every resource), per the browser's
    Resource Timing (``transferSize``; a cached resource counts its decoded size)."""
    script = """
      const nav = performance.getEntriesByType('navigation').map(e => e.transferSize || e.decodedBodySize || 0);
      const res = performance.getEntriesByType('resource').map(e => e.transferSize || e.decodedBodySize || 0);
      return nav.concat(res).reduce((a, b) => a + b, 0);
    """
    return int(driver.execute_script(script))
