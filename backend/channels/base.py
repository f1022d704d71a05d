"""The face every channel shows the rest of the app.

A channel knows how to talk to one provider and nothing else: the dispatcher claims messages, applies rate
limits, records outcomes and emits events. A channel validates its settings, verifies them, sends one message
and, where the provider can be asked, fetches a message's delivery status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from backend.security.masking import MASK
from backend.store import states

if TYPE_CHECKING:
    from backend.channels.fields import ChannelSettings


class SendError(Exception):
    """A send (or verification) that did not succeed, with a short human reason.

    permanent=True: it will never pass (bad address, not on WhatsApp, 5xx recipient refused) -> `failed`.
    uncertain=True: the provider may have received it but its answer was lost -> `uncertain`, never re-sent.
    Otherwise transient (timeouts, 4xx SMTP, 429, 5xx) -> retried with backoff up to the channel's attempt limit.
    retry_after: seconds the provider asked us to wait, when it said so.
    pause_campaign: the whole channel cannot send for now (quota exhausted, auth revoked, throttled): the
    campaign pauses with this reason instead of failing every message; the message itself goes back to queued.
    opt_out: the recipient told the provider they want no more messages (Twilio 21610, STOP): the dispatcher opts
    the contact out of this channel family (`sms`, `email`, `whatsapp`).
    outage: the provider cannot be reached at all (connection refused, DNS, TLS handshake, 421, a provider 5xx):
    not the message's fault. It goes back to queued without using an attempt, the channel's state becomes
    `error` with `reason`, and the dispatcher tries the connection again with backoff (DESIGN section 5).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        uncertain: bool = False,
        retry_after: float | None = None,
        pause_campaign: bool = False,
        opt_out: str | None = None,
        outage: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.uncertain = uncertain
        self.retry_after = retry_after
        self.pause_campaign = pause_campaign
        self.opt_out = opt_out
        self.outage = outage


class SettingsError(Exception):
    """Settings that cannot be used. `details` lists each problem as {"field", "reason"}."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


@dataclass(frozen=True)
class RateDefaults:
    per_minute: float | None = None
    min_delay_s: float = 0.0
    max_delay_s: float = 0.0
    daily_cap: int | None = None


@dataclass(frozen=True)
class Attachment:
    """A file a message carries: its bytes in `data`, or read from `path` (a media library file) when sent."""

    filename: str
    content_type: str
    data: bytes = b""
    path: Path | None = None
    #: image | video | audio | document (backend/media/sniff.py)
    kind: str = "document"
    #: WhatsApp: send an image or video as a document (no compression), not as media.
    as_document: bool = False
    size: int = 0

    def content(self) -> bytes:
        """The file's bytes; raises SendError(permanent=True) when the library file is gone from this machine."""
        if self.path is None:
            return self.data
        try:
            return self.path.read_bytes()
        except OSError:
            raise SendError(f"the attached file {self.filename} is not on this computer", permanent=True) from None


def _nothing_to_record() -> None:
    return None


@dataclass(frozen=True)
class OutboundMessage:
    """What a channel needs to send one message; built by the dispatcher from the stored row.

    `content_going_out()`: a channel whose `announces_content` is true calls it once, just before the message's
    content leaves for the provider (the SMTP DATA payload, the HTTP request body, the WhatsApp send click),
    after the connection and the envelope. It records that the send started (so that a crash before it queues the
    message again, and one after it makes it `uncertain`); it raises SendError(outage=True) when that cannot be
    recorded: the channel must then not send the content and let the error through.
    """

    id: int
    account_id: int
    channel: str
    recipient: str
    body: str
    subject: str | None = None
    html_body: str | None = None
    recipient_name: str | None = None
    sender_type: str = states.CONVERSATION
    sender_id: str = ""
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    content_going_out: Callable[[], None] = field(default=_nothing_to_record, compare=False, repr=False)


