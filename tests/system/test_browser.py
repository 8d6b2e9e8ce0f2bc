"""A real browser on the local Checkout page: headless Chromium (Selenium) against the app under gunicorn.

Skipped without Debian's `chromium` and `chromium-driver`, unless TATAME_REQUIRE_BROWSER=1 (CI), which
turns their absence into a failure. TATAME_SAVE_SCREENSHOT=1 also writes docs/checkout-page.png, the
README's picture of the page.
"""

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox import credentials
from tests.conftest import WEBHOOK_SECRET
from tests.servers import ROOT, Gunicorn

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PNG = b"\x89PNG\r\n\x1a\n"


def need_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian packages: chromium chromium-driver)"
        if os.environ.get("TATAME_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message}, and TATAME_REQUIRE_BROWSER=1 requires them")
        pytest.skip(message)


@pytest.fixture
def browser(tmp_path):
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Root in a container: no sandbox; nothing fetched in the background; a profile of its own.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=900,760", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def web_app():
    """The member's web app, where Checkout sends them back: any page answers 200."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>Tatame</title><p>Welcome back</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def offline_server(tmp_path):
    """`make serve` as a developer runs it: no Stripe key, so billing is the sandbox's Stripe and the pages exist."""
    server = None

    def start(**env):
        nonlocal server
        server = Gunicorn({"STRIPE_SECRET_KEY": "", "STRIPE_API_BASE": "", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                           "CLERK_JWT_KEY": "", "CLERK_JWKS_URL": "", "CLERK_PUBLISHABLE_KEY": "", "CLERK_SECRET_KEY": "",
                           "SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": "", "REDIS_URL": "", **env},
                          tmp_path, workers=2)
        return server

    yield start
    if server is not None:
        server.stop()


def test_paying_on_the_local_checkout_page_in_a_browser(browser, web_app, offline_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = offline_server(CORS_ORIGIN=web_app, CHECKOUT_SUCCESS_URL=f"{web_app}/billing/success",
                            CHECKOUT_CANCEL_URL=f"{web_app}/billing/cancel", PORTAL_RETURN_URL=f"{web_app}/billing")
    origin = f"http://localhost:{server.port}"
    token = credentials.load_or_create(tmp_path).token("user_browser")
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{server.url}/stripe/checkout-session", headers=auth, timeout=10,
                            json={"price_id": "price_demo_unlimited_monthly"})
    assert created.status_code == 201, created.text
    session = created.json()["data"]
    assert session["url"] == f"{origin}/dev/checkout/{session['id']}"

    browser.get(session["url"])
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Unlimited Jiu-Jitsu" in page and "R$ 249.00 / month" in page
    screenshot = browser.get_screenshot_as_png()
    assert screenshot.startswith(PNG)
    if os.environ.get("TATAME_SAVE_SCREENSHOT") == "1":
        (ROOT / "docs" / "checkout-page.png").write_bytes(screenshot)

    browser.find_element(By.ID, "pay").click()
    WebDriverWait(browser, 15).until(ready.url_contains("session_id="))
    landed = urlsplit(browser.current_url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{web_app}/billing/success"
    assert "Welcome back" in browser.find_element(By.TAG_NAME, "body").text
    assert parse_qs(landed.query) == {"session_id": [session["id"]]}

    status = requests.get(f"{server.url}/stripe/checkout-session/{session['id']}", headers=auth, timeout=10)
    assert status.status_code == 200 and status.json()["data"]["status"] == "complete"
    assert status.json()["data"]["subscription"].startswith("sub_")
    browser.get(session["url"])  # the page now says it is paid, with no button left
    assert "complete" in browser.find_element(By.ID, "state").text
    assert browser.find_elements(By.ID, "pay") == []
