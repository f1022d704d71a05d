"""Security headers on every response (issue 14, item 9): the Content-Security-Policy, `X-Frame-Options: DENY`
and `nosniff`; and the UI and the unsubscribe page still work in real headless Chromium with the policy on (no
console CSP violations, the live WebSocket connects, the unsubscribe button opts the contact out)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from backend.campaigns.unsubscribe import unsubscribe_token
from tests.helpers import bearer
from tests.ui_support import chromium, go, js_errors, wait_js, wait_view


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/app.js"), ("GET", "/api/health"), ("GET", "/api/contacts"), ("GET", "/nowhere"),
     ("POST", "/webhooks/communications"), ("GET", "/unsubscribe/garbage"), ("GET", "/style.css")],
)  # fmt: skip
def test_it_sends_the_security_headers_on_every_response(client: Any, method: str, path: str) -> None:
    answer = client.open(path, method=method)
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


CSP_WORDS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


@pytest.mark.browser
def test_it_keeps_the_ui_working_under_the_content_security_policy(live_server: Any) -> None:
    services = live_server.app.extensions["bulkmsg"]
    auth = bearer(live_server.token)
    contact = requests.post(
        f"{live_server.url}/api/contacts", json={"name": "Ana", "email": "ana@example.org"}, headers=auth, timeout=5
    ).json()
    with chromium() as driver:
        driver.get(f"{live_server.url}/#login={services.login_code()}")
        wait_view(driver, "dashboard")
        wait_js(driver, "return document.querySelector('#conn .conn-text').textContent === 'Live'", what="the socket")
        for view in ("channels", "contacts", "compose", "campaigns", "conversations", "settings", ""):
            go(driver, view)
        go(driver, "contacts")
        wait_js(driver, "return document.body.innerText.includes('ana@example.org')", what="the contact list")
        violations = [e for e in driver.get_log("browser") if any(w in e.get("message", "") for w in CSP_WORDS)]
        assert violations == []
        assert js_errors(driver) == []

        token = unsubscribe_token(services.keys.jwt_key, 1, contact["id"])
        driver.get(f"{live_server.url}/unsubscribe/{token}")
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_js(driver, "return document.body.innerText.includes('You are unsubscribed')", what="the opt-out page")
        violations = [e for e in driver.get_log("browser") if any(w in e.get("message", "") for w in CSP_WORDS)]
        assert violations == []
    listed = requests.get(f"{live_server.url}/api/contacts/{contact['id']}", headers=auth, timeout=5).json()
    # An unsubscribe link opts the contact out of email (DESIGN section 9), not of every channel.
    assert listed["opt_outs"]["email"] is not None and listed["opted_out"] is False