@dataclass(frozen=True)
class DeliveryReport:
    """One provider delivery log line, as a channel reads it from a provider poll or a webhook.

    success: True for a final success (delivered, read), False for a final failure (failed, undelivered,
    bounce, dropped), None for a status that is not final yet (queued, sent, processed, deferred).
    """

    provider: str
    provider_event_id: str
    status: str
    success: bool | None
    error_code: str | None = None
    error_text: str | None = None
    occurred_at: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FoundSend:
    """The provider's answer about an uncertain send: its id and when it was sent, or `sid` None (not there)."""

    sid: str | None
    sent_at: datetime | None = None


@dataclass
class ChannelContext:
    """What the app hands a channel: where it may keep files, and how it reports its state.

    emit_status(state, text) must be called with the `channel.state` values of DESIGN section 7 and the
    original system's texts; emit_qr(data_url or None) for the WhatsApp QR.
    save_secrets(values, expect) stores this channel's secrets encrypted (a None value removes one), only if the
    stored secrets still have the values in `expect` (compare-and-set, e.g. renewed OAuth tokens must not undo
    a newer authorization); True when stored.
    """

    account_id: int
    data_dir: Path
    public_url: str | None = None
    emit_status: Callable[[states.ChannelState, str], None] = lambda state, text: None
    emit_qr: Callable[[str | None], None] = lambda data_url: None
    save_secrets: Callable[[dict[str, str | None], dict[str, str | None] | None], bool] = lambda values, expect: False
    options: dict[str, Any] = field(default_factory=dict)


class SendFeed(Protocol):
    """A dispatcher worker's messages as a channel's `send_run` sees them: one at a time, in order.

    The channel calls `starting(m)` just before the first byte of `m` that could make the provider act on it goes
    out (for SMTP: its content, after the envelope was accepted), and `answered(m, result)` once for every message
    it started or refused without starting (`result`: the provider's id, or the SendError). A message taken with
    `next_ready` and neither started nor answered when `send_run` returns (its envelope may have gone, its
    content never did) goes back to the queue without using an attempt.
    """

    def next_ready(self) -> OutboundMessage | None:
        """The worker's next message if one may start now; None at once otherwise (never waits)."""
        ...

    def starting(self, message: OutboundMessage) -> bool:
        """Recorded as started (the send journal); False: it must not go out (stopping, its campaign just met an
        error): the channel then abandons it without sending anything more of it."""
        ...

    def answered(self, message: OutboundMessage, result: str | SendError) -> None:
        """The provider's answer (its id for the message), or why the message did not go."""
        ...

    def release(self, message: OutboundMessage) -> None:
        """Give a taken message back now, before the run ends: the channel will not start it (the answer it
        waits behind is late, and another worker may send it meanwhile)."""
        ...


