"""Connecting Gmail: `POST /api/channels/gmail/authorize` -> {"auth_url"}, and the loopback `GET /oauth/gmail/callback`.

- authorize (bearer token): the consent URL for the caller's account, redirecting back to this server's own
  origin (`{scheme}://{host}/oauth/gmail/callback`, a loopback address for a desktop-app client). 409 when the
  Gmail settings are not saved yet. The desktop shell opens the URL in the system browser; the web UI in a tab.
- callback (no bearer token: the browser arrives from Google; `state` names the account and its pending flow):
  on success stores the tokens, sets the channel `ready` ("Gmail is connected") and answers a small page saying
  the tab can be closed; on any failure answers a page with the reason (403 for an unknown state) and changes
  nothing.
`install` also stores, every 5 s and on stop, the tokens that live Gmail channels renewed.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from backend.channels.gmail.client_config import CALLBACK_PATH
from backend.errors import ApiError
from backend.security.guards import account_id
from backend.services import Services, current_services

log = logging.getLogger(__name__)

bp = Blueprint("gmail_oauth", __name__)

# The Google client libraries are imported inside the routes: they take about a second to import, and most runs
# never use Gmail (the desktop window must show the dashboard within 3 s).


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


def _services() -> Services:
    return current_services()


@bp.post("/api/channels/gmail/authorize")
def authorize() -> Any:
    from backend.channels.gmail.oauth import OAuthFailure, start_authorization

    redirect_uri = request.host_url.rstrip("/") + CALLBACK_PATH
    try:
        auth_url = start_authorization(_services(), account_id(), redirect_uri)
    except OAuthFailure as exc:
        raise ApiError(exc.status, "conflict" if exc.status == 409 else "bad_request", exc.message) from None
    return jsonify({"auth_url": auth_url})


@bp.get(CALLBACK_PATH)
def callback() -> Response:
    from backend.channels.gmail.channel import CONNECTED
    from backend.channels.gmail.oauth import OAuthFailure, complete_authorization

    services = _services()
    args = request.args
    try:
        account = complete_authorization(services, args.get("state"), args.get("code"), args.get("error"))
    except OAuthFailure as exc:
        return _page("Gmail is not connected", exc.message, exc.status)
    manager = services.channels
    manager.forget(account, "gmail")  # the next use builds the channel with the new tokens
    manager.set_state(account, "gmail", "ready", CONNECTED)
    services.dispatchers.wake(account, "gmail")
    return _page("Gmail is connected", "Gmail is connected; you can close this tab.", 200)


def _page(title: str, text: str, status: int) -> Response:
    body = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
        "line-height:1.5}h1{font-size:1.4rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n"
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL carries the code and state
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
