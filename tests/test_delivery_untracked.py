"""Delivery means what it says (DESIGN section 6.7, issue 13 item 3): a plain SMTP server sends no delivery
reports, so its messages are `untracked` ("Accepted by the server"): never checked, never `expired`; counts, the
chart and the page agree. A report that does arrive (a bounce) still settles one. Real aiosmtpd, real Chromium."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from backend.channels.smtp.channel import SmtpChannel
from backend.store.models import Message
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.delivery_support import add_report
from tests.helpers import bearer, wait_for
from tests.ui_support import chromium, go, text_of, wait_js

pytestmark = pytest.mark.browser


def _api(server: Any, method: str, path: str) -> Any:
    answer = requests.request(method, server.url + path, headers=bearer(server.token), timeout=15)
    assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json() if "json" in answer.headers.get("Content-Type", "") else answer.text


def test_it_says_accepted_by_the_server_for_plain_smtp_and_never_expires(start_server, smtp) -> None:
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    account_id = configure_smtp(services, smtp.settings())
    add_contacts(services, account_id, 6)
    body = {
        "name": "Plain",
        "channel": "smtp",
        "subject": "Hi",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    created = requests.post(f"{server.url}/api/campaigns", json=body, headers=bearer(server.token), timeout=10)
    campaign_id = created.json()["id"]
    _api(server, "POST", f"/api/campaigns/{campaign_id}/start")
    done = wait_for(
        lambda: (c := _api(server, "GET", f"/api/campaigns/{campaign_id}"))["status"] == "completed" and c,
        timeout=30,
        what="the campaign to complete",
    )
    assert smtp.count == 6
    assert done["counts"]["untracked"] == 6 and done["counts"]["delivered"] == 0

    # The delivery job never claims them, however often it runs.
    for _ in range(3):
        assert _api(server, "POST", "/api/trigger/delivery-status")["claimed"] == 0
    status = _api(server, "GET", "/api/delivery-status")
    assert (status["untracked"], status["pending"], status["expired"]) == (6, 0, 0)
    assert status["oldest_pending_s"] is None
    with services.db.read() as session:
        rows = session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all()
    assert {m.delivery_check_attempts for m in rows} == {0} and not any(m.delivery_expired for m in rows)
    one = _api(server, "GET", f"/api/messages/{rows[0].id}")
    assert one["status"] == "sent" and one["delivery"] == "untracked" and one["delivered"] is None
    export = _api(server, "GET", f"/api/campaigns/{campaign_id}/export.csv")
    assert export.count(",untracked,") == 6 and "pending" not in export

    # A bounce that does come back still settles its message.
    add_report(services, rows[1].id, "bounce", error_text="550 5.1.1 mailbox unknown")
    _api(server, "POST", "/api/trigger/delivery-status")
    assert _api(server, "GET", f"/api/messages/{rows[1].id}")["delivery"] == "undelivered"
    counts = _api(server, "GET", f"/api/campaigns/{campaign_id}")["counts"]
    assert (counts["untracked"], counts["undelivered"]) == (5, 1)

    with chromium(1400, 900) as driver:
        driver.get(f"{server.url}/#token={server.token}")
        go(driver, f"campaigns/{campaign_id}")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", 10, "the summary")
        summary = text_of(driver, "[data-summary=completed]")
        assert "5 accepted by the server" in summary
        stats = text_of(driver, ".monitor .stats")
        assert "Expired" not in stats and "Expired" not in summary
        go(driver, "")
        tiles = wait_js(
            driver,
            "const tiles = {}; for (const s of document.querySelectorAll('.stat')) "
            "tiles[s.querySelector('.label').innerText] = s.querySelector('.value').innerText; "
            "return tiles['Accepted by the server'] && tiles",
            10,
            "the dashboard's delivery tiles",
        )
        assert tiles["Accepted by the server"] == "5" and tiles["Expired"] == "0" and tiles["Pending"] == "0"


def test_it_tracks_delivery_only_where_a_relay_reports_it() -> None:
    plain = SmtpChannel({"host": "mail.example.org", "port": 587, "from_address": "a@example.org"}, {}, None)  # type: ignore[arg-type]
    relay = SmtpChannel({"host": "smtp.sendgrid.net", "port": 587, "from_address": "a@example.org"}, {}, None)  # type: ignore[arg-type]
    assert not plain.reports_delivery and relay.reports_delivery
