"""Sign-in (issue 21, item 6; issue 26, item 4): tokens are short-lived and renewed while in use, revocable per
device ("sign out everywhere"); the desktop window's token dies with it; the browser's sign-in is an HttpOnly,
SameSite=Strict cookie that a request may use only with the CSRF header (so another site cannot ride on it) and
that keeps the browser signed in across tabs and restarts."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from backend.security.guards import CSRF_HEADER, RENEWED_TOKEN_HEADER, SESSION_COOKIE
from backend.security.tokens import API_TOKEN_TTL_S, SESSION_TTL_S, Principal
from tests.helpers import bearer

CSRF = {CSRF_HEADER: "1"}


def _signed_in_browser(client: Any, services: Any) -> Any:
    answer = client.post("/api/session", json={"code": services.login_code()})
    assert answer.status_code == 200, answer.get_json()
    return answer


def test_it_signs_a_browser_in_with_an_httponly_strict_cookie_that_outlives_the_tab(client: Any, services: Any) -> None:
    answer = _signed_in_browser(client, services)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert f"Max-Age={SESSION_TTL_S}" in cookie  # a lasting cookie: another tab, a restart of the browser
    # The cookie alone, with the CSRF header, is a signed-in request; the token in the body works for scripts too.
    assert client.get("/api/contacts", headers=CSRF).status_code == 200
    assert client.get("/api/session", headers=CSRF).get_json()["sign_in"]["kind"] == "browser"
    assert client.get("/api/contacts", headers=bearer(answer.get_json()["token"])).status_code == 200


def test_it_refuses_the_cookie_without_the_csrf_header(client: Any, services: Any) -> None:
    _signed_in_browser(client, services)
    # What a form or an <img> on another site would send: the browser's cookie, no custom header.
    answer = client.post("/api/contacts", json={"name": "Mallory", "phone": "+14155550100"})
    assert answer.status_code == 403 and answer.get_json()["error"] == "forbidden"
    assert client.get("/api/contacts", headers=CSRF).get_json()["total"] == 0


def test_it_signs_one_device_out_and_then_every_device(client: Any, app: Any, services: Any) -> None:
    terminal = bearer(services.account_token(label="bulkmsg token"))
    other_browser = app.test_client()
    _signed_in_browser(other_browser, services)
    _signed_in_browser(client, services)
    devices = client.get("/api/sign-ins", headers=CSRF).get_json()["items"]
    assert sorted(d["kind"] for d in devices) == ["browser", "browser", "terminal"]
    assert [d["current"] for d in devices].count(True) == 1

    assert client.delete("/api/session", headers=CSRF).status_code == 204  # "Sign out" on this browser
    assert client.get("/api/contacts", headers=CSRF).status_code == 401
    assert other_browser.get("/api/contacts", headers=CSRF).status_code == 200
    assert client.get("/api/contacts", headers=terminal).status_code == 200

    gone = other_browser.post("/api/sign-ins/revoke-all", headers=CSRF)  # "Sign out everywhere"
    assert gone.status_code == 200 and gone.get_json()["signed_out"] == 2
    assert other_browser.get("/api/contacts", headers=CSRF).status_code == 401
    refused = client.get("/api/contacts", headers=terminal)
    assert refused.status_code == 401 and "bulkmsg token" in refused.get_json()["message"]


def test_it_signs_out_one_device_from_another(client: Any, services: Any) -> None:
    terminal = services.account_token(label="bulkmsg token")
    _signed_in_browser(client, services)
    device = next(d for d in client.get("/api/sign-ins", headers=CSRF).get_json()["items"] if d["kind"] == "terminal")
    assert client.delete(f"/api/sign-ins/{device['id']}", headers=CSRF).status_code == 204
    assert client.get("/api/contacts", headers=bearer(terminal)).status_code == 401
    assert client.delete(f"/api/sign-ins/{device['id']}", headers=CSRF).status_code == 404


def test_it_lets_one_account_see_and_revoke_only_its_own_devices(client: Any, services: Any) -> None:
    own = bearer(services.account_token())
    theirs = bearer(services.account_token("other"))
    their_device = client.get("/api/sign-ins", headers=theirs).get_json()["items"][0]["id"]
    assert all(d["id"] != their_device for d in client.get("/api/sign-ins", headers=own).get_json()["items"])
    assert client.delete(f"/api/sign-ins/{their_device}", headers=own).status_code == 404
    assert client.get("/api/contacts", headers=theirs).status_code == 200


def test_it_makes_tokens_short_lived_and_renews_them_while_in_use(client: Any, services: Any) -> None:
    token = services.account_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == API_TOKEN_TTL_S <= 24 * 3600 and claims["sid"]
    assert RENEWED_TOKEN_HEADER not in client.get("/api/contacts", headers=bearer(token)).headers  # still fresh
    principal = services.signer.verify(token)
    aging = services.signer.issue(principal, ttl_s=API_TOKEN_TTL_S // 3)  # past half its life
    answer = client.get("/api/contacts", headers=bearer(aging))
    renewed = answer.headers[RENEWED_TOKEN_HEADER]
    fresh = jwt.decode(renewed, options={"verify_signature": False})
    assert fresh["sid"] == claims["sid"] and fresh["exp"] >= int(time.time()) + API_TOKEN_TTL_S - 5
    assert client.get("/api/contacts", headers=bearer(renewed)).status_code == 200


def test_it_refuses_a_token_that_names_no_device(client: Any, services: Any) -> None:
    account_id = services.signer.verify(services.account_token()).account_id
    # What a token looked like before (365 days, no device): it cannot be signed out, so it is not accepted.
    legacy = services.signer.issue(Principal(account_id, "owner"), ttl_s=365 * 24 * 3600)
    assert client.get("/api/contacts", headers=bearer(legacy)).status_code == 401


def test_it_ends_the_desktop_windows_token_with_the_window(make_config: Any) -> None:
    import requests

    from backend.server import start_app_server

    server = start_app_server(make_config(), jobs=False)
    try:
        assert requests.get(f"{server.url}/api/contacts", headers=bearer(server.token), timeout=5).status_code == 200
    finally:
        server.stop()
    # The same store opened again (the next run): the old window's token is signed out.
    again = start_app_server(make_config(), jobs=False)
    try:
        answer = requests.get(f"{again.url}/api/contacts", headers=bearer(server.token), timeout=5)
        assert answer.status_code == 401
    finally:
        again.stop()


@pytest.mark.parametrize("body", [{"code": "not-a-code"}, {"token": "not.a.token"}, {}])
def test_it_refuses_a_bad_sign_in_with_a_json_4xx(client: Any, body: dict[str, str]) -> None:
    answer = client.post("/api/session", json=body)
    assert answer.status_code in (400, 401) and answer.get_json()["message"]
    assert SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")
