"""How a campaign looks in the API: its fields, live counts, rate per minute and ETA; the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle
from backend.campaigns.copying import window_as_given
from backend.campaigns.pace_view import pace_fields
from backend.campaigns.pacing import Pace
from backend.campaigns.quiet_hours import quiet_fields
from backend.errors import bad_request
from backend.store import states
from backend.store.models import Campaign, Communication, LeftOut, Message, utcnow
from backend.views import delivery_state, iso

#: characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "Message ID",
    "Recipient",
    "Name",
    "Status",
    "Delivery",
    "Reason",
    "Attempts",
    "Sent at",
    "Provider ID",
)
SEPARATORS = {",": ",", ";": ";", "tab": "\t"}


#: the window the sending rate is measured over.
RATE_WINDOW = timedelta(minutes=1)


def rate_per_min(session: Session, campaign: Campaign) -> float:
    """The campaign's sending rate, per minute, over its sends of the last minute (the sent-window index serves
    it). The window starts one average gap before the first of those sends, not a full minute ago: a campaign
    that began (or resumed) seconds ago is measured over those seconds, and one that stalls slows down."""
    now = utcnow()
    count, first, last = session.execute(
        select(func.count(), func.min(Message.sent_at), func.max(Message.sent_at)).where(
            Message.account_id == campaign.account_id,
            Message.channel == campaign.channel,
            Message.sent_at >= now - RATE_WINDOW,
            Message.campaign_id == campaign.id,
        )
    ).one()
    if not count:
        return 0.0
    if count < 2 or first is None or last is None:
        return float(count)
    gap = (last - first).total_seconds() / (count - 1)
    window = min((now - first).total_seconds() + gap, RATE_WINDOW.total_seconds())
    return round(count * 60.0 / max(window, 1.0), 1)


def eta_s(campaign: Campaign, counts: dict[str, int], rate: float) -> float | None:
    """Seconds until the queue is empty at the current (or, before any send, the configured) pace."""
    remaining = counts[states.QUEUED] + counts[states.SENDING]
    if campaign.status not in (states.RUNNING, states.SCHEDULED) or remaining == 0:
        return 0.0 if remaining == 0 else None
    if rate > 0:
        return round(remaining / rate * 60.0, 1)
    pace = Pace.from_mapping(campaign.rate)
    gap = max(60.0 / pace.per_minute if pace.per_minute else 0.0, (pace.min_delay_s + pace.max_delay_s) / 2)
    return round(remaining * gap, 1) if gap > 0 else None


def campaign_view(
    session: Session, campaign: Campaign, *, live: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    counts = lifecycle.counts(session, campaign) if live else _counter_counts(campaign)
    if campaign.status == states.DRAFT:
        # A draft's messages wait to be started, not to be sent: nothing is queued until Start (issue 26).
        counts = {**counts, "queued": 0, "sending": 0}
    rate = rate_per_min(session, campaign) if live and campaign.status == states.RUNNING else 0.0
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "sequence": campaign.sequence,
        "channel": campaign.channel,
        "subject": campaign.subject,
        "body": campaign.body,
        "variation_seed": campaign.variation_seed,
        "attachments": campaign.attachments or [],
        "left_out": session.scalar(select(func.count()).select_from(LeftOut).where(LeftOut.campaign_id == campaign.id)),
        "recipients": campaign.recipients,
        "rate": campaign.rate or {},
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "scheduled_at": iso(campaign.scheduled_at),
        "resume_at": iso(campaign.resume_at),
        "started_at": iso(campaign.started_at),
        "completed_at": iso(campaign.completed_at),
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
        "counts": counts,
        "rate_per_min": rate,
        "eta_s": eta_s(campaign, counts, rate),
        # What the monitor shows beside the rate: the configured pace and which limit holds the rate back.
        **(pace_fields(session, campaign, rate) if live else {}),
        # Quiet hours: how many messages wait for their window to open (DESIGN section 16).
        **(quiet_fields(session, campaign, now or utcnow()) if live else {}),
        "send_window": window_as_given(campaign.send_window),  # as a request gives it: a copy sends it back
        "fallback": campaign.fallback or [],
    }


def _counter_counts(campaign: Campaign) -> dict[str, int]:
    """Counts from the campaign's own counters (lists: no GROUP BY per row); queued includes sending."""
    done = campaign.sent_count + campaign.failed_count + campaign.uncertain_count + campaign.cancelled_count
    out = dict.fromkeys(lifecycle.COUNT_KEYS, 0)
    out.update(
        total=campaign.total,
        queued=max(campaign.total - done, 0),
        sent=campaign.sent_count,
        failed=campaign.failed_count,
        uncertain=campaign.uncertain_count,
    )
    return out


