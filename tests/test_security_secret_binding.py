"""A stored secret is bound to its endpoint (issue 14, item 2): pointing a channel at another server while sending
the secret back as `****` is a 400 naming the secret, and the other server never receives it; typing the secret
again works. Two real local servers per channel: aiosmtpd (SMTP AUTH), the Twilio fake (Basic auth on its REST
API, tests/fakes/twilio/) and the Google fake (OAuth token endpoint, tests/fakes/google.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.google import FakeGoogle
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio import FakeTwilio
from tests.gmail_support import connect_gmail, gmail_view
from tests.helpers import bearer

MASK = "****"


def _recording_smtp(auth: tuple[str, str], seen: list[tuple[str, str]]) -> FakeSmtpServer:
    server = FakeSmtpServer(auth=auth)
    check = server._authenticate

    def recording(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        seen.append((data.login.decode(), data.password.decode()))
        return check(smtp, session, envelope, mechanism, data)

    server._authenticate = recording  # type: ignore[method-assign]
    return server.start()


def test_it_never_sends_the_stored_smtp_password_to_another_server(client: Any, auth: dict[str, str]) -> None:
    seen_a: list[tuple[str, str]] = []
    seen_b: list[tuple[str, str]] = []
    a = _recording_smtp(("ana", "secret-of-a"), seen_a)
    b = _recording_smtp(("ana", "secret-of-b"), seen_b)
    try:
        assert client.put("/api/channels/smtp", json=a.settings(), headers=auth).status_code == 200
        assert seen_a and seen_a[-1] == ("ana", "secret-of-a")
        for change in ({"port": b.port}, {"username": "bob"}, {"host": "localhost", "port": b.port}):
            moved = client.put("/api/channels/smtp", json=a.settings(**change, password=MASK), headers=auth)
            assert moved.status_code == 400, moved.get_json()
            assert [d["field"] for d in moved.get_json()["details"]] == ["password"]
        assert seen_b == []
        same = client.put("/api/channels/smtp", json=a.settings(password=MASK, from_name="Kept"), headers=auth)
        assert same.status_code == 200  # nothing about the endpoint changed: the stored password stays
        retyped = client.put("/api/channels/smtp", json=b.settings(), headers=auth)
        assert retyped.status_code == 200 and seen_b == [("ana", "secret-of-b")]
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def two_twilios() -> Iterator[tuple[FakeTwilio, FakeTwilio]]:
    with FakeTwilio() as a, FakeTwilio() as b:
        yield a, b


def test_it_never_sends_the_stored_twilio_token_to_another_api(
    client: Any, auth: dict[str, str], two_twilios: tuple[FakeTwilio, FakeTwilio]
) -> None:
    a, b = two_twilios
    assert client.put("/api/channels/sms", json=a.settings(), headers=auth).status_code == 200
    moved = client.put("/api/channels/sms", json=a.settings(api_base_url=b.url, auth_token=MASK), headers=auth)
    assert moved.status_code == 400 and moved.get_json()["details"][0]["field"] == "auth_token"
    assert "api_base_url" in moved.get_json()["details"][0]["reason"]
    other_account = client.put("/api/channels/sms", json=a.settings(account_sid=b.account_sid, auth_token=MASK),
                               headers=auth)  # fmt: skip
    assert other_account.status_code == 400 and "account_sid" in other_account.get_json()["details"][0]["reason"]
    assert b.received == []
    retyped = client.put("/api/channels/sms", json=b.settings(), headers=auth)
    assert retyped.status_code == 200
    assert b.received and all(r.authorized for r in b.received)  # b got its own token, never a's


def test_it_never_sends_the_stored_gmail_secrets_to_another_token_endpoint(
    live_server: Any, google: FakeGoogle
) -> None:
    connect_gmail(live_server, google)
    refresh_tokens = {r.get("refresh_token") for r in google.token_requests} | set(google._refresh)
    other = FakeGoogle(client_secret="secret-of-b").start()
    try:
        url, headers = f"{live_server.url}/api/channels/gmail", bearer(live_server.token)
        moved = google.client_config(token_uri=f"{other.url}/token", client_secret=MASK)
        answer = requests.put(url, json={"client_config": moved}, headers=headers, timeout=10)
        assert answer.status_code == 400 and answer.json()["details"][0]["field"] == "client_secret"
        assert other.token_requests == []

        retyped = google.client_config(token_uri=f"{other.url}/token", client_secret="secret-of-b")
        assert requests.put(url, json={"client_config": retyped}, headers=headers, timeout=10).status_code == 200
        requests.post(f"{url}/connect", headers=headers, timeout=10)
        # The tokens the old endpoint issued were dropped: a new authorization is needed, nothing was refreshed.
        assert gmail_view(live_server)["state"] in ("disconnected", "auth_failure")
        sent = [(r.get("refresh_token"), r.get("client_secret")) for r in other.token_requests]
        assert not any(token in refresh_tokens or secret == google.client_secret for token, secret in sent)
    finally:
        other.stop()
