"""WhatsApp inbound: while an account's WhatsApp session is ready, its new incoming messages are read from the
page and written into their senders' threads (DESIGN section 8 "Inbound", issue 15 item 5).

`WhatsAppInbound` is a scheduler job (`run_scheduled`, built and scheduled by backend.services). Every POLL_S it
looks at each live WhatsApp channel that is `ready` and has no send queued or running (`WhatsAppChannel.sending`) and
calls `read_incoming()`, which runs as a job on the session's own worker thread, the only thread that touches
the page: a read and a send are jobs of that one queue, so they never interleave on the page. The job first
asks the chat list, in one browser round trip, whether any chat shows an unread badge; only then does it open
those chats (through the Unread filter tab, so a chat far down the virtualised list is found) and read their
new incoming rows (opening a chat marks it read on WhatsApp, as it would for
a person).

Each message goes through `record_inbound(channel="whatsapp")` (contact created when unknown, each row id
applied once, a "STOP" opts the contact out of whatsapp, `message.created` pushed). The sender's number comes
from what the page shows (`WhatsAppChannel.sender_phone`): the chat title when it is a number, else the number
we opened that chat for with `/send?phone=`, else the one contact of the account whose name is that title. A
message whose number none of these tell is not stored (logged without the name); WhatsApp Web shows the number
of a named chat only in its contact-info drawer, which is not read today.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from selenium.common.exceptions import WebDriverException
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.base import SendError
from backend.channels.whatsapp import incoming, pages
from backend.channels.whatsapp.channel import WhatsAppChannel
from backend.conversations.inbound import Inbound, record_inbound
from backend.store.models import Contact

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: how often the chat list is looked at for unread badges (one browser round trip when there are none).
POLL_S = 2.0
#: the longest one read may wait for the session's worker (a send in progress finishes first).
READ_TIMEOUT_S = 60.0


class WhatsAppInbound:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time (the scheduler's, or a caller of run_once)

    def start(self) -> None:
        self._stop.clear()

    def stop(self, pause_campaigns: bool = False) -> None:
        """No pass starts from now on, and one under way ends after the chat it is reading (the session, which
        stops next, ends that read)."""
        self._stop.set()

    def run_scheduled(self) -> int:
        """The scheduler's job (every POLL_S while the runtime runs): one pass, unless stopping."""
        if self._stop.is_set():
            return 0
        try:
            return self.run_once()
        except Exception:  # noqa: BLE001 - one bad pass is logged; the next one tries again
            log.exception("reading incoming WhatsApp messages failed")
            return 0

    def run_once(self) -> int:
        """One look at every ready WhatsApp session; returns how many messages were stored."""
        stored = 0
        with self._lock:
            for account_id, name, channel in self.services.channels.live():
                if self._stop.is_set():
                    break
                if name != "whatsapp" or not isinstance(channel, WhatsAppChannel):
                    continue
                if not channel.ready or channel.sending:
                    continue  # not connected, or a send owns the page now: next pass
                stored += self._read(account_id, channel)
        return stored

    def _read(self, account_id: int, channel: WhatsAppChannel) -> int:
        try:
            found = channel.read_incoming(READ_TIMEOUT_S)
        except (SendError, pages.PageChanged, WebDriverException) as exc:
            # not ready, stopped, or the page moved under the read: the next pass looks again
            reason = exc.msg if isinstance(exc, WebDriverException) else str(exc)
            log.info("could not read incoming WhatsApp messages of account %s: %s", account_id, (reason or "")[:200])
            return 0
        if not found:
            return 0
        stored = unknown = 0
        with self.services.db.write() as session:
            for message in found:
                phone = message.phone or _number_of_named_contact(session, account_id, message.chat)
                if phone is None:
                    unknown += 1
                    continue
                inbound = Inbound(
                    account_id=account_id,
                    channel="whatsapp",
                    sender=phone,
                    body=message.text,
                    provider_message_id=message.message_id,
                    # a title that is not the number is the phone's address-book name for this sender
                    sender_name=None if incoming.phone_of_title(message.chat) else message.chat,
                    meta={"whatsapp_chat": message.chat, "whatsapp_time": message.time},
                )
                if record_inbound(self.services.hub, session, inbound) is not None:
                    stored += 1
        if unknown:
            log.warning(
                "%s incoming WhatsApp message(s) of account %s were not stored: their chat is titled by a name "
                "and its number is not known",
                unknown,
                account_id,
            )
        if stored:
            log.info("stored %s incoming WhatsApp message(s) for account %s", stored, account_id)
        return stored


def _number_of_named_contact(session: Session, account_id: int, name: str) -> str | None:
    """The phone of the one contact of the account named exactly `name` (None when none or several)."""
    phones = session.scalars(
        select(Contact.phone).where(Contact.account_id == account_id, Contact.name == name, Contact.phone.is_not(None))
    ).all()
    return phones[0] if len(phones) == 1 else None
