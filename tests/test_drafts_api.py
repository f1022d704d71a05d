"""Drafts (issue 26, item 5): compose's autosave kept on the server per account, a draft campaign that shows no
queued count, and deleting a draft (only a draft) so that an edited draft can replace it."""

from __future__ import annotations

from typing import Any

from tests.campaign_helpers import add_contacts
from tests.helpers import bearer
from tests.test_campaigns_actions import act, create, view


def test_it_keeps_the_compose_draft_per_account_until_it_is_cleared(
    client: Any, auth: dict[str, str], services: Any
) -> None:
    assert client.get("/api/compose-draft", headers=auth).status_code == 404
    snapshot = {"name": "Spring", "body": "Hi {{ name }}", "where": {"field": "body", "start": 3, "end": 3}}
    saved = client.put("/api/compose-draft", headers=auth, json={"snapshot": snapshot})
    assert saved.status_code == 200 and saved.get_json()["saved_at"]
    again = client.put("/api/compose-draft", headers=auth, json={"snapshot": {**snapshot, "body": "Hello"}})
    assert again.status_code == 200
    kept = client.get("/api/compose-draft", headers=auth).get_json()
    assert kept["snapshot"] == {**snapshot, "body": "Hello"}

    other = bearer(services.account_token("other"))
    assert client.get("/api/compose-draft", headers=other).status_code == 404
    huge = client.put("/api/compose-draft", headers=auth, json={"snapshot": {"body": "x" * 300_000}})
    assert huge.status_code == 413
    assert client.put("/api/compose-draft", headers=auth, json={"snapshot": "text"}).status_code == 400
    assert client.delete("/api/compose-draft", headers=auth).status_code == 204
    assert client.get("/api/compose-draft", headers=auth).status_code == 404


def test_it_shows_no_queued_count_for_a_draft_and_deletes_only_drafts(
    client: Any, auth: dict[str, str], services: Any, account: int
) -> None:
    add_contacts(services, account, 3)
    draft = create(client, auth)
    assert draft["status"] == "draft" and draft["counts"]["total"] == 3
    assert (draft["counts"]["queued"], draft["counts"]["sending"]) == (0, 0)
    listed = client.get("/api/campaigns", headers=auth).get_json()["items"][0]
    assert listed["counts"]["queued"] == 0

    other = bearer(services.account_token("other"))
    assert client.delete(f"/api/campaigns/{draft['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/campaigns/{draft['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/campaigns/{draft['id']}", headers=auth).status_code == 404

    cancelled = create(client, auth)
    act(client, auth, cancelled["id"], "cancel")
    refused = client.delete(f"/api/campaigns/{cancelled['id']}", headers=auth)
    assert refused.status_code == 409 and refused.get_json()["error"] == "not_a_draft"
    assert view(client, auth, cancelled["id"])["status"] == "cancelled"
