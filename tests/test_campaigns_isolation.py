"""Accounts never see or touch each other's campaigns, nor use each other's contacts as recipients."""

from __future__ import annotations

from typing import Any

from tests.campaign_helpers import configure_smtp
from tests.helpers import bearer


def test_it_keeps_each_accounts_campaigns_and_contacts_to_itself(client: Any, auth: Any, services: Any, smtp) -> None:
    configure_smtp(services, smtp.settings())
    ana = client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org"}, headers=auth).get_json()["id"]
    created = client.post(
        "/api/campaigns",
        json={
            "name": "Mine",
            "channel": "smtp",
            "subject": "Hi",
            "body": "Hello {{ name }}",
            "recipients": {"contact_ids": [ana]},
        },
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()["id"]

    other = bearer(services.account_token("other"))
    configure_smtp(services, smtp.settings(), account="other")  # so a refusal below is about the recipients
    assert client.get("/api/campaigns", headers=other).get_json() == {"items": [], "total": 0}
    for method, path in (
        ("GET", f"/api/campaigns/{campaign}"),
        ("GET", f"/api/campaigns/{campaign}/messages"),
        ("GET", f"/api/campaigns/{campaign}/export.csv"),
        ("POST", f"/api/campaigns/{campaign}/start"),
        ("POST", f"/api/campaigns/{campaign}/pause"),
        ("POST", f"/api/campaigns/{campaign}/cancel"),
        ("POST", f"/api/campaigns/{campaign}/retry-failed"),
    ):
        answer = client.open(path, method=method, headers=other, json={} if method == "POST" else None)
        assert answer.status_code == 404, (method, path, answer.status_code)
    stolen = client.post(
        "/api/campaigns",
        json={
            "name": "Theirs",
            "channel": "smtp",
            "subject": "Hi",
            "body": "Hello",
            "recipients": {"contact_ids": [ana]},
        },
        headers=other,
    )
    assert stolen.status_code == 400, stolen.get_json()
    assert "Ana" not in stolen.get_data(as_text=True) and "ana@example.org" not in stolen.get_data(as_text=True)
    preview = client.post("/api/campaigns/preview", json={"body": "Hi {{ name }}", "contact_ids": [ana]}, headers=other)
    assert "Ana" not in preview.get_data(as_text=True)
    assert client.get(f"/api/campaigns/{campaign}", headers=auth).get_json()["status"] == "draft"
