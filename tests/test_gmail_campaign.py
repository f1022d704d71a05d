"""Gmail campaigns on a live server: what the user sees when Google throttles, runs out of quota or revokes access."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from backend.channels.gmail.tokens import REVOKED_TEXT
from backend.store.models import Credential, Message
from tests.fakes.google import FakeGoogle
from tests.gmail_support import connect_gmail, gmail_view
from tests.helpers import bearer, wait_for


@pytest.fixture
def server(start_server: Any, google: FakeGoogle) -> Any:
    server = start_server(gmail_api_endpoint=google.url)
    connect_gmail(server, google, from_address="news@example.com")
    return server


def api(server: Any, method: str, path: str, **body: Any) -> Any:
    answer = requests.request(
        method, f"{server.url}{path}", json=body or None, headers=bearer(server.token), timeout=10
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def start_campaign(server: Any, count: int = 3) -> int:
    people = [{"name": f"Person {n}", "email": f"p{n}@example.org"} for n in range(count)]
    ids = [api(server, "POST", "/api/contacts", **person)["id"] for person in people]
    campaign = api(
        server,
        "POST",
        "/api/campaigns",
        name="Autumn news",
        channel="gmail",
        subject="News for {{ name }}",
        body="Hello {{ name }}",
        recipients={"contact_ids": ids},
    )
    api(server, "POST", f"/api/campaigns/{campaign['id']}/start")
    return int(campaign["id"])


def campaign(server: Any, campaign_id: int) -> dict[str, Any]:
    return dict(api(server, "GET", f"/api/campaigns/{campaign_id}"))


def events(server: Any) -> list[dict[str, Any]]:
    return list(api(server, "GET", "/api/events?limit=1000")["items"])


def test_it_pauses_the_campaign_when_gmail_access_is_revoked_and_resumes_after_authorizing(
    server: Any, google: FakeGoogle
) -> None:
    google.revoke()
    campaign_id = start_campaign(server)

    paused = wait_for(lambda: (c := campaign(server, campaign_id))["status"] == "paused" and c, what="the pause")
    assert REVOKED_TEXT in paused["status_reason"]
    assert paused["counts"]["failed"] == 0 and paused["counts"]["queued"] == 3
    view = gmail_view(server)
    assert (view["state"], view["detail"]) == ("auth_failure", REVOKED_TEXT)
    assert any(e["type"] == "channel.status" and e["text"] == REVOKED_TEXT for e in events(server))
    assert not google.sent

    connect_gmail(server, google, from_address="news@example.com")
    api(server, "POST", f"/api/campaigns/{campaign_id}/resume")

    done = wait_for(lambda: (c := campaign(server, campaign_id))["status"] == "completed" and c, what="completion")
    assert done["counts"]["sent"] == 3
    assert done["counts"]["untracked"] == 3  # Gmail reports no delivery: accepted, never "expired"
    assert sorted(str(m.message["To"]) for m in google.sent) == [f"Person {n} <p{n}@example.org>" for n in range(3)]


def test_it_retries_a_throttled_send_after_retry_after_and_reports_each_step(server: Any, google: FakeGoogle) -> None:
    google.fail_next("rate_429", retry_after=1)
    campaign_id = start_campaign(server, count=2)

    done = wait_for(lambda: (c := campaign(server, campaign_id))["status"] == "completed" and c, timeout=15)

    assert done["counts"]["sent"] == 2 and done["counts"]["failed"] == 0
    progress = [e for e in events(server) if e["type"] == "send.progress"]
    retried = next(e for e in progress if e["data"]["status"] == "sending")
    assert retried["text"].startswith("Will retry") and "throttling" in retried["text"]
    assert any(e["text"] == f"Sent to {retried['data']['recipient']}" for e in progress)
    assert len(google.sent) == 2  # the throttled attempt delivered nothing; no duplicate


def test_it_pauses_at_gmails_daily_limit_saying_when_it_reopens(server: Any, google: FakeGoogle) -> None:
    google.fail_next("sending_limit")
    campaign_id = start_campaign(server)

    paused = wait_for(lambda: (c := campaign(server, campaign_id))["status"] == "paused" and c, what="the pause")

    assert "daily sending limit was reached" in paused["status_reason"] and "UTC" in paused["status_reason"]
    assert paused["counts"]["failed"] == 0


def test_it_stores_renewed_tokens_encrypted(start_server: Any, google: FakeGoogle) -> None:
    google.access_ttl_s = 60  # every access token is inside the renewal margin: the first send renews it
    server = start_server(gmail_api_endpoint=google.url)
    services = server.app.extensions["bulkmsg"]
    connect_gmail(server, google)
    created = api(
        server, "POST", "/api/conversations/c-9/messages", source="email", to="x@example.org", subject="S", body="B"
    )

    def sent() -> bool:
        with services.db.read() as session:
            return session.get(Message, created["id"]).status == "sent"

    wait_for(sent, what="the message to be sent")  # renewed tokens are stored before the send

    used = google.sent[-1].access_token
    with services.db.read() as session:
        assert services.secrets.load(session, 1, "gmail")["access_token"] == used
        ciphertexts = session.scalars(select(Credential.ciphertext).where(Credential.scope == "gmail")).all()
    assert not any(used in text for text in ciphertexts)
