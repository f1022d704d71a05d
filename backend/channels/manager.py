"""Live channel instances per account, built from stored settings and decrypted secrets.

The manager is the one place that turns a ChannelConfig row into a Channel, keeps it (an SMTP connection or a
WhatsApp session lives as long as the instance), reports `channel.status`, and closes everything on stop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from backend.channels.base import Channel, ChannelContext, SendError, mask_settings
from backend.channels.describe import form, limits
from backend.channels.families import is_configured
from backend.channels.registry import CHANNELS, channel_class
from backend.channels.smtp.inbox import has_inbox, inbox_status
from backend.store import states
from backend.store.leases import DatabaseLease
from backend.store.models import Account, ChannelConfig, Lease, utcnow
from backend.store.process import owner_is_dead, worker_id

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

STATES = states.CHANNEL_STATES
#: how often a live instance's stored settings are compared with what it was built from.
REFRESH_S = 5.0
_LEVELS = {
    states.READY: "success",
    states.AUTHENTICATED: "success",
    states.AUTH_FAILURE: "error",
    states.CONFLICT: "warning",
    states.ERROR: "error",
}


class NotConfigured(LookupError):
    """The channel has no settings yet for this account."""


class ChannelManager:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._instances: dict[tuple[int, str], Channel] = {}
        self._lock = threading.RLock()
        self._connecting: set[tuple[int, str]] = set()
        #: what each instance was built from, and when that was last compared with the store.
        self._snapshots: dict[tuple[int, str], tuple[Any, ...]] = {}
        self._checked: dict[tuple[int, str], float] = {}

    # -- instances ----------------------------------------------------------------------------------------

    def instance(self, account_id: int, name: str) -> Channel:
        """The live Channel for (account, name), built on first use. Raises NotConfigured.

        At most every REFRESH_S seconds the stored settings, secrets and public URL are read again: when another
        process (or a direct store change) altered them, the old instance is closed and a new one built, so a
        token rotated in one `serve` process is used by all of them.
        """
        key = (account_id, name)
        stale: Channel | None = None
        try:
            with self._lock:
                existing = self._instances.get(key)
                if existing is not None and time.monotonic() - self._checked.get(key, 0.0) < REFRESH_S:
                    return existing
                settings, secrets = self.stored(account_id, name)
                # A live session (WhatsApp Web) does not use the public URL and is not dropped when it changes.
                public_url = None if channel_class(name).single_session else self._public_url(account_id)
                snapshot = (settings, secrets, public_url)
                if existing is not None and snapshot == self._snapshots.get(key):
                    self._checked[key] = time.monotonic()
                    return existing
                stale = self._instances.pop(key, None)
                if not settings:
                    raise NotConfigured(name)
                channel = channel_class(name)(settings, secrets, self.context(account_id, name))
                self._instances[key] = channel
                self._snapshots[key] = snapshot
                self._checked[key] = time.monotonic()
                return channel
        finally:
            if stale is not None:
                log.info("settings of %s for account %s changed elsewhere; reconnecting", name, account_id)
                _close_quietly(stale)

    def _public_url(self, account_id: int) -> str | None:
        with self.services.db.read() as session:
            account = session.get(Account, account_id)
            public_url = (account.settings or {}).get("public_url") if account else None
        return public_url or self.services.config.public_url

    def stored(self, account_id: int, name: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
        with self.services.db.read() as session:
            row = session.scalar(
                select(ChannelConfig).where(ChannelConfig.account_id == account_id, ChannelConfig.channel == name)
            )
            if row is None:
                return None, {}
            return dict(row.settings or {}), self.services.secrets.load(session, account_id, name)

    def context(self, account_id: int, name: str) -> ChannelContext:
        config = self.services.config
        with self.services.db.read() as session:
            account = session.get(Account, account_id)
            public_url = (account.settings or {}).get("public_url") if account else None
        options: dict[str, Any] = {
            "whatsapp_url": config.whatsapp_url,
            "chromium": config.chromium,
            "chromedriver": config.chromedriver,
            "gmail_api_endpoint": config.gmail_api_endpoint,
            # our Message-IDs carry an HMAC with this key (email_mime.message_id_for; DESIGN section 11)
            "message_id_key": self.services.keys.message_id_key,
        }
        if channel_class(name).single_session:
            # Only one process may drive this session at a time (taken on connect, renewed while it lives).
            options["session_lease"] = DatabaseLease(
                self.services.db, f"{name}:{account_id}", worker_id(f"{name}-session")
            )
        return ChannelContext(
            account_id=account_id,
            data_dir=config.data_dir,
            public_url=public_url or config.public_url,
            emit_status=lambda state, text: self.set_state(account_id, name, state, text),
            emit_qr=lambda data_url: self._emit_qr(account_id, name, data_url),
            save_secrets=lambda values, expect: self.save_secrets(account_id, name, values, expect),
            options=options,
        )

    def save_secrets(
        self, account_id: int, name: str, values: dict[str, str | None], expect: dict[str, str | None] | None = None
    ) -> bool:
        """Store a channel's secrets encrypted if the stored ones still match `expect`; True when stored."""
        with self.services.db.write() as session:
            if expect:
                current = self.services.secrets.load(session, account_id, name)
                if any(current.get(key) != value for key, value in expect.items()):
                    return False
            self.services.secrets.save(session, account_id, name, values)
        self._note_own_secrets(account_id, name, values)
        return True

    def _note_own_secrets(self, account_id: int, name: str, values: dict[str, str | None]) -> None:
        """A live instance saved its own secrets (renewed tokens): it is not stale, so keep it on the next check."""
        key = (account_id, name)
        with self._lock:
            snapshot = self._snapshots.get(key)
            if snapshot is None or key not in self._instances:
                return
            settings, secrets, public_url = snapshot
            merged = {k: v for k, v in {**secrets, **values}.items() if v is not None}
            self._snapshots[key] = (settings, merged, public_url)

    def forget(self, account_id: int, name: str) -> None:
        """Close and drop the live instance (after new settings, or a disconnect)."""
        with self._lock:
            channel = self._instances.pop((account_id, name), None)
        if channel is not None:
            _close_quietly(channel)

    def live(self) -> list[tuple[int, str, Channel]]:
        with self._lock:
            return [(a, n, c) for (a, n), c in self._instances.items()]

    def close_all(self) -> None:
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for channel in instances:
            _close_quietly(channel)

    # -- settings and sessions (the channels API) -----------------------------------------------------------

    def current_settings(self, account_id: int, name: str) -> dict[str, Any]:
        """Stored plain settings and decrypted secrets merged: `current` for Channel.validate_settings."""
        settings, secrets = self.stored(account_id, name)
        return {**(settings or {}), **secrets}

    def is_configured(self, account_id: int, name: str) -> bool:
        settings, _ = self.stored(account_id, name)
        return is_configured(settings)

    def configure(
        self,
        account_id: int,
        name: str,
        settings: dict[str, Any],
        secrets: dict[str, str],
        state: states.ChannelState,
        detail: str,
    ) -> None:
        """Store verified settings (secrets encrypted), the state and its `channel.status` in one transaction.

        Secrets the channel no longer has are removed. The live instance is dropped afterwards, so the next
        use builds one with the new settings.
        """
        if state not in STATES:
            raise ValueError(f"unknown channel state {state!r}")
        cls = channel_class(name)
        with self.services.db.write() as session:
            row = session.scalar(
                select(ChannelConfig).where(ChannelConfig.account_id == account_id, ChannelConfig.channel == name)
            )
            if row is None:
                row = ChannelConfig(account_id=account_id, channel=name)
                session.add(row)
            row.settings = dict(settings)
            row.state, row.detail = state, detail
            stale: dict[str, str | None] = {key: None for key in cls.secret_keys if key not in secrets}
            self.services.secrets.save(session, account_id, name, {**stale, **secrets})
            self._record_status(session, account_id, name, state, detail)
        self.forget(account_id, name)

    def connect_in_background(self, account_id: int, name: str) -> bool:
        """Run the channel's `connect()` in a thread of its own (WhatsApp's waits for a QR scan).

        Returns False when a connect of this channel is already running. Failures become state `error` with
        the reason as detail.
        """
        key = (account_id, name)
        with self._lock:
            if key in self._connecting:
                return False
            self._connecting.add(key)
        thread = threading.Thread(
            target=self._connect, args=(account_id, name), name=f"connect-{account_id}-{name}", daemon=True
        )
        thread.start()
        return True

    def _connect(self, account_id: int, name: str) -> None:
        try:
            self.instance(account_id, name).connect()
        except NotConfigured:
            log.info("connect of %s for account %s: not configured any more", name, account_id)
        except SendError as exc:
            self.set_state(account_id, name, states.ERROR, exc.reason)
        except Exception:
            log.exception("connecting %s for account %s failed", name, account_id)
            self.set_state(account_id, name, states.ERROR, "Could not connect; the log has the details.")
        finally:
            with self._lock:
                self._connecting.discard((account_id, name))

    def resume_sessions(self) -> int:
        """On start: reconnect each single-session channel (WhatsApp) that was logged in when the app stopped.

        Skipped where another live process holds the session's lease. The saved profile logs in without a QR.
        """
        now = utcnow()
        with self.services.db.read() as session:
            rows = session.execute(
                select(ChannelConfig.account_id, ChannelConfig.channel).where(
                    ChannelConfig.state.in_((states.READY, states.AUTHENTICATED))
                )
            ).all()
            leases = {lease.name: lease for lease in session.scalars(select(Lease))}
        resumed = 0
        for account_id, name in rows:
            if name not in CHANNELS or not channel_class(name).single_session:
                continue
            held = leases.get(f"{name}:{account_id}")
            if held is not None and held.until > now and not owner_is_dead(held.owner):
                continue
            if self.connect_in_background(account_id, name):
                resumed += 1
        return resumed

    def disconnect(self, account_id: int, name: str) -> None:
        """End the live session (if any) and report `disconnected`."""
        with self._lock:
            channel = self._instances.pop((account_id, name), None)
        if channel is None:
            self.set_state(account_id, name, states.DISCONNECTED, "Disconnected")
            return
        try:
            channel.disconnect()
        except Exception:
            log.warning("disconnecting %s for account %s failed", name, account_id, exc_info=True)
            _close_quietly(channel)
            self.set_state(account_id, name, states.DISCONNECTED, "Disconnected")

    def view(self, account_id: int, name: str) -> dict[str, Any]:
        """One channel as `GET /api/channels` shows it."""
        return next(v for v in self.views(account_id) if v["channel"] == name)

    # -- state --------------------------------------------------------------------------------------------

    def set_state(self, account_id: int, name: str, state: states.ChannelState, detail: str) -> None:
        """Persist the channel's state and emit `channel.status` (in one transaction)."""
        if state not in STATES:
            raise ValueError(f"unknown channel state {state!r}")
        with self.services.db.write() as session:
            row = session.scalar(
                select(ChannelConfig).where(ChannelConfig.account_id == account_id, ChannelConfig.channel == name)
            )
            if row is None:
                row = ChannelConfig(account_id=account_id, channel=name, settings={})
                session.add(row)
            row.state, row.detail = state, detail
            self._record_status(session, account_id, name, state, detail)

    def _record_status(self, session: Any, account_id: int, name: str, state: states.ChannelState, detail: str) -> None:
        """The `channel.status` event, in the transaction that stores the state."""
        self.services.hub.record(
            session,
            account_id,
            "channel.status",
            detail,
            level=_LEVELS.get(state, "info"),
            data={"channel": name, "state": state, "detail": detail},
        )

    def _emit_qr(self, account_id: int, name: str, data_url: str | None) -> None:
        text = "Scan QR code to authenticate" if data_url else "QR code cleared"
        self.services.hub.emit(account_id, "channel.qr", text, data={"channel": name, "data_url": data_url})

    def views(self, account_id: int) -> list[dict[str, Any]]:
        """Every channel as `GET /api/channels` shows it: state, detail and masked settings."""
        with self.services.db.read() as session:
            rows = {
                row.channel: row
                for row in session.scalars(select(ChannelConfig).where(ChannelConfig.account_id == account_id))
            }
            out = []
            for name in CHANNELS:
                row = rows.get(name)
                configured = row is not None and bool(row.settings)
                settings: dict[str, Any] = {}
                if configured and row is not None:
                    secrets = self.services.secrets.load(session, account_id, name)
                    settings = mask_settings(row.settings, secrets, channel_class(name).secret_keys)
                view = {
                    "channel": name,
                    "state": row.state if configured and row is not None else states.NOT_CONFIGURED,
                    "detail": row.detail if row is not None else "",
                    "settings": settings,
                    "limits": limits(name, row.settings if configured and row is not None else {}),
                    "form": form(name),
                }
                if name == "smtp" and configured and row is not None and has_inbox(row.settings):
                    view["inbox"] = inbox_status(session, account_id)  # mails set aside (DESIGN section 11)
                out.append(view)
        return out


def _close_quietly(channel: Channel) -> None:
    try:
        channel.close()
    except Exception:
        log.warning("closing channel %s failed", channel.name, exc_info=True)
