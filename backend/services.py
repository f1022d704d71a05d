"""The app's long-lived parts, built once by create_app and reached as `current_app.extensions["bulkmsg"]`
(`current_services()` in a request).

The parts below the wiring name `Services` in annotations only (under TYPE_CHECKING): they never import it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from backend.accounts import DEFAULT_ACCOUNT, SecretStore, get_or_create_account
from backend.channels.manager import ChannelManager
from backend.config import Config
from backend.conversations.inbox_idle import InboxWatcher
from backend.conversations.mailbox import InboxReader
from backend.conversations.whatsapp_inbound import WhatsAppInbound
from backend.dispatch.hooks import DispatchHooks, NoHooks
from backend.dispatch.pool import DispatcherPool
from backend.events.hub import EventHub
from backend.jobs.delivery_status import DeliveryStatusJob
from backend.jobs.schedule import Job
from backend.media.library import MediaLibrary
from backend.security.files import secure_data_dir
from backend.security.keys import AppKeys
from backend.security.tokens import Principal, TokenSigner
from backend.store.db import Database
from backend.store.health import StoreHealth
from backend.store.models import utcnow
from backend.store.sign_ins import SignIns

if TYPE_CHECKING:
    from backend.campaigns.uncertain_check import UncertainCheck
    from backend.webhooks_out.worker import WebhookWorker

#: (account id, contact id or None, channel, recipient address, opt-out family) of each send a provider refused
#: because the recipient opted out (backend.contacts.provider_opt_outs).
ProviderOptOut = tuple[int, int | None, str, str, str]

LOGIN_CODE_TTL_S = 15 * 60


@dataclass
class Services:
    config: Config
    db: Database
    keys: AppKeys
    signer: TokenSigner
    hub: EventHub
    secrets: SecretStore
    #: the account's media files (attachments) under `<data dir>/media`.
    media: MediaLibrary
    #: the live channel instances of every account (built by `build`).
    channels: ChannelManager = field(init=False)
    #: signed-in devices: every sign-in token names one (backend/store/sign_ins.py; built by `build`).
    sign_ins: SignIns = field(init=False)
    #: one dispatcher per configured (account, channel) (built by `build`, started by the runtime).
    dispatchers: DispatcherPool = field(init=False)
    #: what campaigns add to the dispatcher (backend.campaigns.install); conversation messages only without it.
    hooks: DispatchHooks = field(default_factory=NoHooks)
    #: the delivery-status job (backend.jobs.delivery_status.install), used by the trigger route and webhooks.
    delivery_job: DeliveryStatusJob | None = None
    #: periodic jobs the runtime's scheduler runs (serve and the desktop shell only).
    jobs: list[Job] = field(default_factory=list)
    #: the email inbox reader and its IMAP IDLE watcher (backend.conversations.mailbox.install).
    inbox: InboxReader | None = None
    inbox_watcher: InboxWatcher | None = None
    #: reads incoming WhatsApp messages while a session is ready (backend.conversations.whatsapp_inbound).
    whatsapp_inbound: WhatsAppInbound | None = None
    #: opts contacts out when a provider refuses a send because they opted out (backend.api.contacts.install);
    #: the dispatcher calls it in its batch's transaction.
    provider_opt_outs: Callable[[Services, Any, list[ProviderOptOut]], None] | None = None
    #: run when the runtime starts, in the order added.
    on_start: list[Callable[[], object]] = field(default_factory=list)
    #: run when the runtime stops; the argument says whether running campaigns are to be paused.
    on_stop: list[Callable[[bool], object]] = field(default_factory=list)
    #: the store's health probe behind `GET /api/health` (backend.api.core.install).
    store_health: StoreHealth | None = None
    #: the job that checks uncertain sends with the provider (backend.campaigns.install).
    uncertain_check: UncertainCheck | None = None
    #: whether each (account, channel) reports delivery, and until when that answer holds (dispatch.outcomes).
    delivery_sources: dict[tuple[int, str], tuple[bool, float]] = field(default_factory=dict)
    #: the app's wall clock (aware UTC): send windows, plans, API key expiry, webhook retries; tests set their own.
    clock: Callable[[], datetime] = utcnow
    #: an API key -> (its account's principal, its scopes); ApiError 401 otherwise (backend.api.api_keys.install).
    api_key_auth: Callable[[str], tuple[Principal, frozenset[str]]] | None = None
    #: the outgoing-webhook worker (backend.webhooks_out.worker.install).
    webhooks_out: WebhookWorker | None = None
    #: what sequences do when things happen elsewhere (backend.sequences.install), called in the transaction of
    #: the change: a batch's send results (services, session, results), an opt-out (services, session, contact
    #: id, family, why), a real inbound message (services, session, account id, contact id, channel) and a
    #: campaign cancelled (session, campaign id, now).
    after_send_results: list[Callable[..., object]] = field(default_factory=list)
    on_opt_out: list[Callable[..., object]] = field(default_factory=list)
    on_inbound: list[Callable[..., object]] = field(default_factory=list)
    on_campaign_cancelled: list[Callable[..., object]] = field(default_factory=list)
    _login_codes: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, config: Config) -> Services:
        secure_data_dir(config.data_dir)
        keys = AppKeys.load_or_create(config.data_dir)
        db = Database(config.database_url)
        services = cls(
            config=config,
            db=db,
            keys=keys,
            signer=TokenSigner(keys.jwt_key),
            hub=EventHub(db),
            secrets=SecretStore(keys.box),
            media=MediaLibrary(config.data_dir / "media", keys.media_key),
        )
        # Built here, not started: Runtime.start() starts them (nothing runs at import or build time).
        services.channels = ChannelManager(services)
        services.sign_ins = SignIns(db)
        services.dispatchers = DispatcherPool(services, lambda: services.hooks)
        services.on_start.append(services.channels.resume_sessions)
        return services

    def account_token(
        self, account: str = DEFAULT_ACCOUNT, user: str = "owner", *, kind: str = "terminal", label: str = ""
    ) -> str:
        """A bearer token for `account` (created when new), naming a new signed-in device of `kind`."""
        with self.db.write() as session:
            account_id = get_or_create_account(session, account).id
        sid = self.sign_ins.start(account_id, user, kind, label or f"{kind} sign-in")
        return self.signer.issue(Principal(account_id=account_id, user=user, sign_in=sid))

    def login_code(self, account: str = DEFAULT_ACCOUNT) -> str:
        """A one-time code that `POST /api/session` exchanges for a bearer token (the URL `serve` prints)."""
        with self.db.write() as session:
            account_id = get_or_create_account(session, account).id
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._login_codes[code] = (Principal(account_id, "owner"), time.monotonic() + LOGIN_CODE_TTL_S)
        return code

    def redeem_login_code(self, code: str) -> Principal | None:
        with self._lock:
            entry = self._login_codes.pop(code, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


def current_services() -> Services:
    """The Services of the app handling the current request."""
    services: Services = current_app.extensions["bulkmsg"]
    return services
