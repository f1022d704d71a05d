"""What a new campaign's timing adds to its creation (DESIGN section 16): its send window, each recipient's zone,
and its fallback steps with their standby rows.

`Timing.from_request(services, account_id, payload, channel)` checks `send_window` and `fallback` (a 400 naming
each field); `zone_for(contact)` gives the zone a message's window is read in and counts where it came from;
`finish()` refuses a `"recipient"` window with recipients of unknown zone (400 naming how many);
`standby_rows(contact, primary_row, render)` gives the rendered fallback rows (status `standby`) of a recipient.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.campaigns.templates import CompiledTemplate, RenderBudget, TemplateError, compile_template
from backend.campaigns.windows import SendWindow, WindowError
from backend.campaigns.zones import DEFAULT, FROM_CONTACT, FROM_PHONE, UNKNOWN, recipient_zone
from backend.channels.families import family_of, is_opted_out
from backend.channels.registry import CHANNELS, channel_class
from backend.dispatch.fallback import KINDS as FALLBACK_ON
from backend.dispatch.fallback import STANDBY
from backend.errors import bad_request
from backend.store import states
from backend.store.models import Account, Contact, Message

if TYPE_CHECKING:
    from backend.services import Services

MAX_STEPS = 2
MAX_FALLBACK_BODY = 65_536


@dataclass(frozen=True)
class FallbackStep:
    channel: str
    on: tuple[str, ...]
    body: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "on": list(self.on), **({"body": self.body} if self.body else {})}


def parse_fallback(raw: Any, primary: str, configured: Callable[[str], bool]) -> list[FallbackStep]:
    """The campaign's fallback steps, checked; raises a 400 naming each bad field."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raise bad_request("`fallback` must be a list of steps.", [{"field": "fallback", "reason": "not a list"}])
    problems: list[dict[str, str]] = []
    if len(raw) > MAX_STEPS:
        problems.append({"field": "fallback", "reason": f"at most {MAX_STEPS} fallback steps"})
    families = {family_of(primary)} if primary in CHANNELS else set()
    steps = []
    for i, step in enumerate(raw[:MAX_STEPS]):
        where = f"fallback.{i}"
        if not isinstance(step, dict):
            problems.append({"field": where, "reason": 'give {"channel", "on", "body"?}'})
            continue
        problems += [
            {"field": f"{where}.{k}", "reason": "unknown setting"}
            for k in sorted(set(step) - {"channel", "on", "body"})
        ]
        channel, on, body = step.get("channel"), step.get("on"), step.get("body")
        if channel not in CHANNELS:
            problems.append({"field": f"{where}.channel", "reason": f"must be one of {', '.join(CHANNELS)}"})
        elif family_of(channel) in families:
            problems.append(
                {"field": f"{where}.channel", "reason": "must be another kind of channel than the ones before"}
            )
        elif not configured(channel):
            problems.append({"field": f"{where}.channel", "reason": f"the {channel} channel is not set up"})
        else:
            families.add(family_of(channel))
        if not isinstance(on, list) or not on or not all(o in FALLBACK_ON for o in on):
            problems.append({"field": f"{where}.on", "reason": f"give one or more of {', '.join(FALLBACK_ON)}"})
        if body is not None and (not isinstance(body, str) or not body.strip() or len(body) > MAX_FALLBACK_BODY):
            problems.append({"field": f"{where}.body", "reason": "write the fallback message, or leave it out"})
        elif body is not None:
            try:
                compile_template(body, "fallback")
            except TemplateError as exc:
                problems.append({"field": f"{where}.body", "reason": exc.message})
        if not problems:
            steps.append(FallbackStep(str(channel), tuple(dict.fromkeys(on)), body))  # type: ignore[arg-type]
    if problems:
        raise bad_request("The fallback steps are not valid.", problems)
    return steps


