"""A due step made into its message: rendered for the contact (variations fixed by the sequence's seed and the
contact), with the step's files, the recipient's zone for the send window and the fallback's standby rows, as a
campaign's message is made at creation (backend/campaigns/create.py). A contact who cannot get it (opted out, no
address, a placeholder with no value) leaves the sequence instead, saying why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.campaigns.attachments import account_public_url, check_attachments
from backend.campaigns.create import _row as message_row
from backend.campaigns.create import address_of, compile_parts
from backend.campaigns.templates import MissingPlaceholder, RenderBudget, TemplateError
from backend.campaigns.templates import contact_context as context_of
from backend.campaigns.timing_create import FallbackStep, Timing, fallback_renderer
from backend.campaigns.windows import SendWindow
from backend.channels.families import family_of, is_opted_out
from backend.channels.registry import channel_class
from backend.errors import ApiError
from backend.sequences.claims import ClaimedEnrollment
from backend.store.models import Account, Campaign, Contact, utcnow

if TYPE_CHECKING:
    from backend.services import Services


@dataclass
class Made:
    """What the claimed enrolments became: message rows to insert, and enrolments that leave instead."""

    rows: list[tuple[ClaimedEnrollment, dict[str, Any]]] = field(default_factory=list)
    exits: list[tuple[ClaimedEnrollment, str, str]] = field(default_factory=list)
    done: list[ClaimedEnrollment] = field(default_factory=list)


def timing_of(session: Session, campaign: Campaign) -> Timing:
    """The sequence's send window and fallback, as its creation checked and stored them."""
    window = None
    if campaign.send_window:
        window = SendWindow.parse({k: v for k, v in campaign.send_window.items() if k != "zones_from"})
    fallback = [FallbackStep(s["channel"], tuple(s["on"]), s.get("body")) for s in campaign.fallback or []]
    account = session.get(Account, campaign.account_id)
    default = (account.settings or {}).get("default_timezone") if account else None
    return Timing(window, str(default) if default else None, fallback, campaign.name[:200], Counter())


class StepMaker:
    """Renders the steps of one pass; compiled templates and files are kept per (sequence, step) for the pass."""

    def __init__(self, services: Services, session: Session) -> None:
        self.services = services
        self.session = session
        self._campaigns: dict[int, Campaign] = {}
        self._compiled: dict[tuple[int, int], Any] = {}
        self._files: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self._timing: dict[int, Timing] = {}

    def make(self, claimed: list[ClaimedEnrollment], now: datetime) -> Made:
        made = Made()
        ids = [c.contact_id for c in claimed]
        contacts = {c.id: c for c in self.session.scalars(select(Contact).where(Contact.id.in_(ids)))}
        for item in claimed:
            campaign = self._campaign(item.campaign_id)
            contact = contacts.get(item.contact_id)
            if campaign is None or contact is None:
                continue
            self._make_one(campaign, contact, item, now, made)
        return made

    def _campaign(self, campaign_id: int) -> Campaign | None:
        if campaign_id not in self._campaigns:
            campaign = self.session.get(Campaign, campaign_id)
            if campaign is None:
                return None
            self._campaigns[campaign_id] = campaign
        return self._campaigns[campaign_id]

    def _make_one(
        self, campaign: Campaign, contact: Contact, item: ClaimedEnrollment, now: datetime, made: Made
    ) -> None:
        steps = (campaign.sequence or {}).get("steps") or []
        if item.step >= len(steps):  # the sequence was shortened since: nothing is left for this contact
            made.done.append(item)
            return
        kind = channel_class(campaign.channel).recipient_kind
        address = address_of(contact, kind)
        if is_opted_out(contact.opt_outs, family_of(campaign.channel)):
            made.exits.append((item, "opt_out", f"opted out of {family_of(campaign.channel)} messages"))
            return
        if not address:
            made.exits.append((item, "failed", f"no {'email address' if kind == 'email' else 'phone number'}"))
            return
        context = context_of(contact.name, contact.phone, contact.email, contact.fields)
        body_t, subject_t = self._templates(campaign, item.step, steps[item.step])
        # A budget of its own for each contact: a pass of many renders on a busy machine never runs out and
        # drops the last contacts of a batch; a template slow for this contact still stops within seconds.
        budget = RenderBudget()
        try:
            body = body_t.render(context, budget, key=contact.id)
            subject = subject_t.render(context, budget, key=contact.id) if subject_t else None
        except MissingPlaceholder as exc:
            names = ", ".join("{{ " + p + " }}" for p in exc.placeholders)
            made.exits.append((item, "failed", f"step {item.step + 1}: {names} has no value"))
            return
        except TemplateError as exc:
            made.exits.append((item, "failed", f"step {item.step + 1}: {exc.message}"))
            return
        # The dispatcher reads due messages on the wall clock: the message is due now by it.
        row = message_row(campaign.account_id, campaign.id, campaign.channel, contact, address, subject, body, utcnow())
        row["meta"] = {"sequence": {"enrollment_id": item.id, "step": item.step + 1}}
        files = self._step_files(campaign, item.step, steps[item.step])
        if files:
            row["meta"]["attachments"] = files
        if campaign.id not in self._timing:
            self._timing[campaign.id] = timing_of(self.session, campaign)
        timing = self._timing[campaign.id]
        timing.decorate(row, contact, fallback_renderer(body, context, budget))
        for standby in row.get("_fallback") or []:
            standby["meta"] = {**standby["meta"], "sequence": row["meta"]["sequence"]}
        made.rows.append((item, row))

    def _templates(self, campaign: Campaign, index: int, step: dict[str, Any]) -> Any:
        key = (campaign.id, index)
        if key not in self._compiled:
            self._compiled[key] = compile_parts(step["body"], step.get("subject"), campaign.variation_seed)
        return self._compiled[key]

    def _step_files(self, campaign: Campaign, index: int, step: dict[str, Any]) -> list[dict[str, Any]]:
        key = (campaign.id, index)
        if key not in self._files:
            spec = step.get("attachments") or []
            files: list[dict[str, Any]] = []
            if spec:
                public_url = account_public_url(self.session, campaign.account_id, self.services.config.public_url)
                try:
                    files = check_attachments(
                        self.session, campaign.account_id, campaign.channel, spec, public_url
                    ).files
                except ApiError:
                    files = []  # a file deleted since: the step goes without it rather than never
            self._files[key] = files
        return self._files[key]
