"""Campaign endings tell the truth (issue 13 item 5): "Completed with 3 of 6 failed" in amber, in the event and
on the page; hard bounces and other permanent failures are not offered for retry (the API says how many and
why); after a retry the counts, the lists and the chart agree. Real aiosmtpd refusing recipients, real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from backend.channels.smtp.channel import SmtpChannel
from tests.campaign_helpers import add_contacts, configure_smtp, event_texts
from tests.helpers import bearer, wait_for
from tests.ui_support import chromium, go, screenshot_dir, shoot, text_of, wait_js

pytestmark = pytest.mark.browser

HARD_BOUNCE = "550 5.1.1 No such user here"
TRY_LATER = "451 4.3.0 Try again later"


def _api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    answer = requests.request(method, server.url + path, headers=bearer(server.token), timeout=15, **kwargs)
    assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json()


def _completed(server: Any, campaign_id: int, sent: int) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (c := _api(server, "GET", f"/api/campaigns/{campaign_id}"))["status"] == "completed"
            and c["counts"]["sent"] == sent
            and c
        ),
        timeout=30,
        what=f"the campaign to complete with {sent} sent",
    )


def test_it_ends_in_amber_and_retries_only_what_can_pass(start_server, smtp, monkeypatch, tmp_path: Path) -> None:
    # One attempt per message, so that a transient refusal is "exhausted" at once rather than after the real
    # back-off of minutes; the kinds of failure are what is under test, not the back-off.
    monkeypatch.setattr(SmtpChannel, "max_attempts", 1)
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    account_id = configure_smtp(services, smtp.settings())
    add_contacts(services, account_id, 6)
    smtp.refuse("person1@example.org", HARD_BOUNCE)
    smtp.refuse("person2@example.org", HARD_BOUNCE)
    smtp.refuse("person3@example.org", TRY_LATER, times=1)
    smtp.refuse("person4@example.org", TRY_LATER, times=1)
    body = {
        "name": "Mixed",
        "channel": "smtp",
        "subject": "Hi",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    campaign_id = _api(server, "POST", "/api/campaigns", json=body)["id"]
    _api(server, "POST", f"/api/campaigns/{campaign_id}/start")

    first = _completed(server, campaign_id, sent=2)
    assert (first["counts"]["failed"], first["counts"]["uncertain"]) == (4, 0)
    ending = event_texts(services, account_id, "campaign.status")[-1]
    assert ending == "Mass messaging complete. Sent: 2, Failed: 4. Completed with 4 of 6 failed"

    retried = _api(server, "POST", f"/api/campaigns/{campaign_id}/retry-failed")
    assert (retried["requeued"], retried["not_retryable"]) == (2, 2)
    assert retried["not_retryable_reasons"][0]["count"] == 2 and "550" in retried["not_retryable_reasons"][0]["reason"]
    assert retried["message"].startswith("2 failed messages queued again. 2 not retried: the provider refused them")

    second = _completed(server, campaign_id, sent=4)
    assert second["counts"]["failed"] == 2
    assert event_texts(services, account_id, "campaign.status")[-1].endswith("Completed with 2 of 6 failed")
    arrivals = smtp.arrivals()
    assert arrivals["person3@example.org"] == arrivals["person4@example.org"] == 1
    assert "person1@example.org" not in arrivals and "person2@example.org" not in arrivals
    failed = _api(server, "GET", f"/api/campaigns/{campaign_id}/messages?status=failed")
    assert failed["total"] == 2
    assert {m["recipient"] for m in failed["items"]} == {"person1@example.org", "person2@example.org"}
    assert {(m["failure_kind"], m["attempts"]) for m in failed["items"]} == {("permanent", 1)}
    # Nothing more to retry: the answer says so instead of re-sending hard bounces.
    again = _api(server, "POST", f"/api/campaigns/{campaign_id}/retry-failed")
    assert (again["requeued"], again["not_retryable"]) == (0, 2)

    with chromium(1400, 900) as driver:
        driver.get(f"{server.url}/#token={server.token}")
        go(driver, f"campaigns/{campaign_id}")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", 10, "the summary")
        pill = driver.execute_script(
            "const p = document.querySelector('.page-head .pill'); return [p.textContent, p.className]"
        )
        assert pill[0] == "Completed with 2 of 6 failed" and "warn" in pill[1]
        assert text_of(driver, "[data-summary=completed] strong") == "Completed with 2 of 6 failed"
        assert "warn" in driver.execute_script("return document.querySelector('[data-summary=completed]').className")
        # the chart's lines end where the counts are: 4 sent, 2 failed (4 failed events, 2 of them retried)
        wait_js(driver, "const c = document.querySelector('canvas'); return c.dataset.failed === '2'", 10, "chart")
        assert driver.execute_script("return document.querySelector('canvas').dataset.sent") == "4"
        driver.find_element("css selector", "#tab-failed").click()
        wait_js(driver, "return document.querySelectorAll('[data-list=failed] tbody tr').length === 2", 10, "list")
        notes = driver.execute_script("return document.querySelectorAll('[data-note=not-retried]').length")
        assert notes == 2
        assert driver.execute_script("return document.querySelector('[data-action=retry-failed]').disabled")
        shoot(driver, screenshot_dir(tmp_path), "campaign-ending-amber")
        go(driver, "")
        wait_js(driver, "return document.querySelector('.campaign-row .pill')", 10, "the dashboard's campaign")
        assert text_of(driver, ".campaign-row .pill") == "Completed with 2 of 6 failed"
