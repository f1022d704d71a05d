"""Gmail's daily sending limit (issue 4 item 3), end to end against the fake Gmail API: the campaign pauses until
the window reopens, says so, and resumes by itself when it does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from backend.store.models import Campaign, utcnow
from tests.fakes.google import FakeGoogle
from tests.helpers import wait_for
from tests.test_gmail_campaign import campaign, events, server, start_campaign

__all__ = ["server"]  # a fixture shared with the Gmail campaign tests (`google` comes from tests.gmail_support)


def test_it_resumes_by_itself_when_gmails_daily_window_reopens(server: Any, google: FakeGoogle) -> None:
    # "Mail sending limit exceeded. Retry after <in 7 hours>": Gmail refuses every send until then, including the
    # second one the channel's two workers may already have out when the first refusal comes back.
    google.fail_next("sending_limit", times=3)
    campaign_id = start_campaign(server, count=3)

    wait_for(lambda: campaign(server, campaign_id)["status"] == "paused", what="the pause")
    paused = wait_for(lambda: (c := campaign(server, campaign_id))["counts"]["sending"] == 0 and c, what="no send out")
    assert "daily sending limit was reached" in paused["status_reason"]
    assert "It resumes by itself at" in paused["status_reason"] and paused["resume_at"] is not None
    assert paused["counts"]["failed"] == 0 and paused["counts"]["queued"] == 3
    texts = [e["text"] for e in events(server) if e["type"] == "campaign.status"]
    assert any(t.startswith("Campaign paused: Gmail's daily sending limit was reached") for t in texts)

    services = server.app.extensions["bulkmsg"]
    google.clear_failures()
    with services.db.write() as session:  # seven hours later
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(resume_at=utcnow()))
    done = wait_for(
        lambda: (c := campaign(server, campaign_id))["status"] == "completed" and c, timeout=20, what="completion"
    )
    assert done["counts"]["sent"] == 3 and done["resume_at"] is None
    assert sorted(str(m.message["To"]) for m in google.sent) == [f"Person {n} <p{n}@example.org>" for n in range(3)]
