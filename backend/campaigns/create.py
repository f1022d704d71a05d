"""Creating a campaign: check the request, render every recipient's message, write the outbox rows.

Contract: `create_campaign(services, account_id, payload)` returns the new campaign (`draft`) or raises
ApiError(400) listing each problem. Every recipient's message is rendered before anything is committed: a
placeholder missing for any recipient refuses the whole campaign, naming the recipients and the placeholder.
Contacts are read in pages by id and rendered outside any write transaction into a spool file (a slow template
never holds the write lock); messages are then inserted in batches (executemany) in one short transaction, so a
million recipients never sit in memory at once and nothing is half-created.
Contacts opted out of the channel's family (or of everything) and contacts without an address for the
channel are left out and counted in `skipped`.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from backend.audience.filters import FilterError
from backend.audience.selection import check_selection, condition
from backend.campaigns.attachments import (
    MMS_COUNTRY_PREFIX,
    account_public_url,
    check_attachments,
    check_mms_recipients,
    check_server_size,
    smtp_size_limit,
)
from backend.campaigns.left_out import MAX_KEPT as MAX_LEFT_OUT
from backend.campaigns.left_out import left_out_row
from backend.campaigns.render_checks import (
    MAX_DETAILS,
    body_limit,
    check_found,
    check_rendered,
    missing,
    nobody,
    refusal,
)
from backend.campaigns.request_fields import check_rate, check_variation_seed, parse_time
from backend.campaigns.templates import (
    CompiledTemplate,
    MissingPlaceholder,
    RenderBudget,
    TemplateError,
    compile_template,
)
from backend.campaigns.templates import contact_context as context_of
from backend.campaigns.timing_create import Timing, fallback_renderer, insert_rows
from backend.channels.families import family_of, is_opted_out
from backend.channels.registry import CHANNELS, channel_class
from backend.errors import ApiError, bad_request
from backend.store import states
from backend.store.message_rows import message_row
from backend.store.models import Campaign, Contact, LeftOut, utcnow

if TYPE_CHECKING:
    from backend.services import Services

PAGE = 2000
CONTACTS = cast(Table, Contact.__table__)
#: what `recipients` holds beside the request: what they resolved to when the campaign was created.
RESOLVED_KEYS = ("resolved",)
#: rendered messages kept in memory before the spool goes to a temporary file.
SPOOL_IN_MEMORY = 8 * 1024 * 1024


def check_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of a create request, checked; raises a 400 listing every problem."""
    problems: list[dict[str, Any]] = []
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"field": "name", "reason": "give a name of at most 200 characters"})
    channel = payload.get("channel")
    if channel not in CHANNELS:
        problems.append({"field": "channel", "reason": f"must be one of {', '.join(CHANNELS)}"})
    body = payload.get("body")
    if not isinstance(body, str) or not body.strip():
        problems.append({"field": "body", "reason": "write the message"})
    subject = payload.get("subject")
    if subject is not None and not isinstance(subject, str):
        problems.append({"field": "subject", "reason": "must be text"})
    if channel in CHANNELS and channel_class(channel).needs_subject and not (subject or "").strip():
        problems.append({"field": "subject", "reason": "an email needs a subject"})
    recipients: dict[str, Any] = {}
    try:
        recipients = check_selection(_given_recipients(payload.get("recipients")))
    except FilterError:
        raise
    except ApiError as exc:
        problems.extend(exc.details or [{"field": "recipients", "reason": exc.message}])
    if problems:
        raise bad_request("The campaign is not complete.", problems)
    return {
        "name": str(name).strip(),
        "channel": channel,
        "body": body,
        "subject": (subject or "").strip() or None,
        "recipients": recipients,
        "rate": check_rate(payload.get("rate")),
        "scheduled_at": parse_time(payload.get("scheduled_at"), "scheduled_at"),
        "variation_seed": check_variation_seed(payload.get("variation_seed")),
    }


def compile_parts(
    body: str, subject: str | None, variation_seed: int = 0
) -> tuple[CompiledTemplate, CompiledTemplate | None]:
    """The body and subject compiled (variations picked with `variation_seed`); a 400 naming the part at fault."""
    part = "body"
    try:
        body_t = compile_template(body, "body", variation_seed)
        part = "subject"
        return body_t, compile_template(subject, "subject", variation_seed) if subject else None
    except TemplateError as exc:
        raise bad_request(exc.message, [{"field": part, "reason": exc.message}]) from None


