"""Channel settings and sessions (DESIGN section 9).

- `GET /api/channels` -> `[{"channel", "state", "detail", "settings"}]`, secrets masked as `****`.
- `PUT /api/channels/<channel>` validates the settings (400 listing each problem), verifies them against the
  provider (400 with the reason; nothing stored), then stores plain settings and encrypted secrets, sets the
  state, restarts the channel's live instance and dispatcher, and answers the channel as GET shows it.
- `POST /api/channels/<channel>/connect` starts `connect()` in the background and answers 202 at once (WhatsApp
  waits for a QR scan; its progress arrives as `channel.status` / `channel.qr` events).
- `POST /api/channels/<channel>/disconnect` ends the session.
Unknown channel -> 404; connect or disconnect before the channel is configured -> 409.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, jsonify

from backend.channels.base import Channel, SendError, SettingsError
from backend.channels.manager import ChannelManager
from backend.channels.registry import CHANNELS, channel_class
from backend.conversations.inbox_health import with_inbox_state
from backend.errors import ApiError, bad_request, conflict, json_body, not_found
from backend.security.guards import account_id
from backend.security.secret_binding import check_secret_binding, stale_tokens
from backend.services import Services, current_services
from backend.store import states

log = logging.getLogger(__name__)

bp = Blueprint("channels", __name__)


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _services() -> Services:
    return current_services()


def _manager() -> ChannelManager:
    manager: ChannelManager = _services().channels
    return manager


def _known(name: str) -> type[Channel]:
    if name not in CHANNELS:
        raise not_found(f"The channel {name!r}")
    return channel_class(name)


def _require_configured(name: str) -> None:
    if not _manager().is_configured(account_id(), name):
        raise conflict(f"The {channel_class(name).title} channel is not configured yet; save its settings first.")


@bp.get("/api/channels")
def list_channels() -> Any:
    return jsonify(with_inbox_state(_services(), account_id(), _manager().views(account_id())))


@bp.put("/api/channels/<name>")
def configure_channel(name: str) -> Any:
    cls = _known(name)
    raw = json_body()
    manager, account = _manager(), account_id()
    stored_settings, stored_secrets = manager.stored(account, name)
    try:
        settings, secrets = cls.validate_settings(raw, {**(stored_settings or {}), **stored_secrets})
    except SettingsError as exc:
        raise bad_request(exc.message, exc.details) from None
    check_secret_binding(name, raw, stored_settings or {}, stored_secrets, settings)
    detail, state = _verify(cls, settings, secrets, manager, account)
    stale = stale_tokens(name, stored_settings or {}, settings)
    if stale:  # tokens issued by the old token endpoint (or to the old client) are never sent to the new one
        with _services().db.write() as session:
            _services().secrets.save(session, account, name, stale)
    manager.configure(account, name, settings, secrets, state, detail)
    _services().dispatchers.sync()
    log.info("channel %s configured for account %s", name, account)
    return jsonify(manager.view(account, name))


def _verify(
    cls: type[Channel], settings: dict[str, Any], secrets: dict[str, str], manager: ChannelManager, account: int
) -> tuple[str, states.ChannelState]:
    """Check the new settings against the provider with a throwaway instance; 400 with the reason if it fails.

    Returns the detail to show and the state to store (`Channel.configured_state`).
    """
    channel = cls(settings, secrets, manager.context(account, cls.name))
    try:
        return channel.verify(), channel.configured_state()
    except SendError as exc:
        raise ApiError(400, "verification_failed", f"The {cls.title} settings were not saved: {exc.reason}") from None
    finally:
        channel.close()


@bp.post("/api/channels/<name>/connect")
def connect_channel(name: str) -> Any:
    _known(name)
    _require_configured(name)
    manager, account = _manager(), account_id()
    manager.connect_in_background(account, name)
    return jsonify(manager.view(account, name)), 202


@bp.post("/api/channels/<name>/disconnect")
def disconnect_channel(name: str) -> Any:
    _known(name)
    _require_configured(name)
    manager, account = _manager(), account_id()
    manager.disconnect(account, name)
    return jsonify(manager.view(account, name))