@dataclass
class Timing:
    window: SendWindow | None
    default_zone: str | None
    fallback: list[FallbackStep]
    #: an email fallback's subject when the campaign has none (an SMS or WhatsApp campaign): its name.
    email_subject: str = ""
    sources: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_request(cls, services: Services, account_id: int, payload: dict[str, Any], channel: str) -> Timing:
        window = None
        if payload.get("send_window") is not None:
            try:
                window = SendWindow.parse(payload["send_window"])
            except WindowError as exc:
                raise bad_request("The send window is not valid.", exc.problems) from None

        def configured(name: str) -> bool:
            return services.channels.is_configured(account_id, name)

        fallback = parse_fallback(payload.get("fallback"), channel, configured)
        with services.db.read() as session:
            account = session.get(Account, account_id)
            default = (account.settings or {}).get("default_timezone") if account else None
        subject = str(payload.get("subject") or payload.get("name") or "").strip()[:200]
        return cls(window, str(default) if default else None, fallback, subject)

    def zone_for(self, contact: Contact) -> str | None:
        """The zone this recipient's window is read in (None: no window, or an unknown zone)."""
        return self.zone_from(contact.timezone, contact.phone)

    def zone_from(self, timezone: str | None, phone: str | None) -> str | None:
        """`zone_for` from a contact's time zone and phone alone."""
        if self.window is None:
            return None
        if not self.window.per_recipient:
            return self.window.timezone
        zone, source = recipient_zone(timezone, phone, self.default_zone)
        self.sources[source] += 1
        return zone

    def finish(self) -> None:
        """Raises the 400 of a `"recipient"` window with recipients whose zone nobody knows."""
        unknown = self.sources.get(UNKNOWN, 0)
        if unknown:
            reason = (
                f"{unknown:,} recipient{'s have' if unknown != 1 else ' has'} no known time zone: give the contacts "
                "a time zone, set a default time zone in Settings, or use a fixed zone for the window"
            )
            raise bad_request(
                f"The send window cannot be kept: {reason}.", [{"field": "send_window.timezone", "reason": reason}]
            )

    def standby_rows(
        self, contact: Contact, primary: dict[str, Any], render: Callable[[str | None], str | None]
    ) -> list[dict[str, Any]]:
        """The recipient's fallback rows (status `standby`, one per step they can get), rendered now; the first
        names its primary by `fallback_of` when inserted, a second names the first. `render(body)` renders a
        step's own body (None: the campaign's)."""
        rows = []
        for step in self.fallback:
            kind = channel_class(step.channel).recipient_kind
            address = contact.email if kind == "email" else contact.phone
            if not address or is_opted_out(contact.opt_outs, family_of(step.channel)):
                continue
            body = render(step.body)
            if body is None:
                continue
            rows.append(
                {
                    **primary,
                    "channel": step.channel,
                    "recipient": address,
                    "body": body,
                    "subject": (primary.get("subject") or self.email_subject) if kind == "email" else None,
                    "status": STANDBY,
                    "sender_type": states.FALLBACK,
                    "zone": None,
                    "meta": {"on": list(step.on)},
                }
            )
        return rows

    def decorate(self, row: dict[str, Any], contact: Contact, render: Callable[[str | None], str | None]) -> None:
        """Add the recipient's zone and fallback rows (under `_fallback`) to its message row."""
        row["zone"] = self.zone_for(contact)
        if self.fallback:
            row["_fallback"] = self.standby_rows(contact, row, render)

    def zones_from(self) -> dict[str, int]:
        """How many recipients' zones came from the contact, the phone, the account's default (the plan's
        `timezones`)."""
        return {key: self.sources.get(key, 0) for key in (FROM_CONTACT, FROM_PHONE, DEFAULT)}

    def to_columns(self) -> dict[str, Any]:
        window = {**self.window.to_json(), "zones_from": self.zones_from()} if self.window else None
        return {
            "send_window": window,
            "fallback": [s.to_json() for s in self.fallback] or None,
        }


def insert_rows(session: Session, campaign_id: int, batch: list[dict[str, Any]]) -> None:
    """Insert a batch of primary rows, then their standby rows, each naming the row it stands in for."""
    standby: dict[int, list[dict[str, Any]]] = {}
    for row in batch:
        steps = row.pop("_fallback", None)
        if steps:
            standby[row["contact_id"]] = steps
    session.execute(insert(Message), batch)
    if not standby:
        return
    previous = dict(
        session.execute(
            select(Message.contact_id, Message.id).where(
                Message.campaign_id == campaign_id, Message.contact_id.in_(list(standby))
            )
        ).all()
    )
    for step in range(MAX_STEPS):
        rows = []
        for contact_id, steps in standby.items():
            if step < len(steps) and contact_id in previous:
                row = {**steps[step], "campaign_id": None, "sender_id": str(campaign_id)}
                rows.append({**row, "fallback_of": previous[contact_id]})
        if not rows:
            return
        session.execute(insert(Message), rows)
        previous = dict(
            session.execute(
                select(Message.contact_id, Message.id).where(
                    Message.sender_type == states.FALLBACK,
                    Message.fallback_of.in_([r["fallback_of"] for r in rows]),
                )
            ).all()
        )


@functools.lru_cache(maxsize=8)
def _compiled(body: str) -> CompiledTemplate:
    return compile_template(body, "fallback")


def fallback_renderer(rendered: str, context: dict[str, Any], budget: RenderBudget) -> Any:
    """Renders a fallback step's own body for this recipient (None: the campaign's body, already rendered)."""

    def render(body: str | None) -> str | None:
        if body is None:
            return rendered
        try:
            return _compiled(body).render(context, budget)
        except TemplateError:
            return None  # a placeholder this recipient has no value for: no fallback for them

    return render