class Channel:
    """Base for every channel. Subclasses set the class attributes and implement what applies."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: the settings as declared (backend/channels/fields.py): their check, the form and its words come from it.
    settings_model: ClassVar[type[ChannelSettings]]
    #: setting keys whose values are secrets: stored encrypted, shown as `****` (the model's `secret` fields).
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    #: sends attempted before a transiently failing message is `failed`.
    max_attempts: ClassVar[int] = 5
    #: longest body the provider accepts, in characters (None: no limit we know of).
    max_body_length: ClassVar[int | None] = None
    #: whether a message needs a subject (email) and what the recipient must look like.
    needs_subject: ClassVar[bool] = False
    recipient_kind: ClassVar[str] = "phone"  # "phone" or "email"
    rate_defaults: ClassVar[RateDefaults] = RateDefaults()
    #: True when only one live session may exist across processes (WhatsApp Web).
    single_session: ClassVar[bool] = False
    #: how many messages the dispatcher sends at once by default (DESIGN section 5); see `concurrency()`.
    default_concurrency: ClassVar[int] = 1
    #: the longest one send can take (every timeout of it added); the dispatcher's lease outlives it.
    send_timeout_s: ClassVar[float] = 60.0
    #: whether `send` calls `message.content_going_out()` just before the content leaves (else the dispatcher
    #: calls it before `send`, so a crash during the connection or the envelope counts as a possible send).
    announces_content: ClassVar[bool] = False
    #: what the channel's outage texts call the provider ("The SMTP server refused the connection").
    provider_title: ClassVar[str] = "The provider"

    @property
    def reports_delivery(self) -> bool:
        """Whether anything ever tells us a sent message was delivered (callbacks, polls, ticks). A channel without
        a delivery source gives `delivery` `untracked` (DESIGN section 6.7): never checked, never `expired`."""
        return True

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        self.settings = settings
        self.secrets = secrets
        self.context = context

    @classmethod
    def validate_settings(
        cls, raw: dict[str, Any], current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check raw settings from the API; return (plain settings, secrets).

        `current` holds the stored plain settings and secrets merged, so a form that sends `****` or leaves a
        secret out keeps the stored one. Raises SettingsError listing each problem.
        """
        raise NotImplementedError

    def verify(self) -> str:
        """Check the settings against the provider (log in, NOOP, fetch the account). Returns a detail text.

        Raises SendError with a human reason when it fails.
        """
        return "Ready"

    def configured_state(self) -> states.ChannelState:
        """The `channel.state` to store once verified settings are saved (called after `verify`).

        Default: `ready`, or `disconnected` for a live session that saving does not start (WhatsApp Web).
        A channel that needs another step (Gmail: authorization) says so here.
        """
        return states.DISCONNECTED if self.single_session else states.READY

    def connect(self) -> None:
        """Start a long-lived session (WhatsApp Web). Default: verify."""
        detail = self.verify()
        self.context.emit_status(states.READY, detail)

    def disconnect(self) -> None:
        self.close()
        self.context.emit_status(states.DISCONNECTED, "Disconnected")

    def send(self, message: OutboundMessage) -> str:
        """Send one message; return the provider's id for it. Raises SendError.

        Called by up to `concurrency()` dispatcher workers at once: a channel whose concurrency is above 1 is
        thread-safe (SMTP keeps one connection per worker, HTTP channels send requests in parallel)."""
        raise NotImplementedError

    def send_run(self, first: OutboundMessage, feed: SendFeed) -> None:
        """Send `first` and report it through `feed` (see SendFeed). A channel that can overlap the messages of one
        worker (SMTP PIPELINING: the next message's envelope rides with this one's content) overrides this and
        goes on with `feed.next_ready()` while it has one; this default sends `first` alone through `send`."""
        if not feed.starting(first):
            return
        try:
            result: str | SendError = self.send(first)
        except SendError as exc:
            result = exc
        feed.answered(first, result)

    def concurrency(self) -> int:
        """How many messages this channel sends at once (its settings may say; 1 for a single session)."""
        return self.default_concurrency

    def longest_send_s(self) -> float:
        """The longest one send can take with these settings (the lease covers it plus a margin)."""
        return float(self.send_timeout_s)

    def fetch_delivery(self, provider_message_id: str, recipient: str | None = None) -> DeliveryReport | None:
        """Ask the provider for a sent message's status (section 6 step 4); None when it cannot be asked.
        `recipient` is the message's recipient, for providers that find a message by its chat (WhatsApp)."""
        return None

    #: True when `find_sent` can ask the provider whether it has a message (DESIGN section 6.8).
    can_find_sent: ClassVar[bool] = False

    def find_sent(self, recipient: str, body: str, since: datetime) -> FoundSend | None:
        """Does the provider have our message to `recipient` with `body`, created since `since`? (An `uncertain`
        send checked against the provider.) FoundSend(sid) when it does, FoundSend(None) when it surely has none
        in its records, None when it cannot be asked (now or ever)."""
        return None

    def close(self) -> None:
        """Release connections and processes. Safe to call more than once."""


def mask_settings(settings: dict[str, Any], secrets: dict[str, str], secret_keys: frozenset[str]) -> dict[str, Any]:
    """The settings as the API shows them: every secret that is set becomes `****`."""
    shown = dict(settings)
    for key in secret_keys:
        shown[key] = MASK if secrets.get(key) else None
    return shown