def _given_recipients(raw: Any) -> Any:
    """What a request names (a copied campaign's `recipients` also holds what they resolved to: dropped)."""
    return {k: v for k, v in raw.items() if k not in RESOLVED_KEYS} if isinstance(raw, dict) else raw


def recipients_of(session: Session, account_id: int, spec: dict[str, Any], now: datetime) -> Iterator[Contact]:
    """The chosen contacts of the account (backend/audience/selection.py), page by page in id order.

    A selection by tags, segment or filter is resolved here, at once, to its ids (8 bytes each: 8 MB for a
    million), so the pages that follow are primary-key look-ups: paging the condition itself would run its
    subqueries again for every page, between renders.
    """
    if "contact_ids" in spec and "exclude" not in spec:
        ids = array("q", spec["contact_ids"])
    else:
        chosen = select(CONTACTS.c.id).where(condition(session, account_id, spec, now)).order_by(CONTACTS.c.id)
        ids = array("q", session.execute(chosen).scalars())
    return _pages(session, account_id, ids)


def _pages(session: Session, account_id: int, ids: array[int]) -> Iterator[Contact]:
    base = select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)
    for start in range(0, len(ids), PAGE):
        yield from session.scalars(base.where(Contact.id.in_(ids[start : start + PAGE].tolist()))).all()
        session.expunge_all()


def address_of(contact: Contact, kind: str) -> str | None:
    return contact.email if kind == "email" else contact.phone


