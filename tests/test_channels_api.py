"""Channel settings and sessions, and account settings, through the HTTP API (SMS against the fake Twilio)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from backend.store.models import ChannelConfig, Credential
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer, wait_for


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def sms_view(client, auth) -> dict:
    return next(c for c in client.get("/api/channels", headers=auth).get_json() if c["channel"] == "sms")


def events(client, auth, type_: str) -> list[dict]:
    return [e for e in client.get("/api/events", headers=auth).get_json()["items"] if e["type"] == type_]


def test_it_verifies_stores_and_masks_the_sms_settings(client, auth, services, twilio, caplog):
    caplog.set_level(logging.DEBUG)

    response = client.put("/api/channels/sms", json=twilio.settings(), headers=auth)

    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert view["channel"] == "sms" and view["state"] == "ready"
    assert view["detail"] == "Ready: sending from +15005550006 with account Fake Twilio"
    assert view["settings"]["auth_token"] == "****"
    assert view["settings"]["account_sid"] == twilio.account_sid
    assert sms_view(client, auth) == view
    assert [e["data"]["state"] for e in events(client, auth, "channel.status")] == ["ready"]
    assert any(r.path.endswith(".json") and r.authorized for r in twilio.received), "verified against the account"
    with services.db.read() as session:
        [credential] = session.scalars(select(Credential)).all()
    assert credential.name == "auth_token" and twilio.auth_token not in credential.ciphertext
    assert twilio.auth_token not in caplog.text
    assert twilio.auth_token not in str(client.get("/api/channels", headers=auth).get_data(as_text=True))


def test_it_keeps_the_stored_token_when_the_form_sends_it_back_masked(client, auth, twilio):
    assert client.put("/api/channels/sms", json=twilio.settings(), headers=auth).status_code == 200

    again = client.put(
        "/api/channels/sms", json=twilio.settings(auth_token="****", from_number="+15005550001"), headers=auth
    )

    assert again.status_code == 200, again.get_json()
    assert again.get_json()["settings"]["from_number"] == "+15005550001"
    assert again.get_json()["state"] == "ready"


def test_it_stores_nothing_when_twilio_refuses_the_credentials(client, auth, services, twilio):
    response = client.put("/api/channels/sms", json=twilio.settings(auth_token="e" * 32), headers=auth)

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "verification_failed"
    assert "401" in body["message"] and "e" * 32 not in body["message"]
    assert sms_view(client, auth)["state"] == "not_configured"
    with services.db.read() as session:
        assert session.scalars(select(Credential)).all() == []
        assert session.scalars(select(ChannelConfig)).all() == []


def test_it_lists_each_problem_with_the_settings(client, auth, twilio):
    response = client.put(
        "/api/channels/sms",
        json={"account_sid": 42, "from_number": "555", "api_base_url": "javascript:alert(1)", "extra": 1},
        headers=auth,
    )

    assert response.status_code == 400
    fields = sorted(d["field"] for d in response.get_json()["details"])
    assert fields == ["account_sid", "api_base_url", "auth_token", "extra", "from_number"]
    assert twilio.received == [], "nothing is verified before the settings are valid"
    assert sms_view(client, auth)["state"] == "not_configured"


def test_it_answers_404_for_a_channel_that_does_not_exist(client, auth):
    assert client.put("/api/channels/pigeon", json={}, headers=auth).status_code == 404
    assert client.post("/api/channels/pigeon/connect", headers=auth).status_code == 404
    assert client.post("/api/channels/pigeon/disconnect", headers=auth).status_code == 404


def test_it_refuses_a_body_that_is_not_a_json_object(client, auth):
    bad_json = client.put("/api/channels/sms", data="{nope", content_type="application/json", headers=auth)
    a_list = client.put("/api/channels/sms", json=["account_sid"], headers=auth)
    a_form = client.put("/api/channels/sms", data={"account_sid": "x"}, headers=auth)

    assert (bad_json.status_code, bad_json.get_json()["message"]) == (400, "The body is not valid JSON.")
    assert (a_list.status_code, a_list.get_json()["message"]) == (400, "The body must be a JSON object.")
    assert a_form.status_code == 415


def test_it_connects_in_the_background_and_reports_the_state(client, auth, twilio):
    assert client.post("/api/channels/sms/connect", headers=auth).status_code == 409
    client.put("/api/channels/sms", json=twilio.settings(), headers=auth)
    verified = len(twilio.received)

    response = client.post("/api/channels/sms/connect", headers=auth)

    assert response.status_code == 202
    wait_for(lambda: len(events(client, auth, "channel.status")) == 2, what="the connect's channel.status")
    assert len(twilio.received) == verified + 1
    disconnected = client.post("/api/channels/sms/disconnect", headers=auth)
    assert disconnected.status_code == 200
    assert (disconnected.get_json()["state"], disconnected.get_json()["detail"]) == ("disconnected", "Disconnected")


def test_it_reports_a_failed_connect_as_an_error_state(client, auth, twilio):
    client.put("/api/channels/sms", json=twilio.settings(), headers=auth)
    twilio.account_status = "suspended"

    client.post("/api/channels/sms/connect", headers=auth)

    view = wait_for(lambda: (v := sms_view(client, auth))["state"] == "error" and v, what="state error")
    assert view["detail"] == "The Twilio account is suspended; it cannot send messages."


def test_it_shows_one_account_nothing_of_another_accounts_channels(client, auth, services, twilio):
    client.put("/api/channels/sms", json=twilio.settings(), headers=auth)
    other = bearer(services.account_token("other"))

    view = sms_view(client, other)
    assert view["limits"]["rate"]["per_minute"] == 60  # the channel's default, not the other account's settings
    assert view["form"] == sms_view(client, auth)["form"]  # the form is the channel's, the same for every account
    del view["limits"], view["form"]
    assert view == {"channel": "sms", "state": "not_configured", "detail": "", "settings": {}}
    assert client.post("/api/channels/sms/connect", headers=other).status_code == 409


# -- account settings -------------------------------------------------------------------------------------------


def test_it_generates_the_webhook_secret_and_never_shows_it_again(client, auth, services):
    first = client.get("/api/settings", headers=auth).get_json()
    generated = client.put("/api/settings", json={"webhook_secret": "generate"}, headers=auth).get_json()
    later = client.get("/api/settings", headers=auth).get_json()

    assert first["webhook_secret"] == "****" and later["webhook_secret"] == "****"
    secret = generated["new_webhook_secret"]
    assert len(secret) >= 32 and "new_webhook_secret" not in later
    with services.db.read() as session:
        assert services.secrets.load(session, 1, "settings")["webhook_secret"] == secret


def test_it_saves_valid_settings_and_shows_the_webhook_urls(client, auth):
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    response = client.put(
        "/api/settings",
        json={
            "public_url": "https://example.ngrok.app/",
            "default_country": "de",
            "sendgrid_public_key": base64.b64encode(key).decode(),
            "webhook_secret": "my-own-secret-of-enough-length",
        },
        headers=auth,
    )

    assert response.status_code == 200, response.get_json()
    shown = client.get("/api/settings", headers=auth).get_json()
    assert shown["public_url"] == "https://example.ngrok.app"
    assert shown["default_country"] == "DE"
    assert shown["webhook_urls"]["twilio_status"] == "https://example.ngrok.app/webhooks/twilio/status"
    assert shown["webhook_secret"] == "****"
    assert client.put("/api/settings", json={"public_url": None}, headers=auth).get_json()["public_url"] is None


def test_it_lists_each_bad_setting_and_stores_none_of_them(client, auth):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    response = client.put(
        "/api/settings",
        json={
            "public_url": "ftp://files.example",
            "default_country": "Narnia",
            "sendgrid_public_key": base64.b64encode(
                rsa_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            ).decode(),
            "webhook_secret": "short",
            "theme": "dark",
        },
        headers=auth,
    )

    assert response.status_code == 400
    assert sorted(d["field"] for d in response.get_json()["details"]) == [
        "default_country",
        "public_url",
        "sendgrid_public_key",
        "theme",
        "webhook_secret",
    ]
    assert client.get("/api/settings", headers=auth).get_json()["default_country"] is None


def test_it_uses_settings_saved_by_another_process(client, auth, config, twilio, monkeypatch):
    from backend.app import create_app
    from backend.channels import manager as manager_module

    monkeypatch.setattr(manager_module, "REFRESH_S", 0.0)
    other_process = create_app(config).extensions["bulkmsg"]
    try:
        client.put("/api/channels/sms", json=twilio.settings(), headers=auth)
        before = other_process.channels.instance(1, "sms")

        client.put("/api/channels/sms", json=twilio.settings(from_number="+15005550001"), headers=auth)
        after = other_process.channels.instance(1, "sms")

        assert before.from_number == "+15005550006" and after.from_number == "+15005550001"
        assert other_process.channels.instance(1, "sms") is after, "unchanged settings keep the instance"
        # A channel saving its own renewed secrets (Gmail's tokens) is not stale because of it.
        assert other_process.channels.save_secrets(1, "sms", {"auth_token": twilio.auth_token}, None)
        assert other_process.channels.instance(1, "sms") is after
    finally:
        other_process.channels.close_all()
        other_process.db.dispose()
