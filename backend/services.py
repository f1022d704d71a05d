"""The app's long-lived parts, built once by create_app and reached as `current_app.extensions["bulkmsg"]`
(`current_services()` in a request).

The parts below the wiring name `Services` in annotations only (under TYPE_CHECKING): they never import it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from backend.accounts import DEFAULT_ACCOUNT, SecretStore, authenticate, get_or_create_account
from backend.campaigns.hooks import CampaignHooks
from backend.campaigns.jobs import INTERVAL_S as CAMPAIGN_JOB_S
from backend.campaigns.jobs import pause_all_running, run_campaign_job
from backend.campaigns.uncertain_check import INTERVAL_S as UNCERTAIN_CHECK_S
from backend.campaigns.uncertain_check import UncertainCheck
from backend.channels.manager import ChannelManager
from backend.config import LOOPBACK_HOSTS, Config
from backend.contacts.provider_opt_outs import apply_provider_opt_outs
from backend.conversations.inbox_idle import InboxWatcher
from backend.conversations.mailbox import POLL_S as INBOX_POLL_S
from backend.conversations.mailbox import InboxReader
from backend.conversations.whatsapp_inbound import POLL_S as WHATSAPP_POLL_S
from backend.conversations.whatsapp_inbound import WhatsAppInbound
from backend.dispatch.hooks import DispatchHooks
from backend.dispatch.pool import DispatcherPool
from backend.events.hub import EventHub
from backend.jobs.delivery.status import DeliveryStatusJob
from backend.jobs.schedule import Job
from backend.media.library import MediaLibrary
from backend.security.files import secure_data_dir
from backend.security.keys import AppKeys
from backend.security.tokens import Principal, TokenSigner
from backend.store.db import Database
from backend.store.health import StoreHealth
from backend.store.models import utcnow
from backend.store.sign_ins import SignIns
from backend.webhooks_out.store import prune_finished
from backend.webhooks_out.urls import AddressPolicy
from backend.webhooks_out.worker import WebhookWorker

log = logging.getLogger(__name__)

#: (account id, contact id or None, channel, recipient address, opt-out family) of each send a provider refused
#: because the recipient opted out (backend.contacts.provider_opt_outs).
ProviderOptOut = tuple[int, int | None, str, str, str]

LOGIN_CODE_TTL_S = 15 * 60


@dataclass
class Services:
    """Every part, built whole by `build` in dependency order (the parts that reach the others are given this
    object, so they are set right after it exists): nothing is filled in later by the capabilities' `install`,
    which only register routes."""

    config: Config
    db: Database
    keys: AppKeys
    signer: TokenSigner
    hub: EventHub
    secrets: SecretStore
    #: the account's media files (attachments) under `<data dir>/media`.
    media: MediaLibrary
    #: the store's health probe behind `GET /api/health` and the campaigns' waiting reasons.
    store_health: StoreHealth
    #: signed-in devices: every sign-in token names one (backend/store/sign_ins.py).
    sign_ins: SignIns
    #: opts contacts out when a provider refuses a send because they opted out (backend.contacts.provider_opt_outs);
    #: the dispatcher calls it in its batch's transaction (it does not import the contacts).
    provider_opt_outs: Callable[[Services, Any, list[ProviderOptOut]], None]
    #: the live channel instances of every account.
    channels: ChannelManager = field(init=False)
    #: what campaigns add to the dispatcher (pacing, counters, completion: backend.campaigns.hooks).
    hooks: DispatchHooks = field(init=False)
    #: one dispatcher per configured (account, channel) (started by the runtime).
    dispatchers: DispatcherPool = field(init=False)
    #: the delivery-status job, run by the scheduler, the trigger route and (nudged) the webhooks.
    delivery_job: DeliveryStatusJob = field(init=False)
    #: the job that checks uncertain sends with the provider.
    uncertain_check: UncertainCheck = field(init=False)
    #: the email inbox reader and its IMAP IDLE watcher.
    inbox: InboxReader = field(init=False)
    inbox_watcher: InboxWatcher = field(init=False)
    #: reads incoming WhatsApp messages while a session is ready (a scheduler job).
    whatsapp_inbound: WhatsAppInbound = field(init=False)
    #: the outgoing-webhook worker.
    webhooks_out: WebhookWorker = field(init=False)
    #: an API key -> (its account's principal, its scopes); ApiError 401 otherwise (backend.api.api_keys).
    api_key_auth: Callable[[str], tuple[Principal, frozenset[str]]] = field(init=False)
    #: periodic jobs the runtime's scheduler runs (serve and the desktop shell only).
    jobs: list[Job] = field(default_factory=list)
    #: run when the runtime starts, in the order added.
    on_start: list[Callable[[], object]] = field(default_factory=list)
    #: run when the runtime stops; the argument says whether running campaigns are to be paused.
    on_stop: list[Callable[[bool], object]] = field(default_factory=list)
    #: whether each (account, channel) reports delivery, and until when that answer holds (dispatch.outcomes).
    delivery_sources: dict[tuple[int, str], tuple[bool, float]] = field(default_factory=dict)
    #: the app's wall clock (aware UTC): send windows, plans, API key expiry, webhook retries; tests set their own.
    clock: Callable[[], datetime] = utcnow
    _login_codes: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, config: Config) -> Services:
        """Every part, lowest first. Built here, not started: Runtime.start() starts them (nothing runs at import
        or build time)."""
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
            store_health=StoreHealth(config.data_dir, config.database_url),
            sign_ins=SignIns(db),
            provider_opt_outs=apply_provider_opt_outs,
        )
        services.channels = ChannelManager(services)
        services.hooks = CampaignHooks(services)
        services.dispatchers = DispatcherPool(services, lambda: services.hooks)
        services.delivery_job = DeliveryStatusJob(services)
        services.uncertain_check = UncertainCheck(services)
        services.inbox = InboxReader(services)
        # IMAP IDLE brings a reply in within seconds; the inbox job is the safety net (inbox_idle.py).
        services.inbox_watcher = InboxWatcher(services, services.inbox)
        services.whatsapp_inbound = WhatsAppInbound(services)
        policy = AddressPolicy(allow_private=config.host in LOOPBACK_HOSTS)
        services.webhooks_out = WebhookWorker(db, services.hub, keys.box, policy, lambda: services.clock())
        services.api_key_auth = lambda token: authenticate(db, token, services.clock())
        _schedule(services)
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


def _schedule(services: Services) -> None:
    """The periodic jobs and the start and stop hooks of the parts, in the order they run."""
    config = services.config
    services.on_start.append(services.channels.resume_sessions)
    services.jobs.append(Job("campaigns", lambda: run_campaign_job(services), CAMPAIGN_JOB_S))
    services.jobs.append(Job("uncertain-check", services.uncertain_check.run_once, UNCERTAIN_CHECK_S))

    def pause_campaigns(pause: bool) -> None:
        if pause:
            pause_all_running(services, "the app was closed; resume when ready")

    services.on_stop.append(pause_campaigns)
    delivery = services.delivery_job
    if config.delivery_job:
        services.jobs.append(Job("delivery-status", delivery.run_once, config.delivery_interval_s))
        services.on_start.append(delivery.start)
        services.on_stop.append(lambda _pause: delivery.stop())
    else:
        log.info("the delivery-status job is off in this process (BULKMSG_DELIVERY_JOB=false)")
    reader, watcher = services.inbox, services.inbox_watcher
    services.jobs.append(Job("inbox", reader.run_once, INBOX_POLL_S))
    services.on_start.append(watcher.start)
    services.on_stop.append(watcher.stop)
    services.on_stop.append(lambda _pause: reader.parser.close())
    whatsapp = services.whatsapp_inbound
    services.jobs.append(Job("whatsapp-inbound", whatsapp.run_scheduled, WHATSAPP_POLL_S))
    services.on_start.append(whatsapp.start)
    services.on_stop.append(whatsapp.stop)
    worker = services.webhooks_out
    services.jobs.append(Job("webhook-deliveries-prune", lambda: prune_finished(services.db, services.clock()), 3600))
    services.on_start.append(worker.start)
    services.on_stop.append(lambda _pause: worker.stop())