def create_campaign(services: Services, account_id: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Create a draft campaign with its queued messages; returns (campaign id, {"skipped": n, ...}).

    Every message is rendered first, outside any write transaction (a slow template never holds the write lock),
    into a spool file; one short write transaction then inserts the campaign and its messages.
    """
    spec = check_request(payload)
    with services.db.read() as session:
        public_url = account_public_url(session, account_id, services.config.public_url)
        spec["files"] = check_attachments(session, account_id, spec["channel"], payload.get("attachments"), public_url)
    if spec["channel"] == "smtp" and spec["files"].files:
        check_server_size(spec["files"], len(spec["body"]), smtp_size_limit(services, account_id))
    body_t, subject_t = compile_parts(spec["body"], spec["subject"], spec["variation_seed"])
    spec["left_out"] = []
    kind = channel_class(spec["channel"]).recipient_kind
    spec["timing"] = timing = Timing.from_request(services, account_id, payload, spec["channel"])
    now = utcnow()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        total, skipped = _render_all(services, account_id, spec, kind, (body_t, subject_t), now, spool)
        timing.finish()
        spool.seek(0)
        with services.db.write() as session:
            campaign = Campaign(
                account_id=account_id,
                name=spec["name"],
                channel=spec["channel"],
                subject=spec["subject"],
                body=spec["body"],
                recipients={**spec["recipients"], "resolved": _resolved(total, skipped)},
                rate=spec["rate"],
                status=states.DRAFT,
                scheduled_at=spec["scheduled_at"],
                variation_seed=spec["variation_seed"],
                attachments=spec["files"].spec,
                total=total,
                created_at=now,
                updated_at=now,
                **timing.to_columns(),
            )
            session.add(campaign)
            session.flush()
            campaign_id = campaign.id
            for batch in _spooled_batches(spool):
                for row in batch:
                    row["campaign_id"] = campaign_id
                    row["sender_id"] = str(campaign_id)
                insert_rows(session, campaign_id, batch)
            if spec["left_out"]:
                rows = [{**row, "account_id": account_id, "campaign_id": campaign_id} for row in spec["left_out"]]
                session.execute(insert(LeftOut), rows)
    return campaign_id, {"skipped": skipped["opted_out"] + skipped["no_address"], **skipped}


def _resolved(total: int, skipped: dict[str, int]) -> dict[str, int]:
    left_out = {"opted_out": skipped["opted_out"], "no_address": skipped["no_address"]}
    return {"matched": total + skipped["opted_out"] + skipped["no_address"], "recipients": total, **left_out}


def _render_all(
    services: Services,
    account_id: int,
    spec: dict[str, Any],
    kind: str,
    templates: tuple[CompiledTemplate, CompiledTemplate | None],
    now: datetime,
    spool: IO[bytes],
) -> tuple[int, dict[str, int]]:
    """Render every recipient's message into `spool` (pickled batches); raises the 400 that refuses the campaign."""
    limit = body_limit(spec["channel"])
    family = family_of(spec["channel"])
    problems: list[dict[str, Any]] = []
    missing_total, total, found, outside_mms = 0, 0, set[int](), 0
    skipped = {"opted_out": 0, "no_address": 0}
    batch: list[dict[str, Any]] = []
    by_ids = "contact_ids" in spec["recipients"] and "exclude" not in spec["recipients"]
    with services.db.read() as session:
        contacts = recipients_of(session, account_id, spec["recipients"], now)
        budget = RenderBudget()  # for the renders: resolving the selection is not theirs to pay for
        for contact in contacts:
            if by_ids:
                found.add(contact.id)
            address = address_of(contact, kind)
            opted_out = is_opted_out(contact.opt_outs, family)
            if opted_out or not address:
                _leave_out(spec, skipped, contact, family, kind, opted_out)
                continue
            context = context_of(contact.name, contact.phone, contact.email, contact.fields)
            try:
                rendered, subject = _render(templates, context, budget, contact.id)
            except MissingPlaceholder as exc:
                missing_total += 1
                if len(problems) < MAX_DETAILS:
                    problems.append(missing(contact, address, exc, context))
                continue
            check_rendered(spec["channel"], rendered, limit, subject, contact.name or address, skipped)
            if missing_total:
                continue  # the campaign will be refused: stop writing rows, keep looking for problems
            if spec["files"].mms and not address.startswith(MMS_COUNTRY_PREFIX):
                outside_mms += 1
            row = _row(account_id, 0, spec["channel"], contact, address, subject, rendered, now, spec["files"].files)
            batch.append(row)
            spec["timing"].decorate(row, contact, fallback_renderer(rendered, context, budget))
            total += 1
            if len(batch) >= PAGE:
                pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
    if missing_total:
        raise refusal(missing_total, problems)
    check_mms_recipients(outside_mms)
    check_found(sorted(set(spec["recipients"].get("contact_ids") or []) - found) if by_ids else [])
    if total == 0:
        raise nobody(spec["channel"], kind, skipped)
    if batch:
        pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
    return total, skipped


def _leave_out(
    spec: dict[str, Any], skipped: dict[str, int], contact: Contact, family: str, kind: str, opted_out: bool
) -> None:
    """Count a contact left out (opted out, or no address of the channel's kind) and keep the first ones."""
    skipped["opted_out" if opted_out else "no_address"] += 1
    if len(spec["left_out"]) < MAX_LEFT_OUT:
        spec["left_out"].append(left_out_row(contact, family, kind, opted_out))


def _render(
    templates: tuple[CompiledTemplate, CompiledTemplate | None], context: dict[str, Any], budget: RenderBudget, key: int
) -> tuple[str, str | None]:
    """(body, subject) for one recipient; MissingPlaceholder as it is, any other template error a 400."""
    body_t, subject_t = templates
    try:
        return body_t.render(context, budget, key=key), subject_t.render(
            context, budget, key=key
        ) if subject_t else None
    except TemplateError as exc:
        raise bad_request(exc.message, [{"field": "body", "reason": exc.message}]) from None


def _spooled_batches(spool: IO[bytes]) -> Iterator[list[dict[str, Any]]]:
    # Only this process wrote the spool, a moment ago: unpickling it is safe.
    while True:
        try:
            yield pickle.load(spool)  # noqa: S301
        except EOFError:
            return


def _row(
    account_id: int,
    campaign_id: int,
    channel: str,
    contact: Contact,
    address: str,
    subject: str | None,
    body: str,
    now: datetime,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return message_row(
        account_id=account_id,
        channel=channel,
        recipient=address,
        body=body,
        sender_type=states.CAMPAIGN,
        sender_id=str(campaign_id),
        now=now,
        recipient_name=(contact.name or None) and contact.name[:200],
        contact_id=contact.id,
        campaign_id=campaign_id,
        subject=subject,
        meta={"attachments": files} if files else {},
    )
