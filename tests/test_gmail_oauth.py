"""Connecting Gmail end to end on a live server: settings, Authorize, Google's consent redirect, the callback.

The browser's part is played by `requests`: it opens the auth_url on the fake Google (which redirects as Google
does after "Allow") and follows the redirect to our loopback callback.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from backend.accounts import get_or_create_account
from backend.channels.gmail.oauth import authorized_address
from backend.channels.gmail.store import save_authorized_tokens
from backend.channels.gmail.tokens import GmailTokens
from backend.store.models import Credential
from tests.fakes.google import SCOPE, FakeGoogle, id_token
from tests.gmail_support import authorize, connect_gmail, consent, gmail_view, save_settings
from tests.helpers import bearer, wait_for


@pytest.fixture
def server(start_server: Any, google: FakeGoogle) -> Any:
    return start_server(gmail_api_endpoint=google.url)


def test_it_connects_gmail_through_the_consent_page_with_state_and_pkce(server: Any, google: FakeGoogle) -> None:
    assert save_settings(server, google).status_code == 200
    saved = gmail_view(server)
    assert "click Authorize" in saved["detail"]
    assert saved["state"] == "disconnected", "not ready before the user has authorized"

    auth_url = authorize(server)
    params = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    assert auth_url.startswith(f"{google.url}/o/oauth2/auth?")
    assert params["scope"] == f"{SCOPE} openid email"  # openid email: the ID token names the address
    assert params["redirect_uri"] == f"{server.url}/oauth/gmail/callback"
    assert params["client_id"] == google.client_id
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) >= 43
    assert params["state"]

    callback = consent(auth_url)
    page = requests.get(callback, timeout=10)
    assert page.status_code == 200
    assert "Gmail is connected; you can close this tab" in page.text

    # The fake refuses a code whose code_verifier does not match the challenge: this exchange used PKCE.
    exchange = next(r for r in google.token_requests if r.get("grant_type") == "authorization_code")
    assert exchange["code_verifier"] and exchange["redirect_uri"] == params["redirect_uri"]
    view = gmail_view(server)
    assert (view["state"], view["detail"]) == ("ready", "Gmail is connected")
    assert view["settings"]["client_secret"] == "****"
    assert "refresh_token" not in str(view) and google.client_secret not in str(view)

    services = server.app.extensions["bulkmsg"]
    with services.db.read() as session:
        rows = session.scalars(select(Credential).where(Credential.scope == "gmail")).all()
        stored = {row.name: row.ciphertext for row in rows}
        assert {"client_secret", "refresh_token", "access_token"} <= set(stored)
        assert not any(google.client_secret in c or "fake-refresh" in c for c in stored.values())
        assert services.secrets.load(session, 1, "gmail")["refresh_token"].startswith("1//fake-refresh-")

    # The same redirect again (a replayed link) is refused: a state is used once.
    again = requests.get(callback, timeout=10)
    assert again.status_code == 403 and "not valid" in again.text


def test_it_refuses_a_callback_whose_state_does_not_match(server: Any, google: FakeGoogle) -> None:
    save_settings(server, google)
    callback = consent(authorize(server))
    query = parse_qs(urlsplit(callback).query)
    account, _, nonce = query["state"][0].partition(".")
    forged = f"{server.url}/oauth/gmail/callback?code={query['code'][0]}&state={account}.{nonce[::-1]}"

    page = requests.get(forged, timeout=10)

    assert page.status_code == 403
    assert "not valid" in page.text
    assert not [r for r in google.token_requests if r.get("grant_type") == "authorization_code"]
    assert "click Authorize" in gmail_view(server)["detail"]
    # The genuine redirect still completes: a forged callback does not cancel the user's flow.
    assert requests.get(callback, timeout=10).status_code == 200
    assert gmail_view(server)["state"] == "ready"


def test_it_explains_a_denied_consent_and_stays_unconnected(server: Any, google: FakeGoogle) -> None:
    save_settings(server, google)
    google.deny_next()

    page = requests.get(consent(authorize(server)), timeout=10)

    assert page.status_code == 400
    assert "Access was not granted" in page.text
    assert "click Authorize" in gmail_view(server)["detail"]


def test_it_asks_for_the_client_json_before_authorizing(server: Any) -> None:
    answer = requests.post(f"{server.url}/api/channels/gmail/authorize", headers=bearer(server.token), timeout=10)
    assert answer.status_code == 409
    assert "OAuth client JSON" in answer.json()["message"]


def test_it_rejects_a_client_json_that_is_not_a_desktop_client(server: Any, google: FakeGoogle) -> None:
    bad = {"client_config": {"installed": {"client_id": "x", "token_uri": "ftp://nowhere"}}}
    answer = requests.put(f"{server.url}/api/channels/gmail", json=bad, headers=bearer(server.token), timeout=10)
    assert answer.status_code == 400
    fields = {d["field"] for d in answer.json()["details"]}
    assert {"client_config.installed.client_secret", "client_config.installed.token_uri"} <= fields


def test_it_sends_a_conversation_email_after_connecting(server: Any, google: FakeGoogle) -> None:
    save_settings(server, google, from_address="support@example.com")
    requests.get(consent(authorize(server)), timeout=10)
    body = {"source": "email", "channel": "gmail", "to": "ana@example.org", "subject": "Olá", "body": "Até já"}

    created = requests.post(
        f"{server.url}/api/conversations/c-1/messages", json=body, headers=bearer(server.token), timeout=10
    )
    assert created.status_code == 201, created.text
    message_id = created.json()["id"]

    def sent() -> dict[str, Any] | None:
        view = requests.get(f"{server.url}/api/messages/{message_id}", headers=bearer(server.token), timeout=10)
        return view.json() if view.json()["status"] == "sent" else None

    view = wait_for(sent, timeout=15, what="the Gmail message to be sent")
    mail = google.sent[-1].message
    assert str(mail["To"]) == "ana@example.org" and str(mail["Subject"]) == "Olá"
    assert str(mail["From"]) == "Support Team <support@example.com>"
    assert view["provider_message_id"]


def test_it_never_lets_late_renewed_tokens_undo_a_newer_authorization(services: Any) -> None:
    with services.db.write() as session:
        account = get_or_create_account(session).id
    old = GmailTokens(refresh_token="1//old", access_token="ya29.old", client_id="c")
    new = GmailTokens(refresh_token="1//new", access_token="ya29.new", client_id="c")
    save_authorized_tokens(services, account, new)  # the user authorized again meanwhile

    save = services.channels.context(account, "gmail").save_secrets
    late = save(replace(old, access_token="ya29.renewed").to_secrets(), {"refresh_token": "1//old"})

    assert late is False
    with services.db.read() as session:
        stored = services.secrets.load(session, account, "gmail")
    assert (stored["refresh_token"], stored["access_token"]) == ("1//new", "ya29.new")
    assert save(replace(new, access_token="ya29.fresh").to_secrets(), {"refresh_token": "1//new"}) is True


def test_it_puts_the_sender_name_and_the_authorized_address_in_from(server: Any, google: FakeGoogle) -> None:
    # No sender address typed: the address comes from the ID token Google answers at authorization.
    connect_gmail(server, google)
    answer = requests.post(
        f"{server.url}/api/conversations/support-1/messages",
        json={"source": "email", "channel": "gmail", "to": "ana@example.org", "subject": "Hi", "body": "Hello"},
        headers=bearer(server.token),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    wait_for(lambda: google.sent, timeout=15, what="the mail at Google")
    assert str(google.sent[0].message["From"]) == f"Support Team <{google.email}>"


def test_it_takes_an_address_only_from_a_verified_id_token_for_this_client() -> None:
    client = "1234-fake.apps.googleusercontent.com"
    good = id_token(client, "me@gmail.example")
    assert authorized_address(good, client) == "me@gmail.example"
    assert authorized_address(id_token("someone-else.apps.googleusercontent.com", "me@gmail.example"), client) is None
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"iss": "https://evil.example"}, {"email_verified": False}, {"email": "a@b\r\nBcc: x@y"}):
        forged = base64.urlsafe_b64encode(json.dumps({**claims, **change}).encode()).decode().rstrip("=")
        assert authorized_address(f"{header}.{forged}.{signature}", client) is None, change
    assert authorized_address("not-a-token", client) is None
    assert authorized_address(None, client) is None
