"""A campaign copied (`POST /api/campaigns/<id>/copy`, and compose's "Duplicate" from the same view): the create
request that makes a new draft like it.

`copy_request(campaign, given)` -> the body of `POST /api/campaigns`: the name ("Copy of ..."), channel, subject,
body, recipients (the same choice, resolved again when the copy is created), pace, send window and fallback steps,
files and variation seed; `given` may set `name` and `scheduled_at` (anything else is refused, naming the field).
`window_as_given(raw)` is the send window as a request gives it (what the store keeps beside it left out).
"""

from __future__ import annotations

from typing import Any

from backend.campaigns.create import RESOLVED_KEYS
from backend.errors import bad_request
from backend.store.models import Campaign

#: what a copy request may change.
OVERRIDES = ("name", "scheduled_at")
#: the send window's own keys (the store also keeps where the recipients' zones came from).
WINDOW_KEYS = ("days", "start", "end", "timezone")


def window_as_given(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: raw[k] for k in WINDOW_KEYS if k in raw} if raw else None


def copy_request(campaign: Campaign, given: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(OVERRIDES))
    if unknown:
        reason = f"a copy may only change {' and '.join(OVERRIDES)}"
        raise bad_request("The copy cannot change that.", [{"field": k, "reason": reason} for k in unknown])
    request: dict[str, Any] = {
        "name": f"Copy of {campaign.name}"[:200],
        "channel": campaign.channel,
        "subject": campaign.subject,
        "body": campaign.body,
        "recipients": {k: v for k, v in (campaign.recipients or {}).items() if k not in RESOLVED_KEYS},
        "rate": campaign.rate or None,
        "send_window": window_as_given(campaign.send_window),
        "fallback": campaign.fallback or None,
        "attachments": campaign.attachments or None,
        "variation_seed": campaign.variation_seed,
    }
    return {**{k: v for k, v in request.items() if v is not None}, **given}