def neutralise(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def delivery_reasons(session: Session, message_ids: list[int]) -> dict[int, str]:
    """Why each undelivered message was not delivered, in the provider's words as the channel wrote them
    ("the phone is switched off or unreachable"), from its final failure report."""
    reasons: dict[int, str] = {}
    if not message_ids:
        return reasons
    rows = session.execute(
        select(
            Communication.message_id, Communication.error_text, Communication.error_code, Communication.provider_status
        )
        .where(Communication.message_id.in_(message_ids), Communication.success.is_(False))
        .order_by(Communication.id)
    ).all()
    for message_id, text, code, status in rows:
        words = (text or "").strip() or (f"error {code}" if code else "") or status or "not delivered"
        reasons[message_id] = f"{words} ({code})" if code and code not in words else words
    return reasons


def export_delivery(message: Message) -> str:
    """The export's delivery cell: the delivery state of a sent message; for an uncertain one what the provider
    said about it (never "pending" for ever); empty for messages that were not sent."""
    if message.status == "sent":
        return delivery_state(message)
    if message.status == "uncertain":
        if message.reconcile_state == "absent":
            return "not received by the provider: safe to send again"
        if message.reconcile_state == "checking":
            return "being checked with the provider"
        return "unknown: check with the recipient"
    return ""


@dataclass(frozen=True)
class ExportOptions:
    separator: str = ","
    zone: ZoneInfo | None = None

    def time(self, value: datetime | None) -> str | None:
        if value is None or self.zone is None:
            return iso(value)
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def export_options(sep: str | None, tz: str | None) -> ExportOptions:
    """The export's list separator and time zone from the query; a 400 naming the one that is off."""
    if sep not in (None, "", *SEPARATORS):
        raise bad_request("`sep` must be , ; or tab.", [{"field": "sep", "reason": "must be , ; or tab"}])
    zone = None
    if tz:
        try:
            zone = ZoneInfo(tz) if len(tz) < 64 and ".." not in tz and not tz.startswith("/") else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            raise bad_request("`tz` is not a time zone name.", [{"field": "tz", "reason": "not an IANA time zone"}])
    return ExportOptions(SEPARATORS.get(sep or ",", ","), zone)


def export_rows(db: Any, campaign: Campaign, options: ExportOptions | None = None, page: int = 5000) -> Iterator[str]:
    """The campaign's messages, then the contacts it left out, as CSV text, page by page (keyset on id), header
    first (in words; "Sent at" names its zone). The text starts with a UTF-8 byte-order mark: Excel reads a CSV
    without one in the system's ANSI code page and garbles "Chloé"."""
    options = options or ExportOptions()
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=options.separator)
    zone = options.zone.key if options.zone else "UTC"
    writer.writerow([*EXPORT_COLUMNS[:7], f"Sent at ({zone})", EXPORT_COLUMNS[8]])
    last = 0
    while True:
        with db.read() as session:
            rows = session.scalars(
                select(Message)
                .where(lifecycle.of_campaign(campaign.id, campaign.account_id), Message.id > last)
                .order_by(Message.id)
                .limit(page)
            ).all()
            reasons = delivery_reasons(session, [m.id for m in rows if m.delivered is False])
        for m in rows:
            cells = (
                m.id,
                m.recipient,
                m.recipient_name,
                m.status,
                export_delivery(m),
                reasons.get(m.id) or m.last_error,
                m.attempts,
                options.time(m.sent_at),
                m.provider_message_id,
            )
            writer.writerow([neutralise(c) for c in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < page:
            break
        last = rows[-1].id
    yield from _left_out_rows(db, campaign, writer, buffer, page)


def _left_out_rows(db: Any, campaign: Campaign, writer: Any, buffer: io.StringIO, page: int) -> Iterator[str]:
    last = 0
    while True:
        with db.read() as session:
            rows = session.scalars(
                select(LeftOut)
                .where(LeftOut.campaign_id == campaign.id, LeftOut.account_id == campaign.account_id, LeftOut.id > last)
                .order_by(LeftOut.id)
                .limit(page)
            ).all()
        for row in rows:
            cells = ("", row.address or "", row.name, "left out", "", row.detail, 0, "", "")
            writer.writerow([neutralise(c) for c in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < page:
            return
        last = rows[-1].id
