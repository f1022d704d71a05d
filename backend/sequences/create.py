"""Creating a sequence (`POST /api/campaigns` with `"kind": "sequence"`): a draft campaign holding its steps,
trigger, exit rules and re-entry, with the pace, send window and fallback a campaign takes. Nobody is enrolled
yet: starting it lets its trigger (or `POST /api/campaigns/<id>/enroll`) bring contacts in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.campaigns.attachments import account_public_url
from backend.campaigns.request_fields import check_rate, check_variation_seed
from backend.campaigns.timing_create import Timing
from backend.channels.registry import CHANNELS
from backend.errors import bad_request
from backend.sequences.definition import check_sequence
from backend.store import states
from backend.store.models import Campaign

if TYPE_CHECKING:
    from backend.services import Services

KIND = "sequence"


def create_sequence(services: Services, account_id: int, payload: dict[str, Any]) -> int:
    """A new draft sequence; raises a 400 naming each field at fault."""
    name, channel = payload.get("name"), payload.get("channel")
    problems = []
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"field": "name", "reason": "give a name of at most 200 characters"})
    if channel not in CHANNELS:
        problems.append({"field": "channel", "reason": f"must be one of {', '.join(CHANNELS)}"})
    if problems:
        raise bad_request("The sequence is not complete.", problems)
    with services.db.read() as session:
        public_url = account_public_url(session, account_id, services.config.public_url)
        definition = check_sequence(session, account_id, channel, payload, public_url)
    timing = Timing.from_request(services, account_id, payload, str(channel))
    rate = check_rate(payload.get("rate"))
    seed = check_variation_seed(payload.get("variation_seed"))
    first = definition["steps"][0]
    files = [f for step in definition["steps"] for f in step["attachments"]]
    now = services.clock()
    with services.db.write() as session:
        campaign = Campaign(
            account_id=account_id,
            name=str(name).strip(),
            kind=KIND,
            sequence=definition,
            channel=channel,
            subject=first["subject"],
            body=first["body"],
            recipients={"sequence": definition["trigger"]},
            rate=rate,
            status=states.DRAFT,
            variation_seed=seed,
            attachments=files,
            total=0,
            created_at=now,
            updated_at=now,
            **timing.to_columns(),
        )
        session.add(campaign)
        session.flush()
        return campaign.id
