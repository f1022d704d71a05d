"""The SMS channel against a real local HTTP server speaking Twilio's Messages API (tests/fakes/twilio/)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from backend.channels.base import ChannelContext, OutboundMessage, SendError, SettingsError
from backend.channels.sms.channel import SmsChannel
from tests.fakes.twilio import FakeTwilio


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def sms_channel(
    fake: FakeTwilio, tmp_path: Path, *, public_url: str | None = None, token: str | None = None, **options: Any
) -> SmsChannel:
    settings, secrets = SmsChannel.validate_settings(fake.settings(**({"auth_token": token} if token else {})))
    context = ChannelContext(account_id=1, data_dir=tmp_path, public_url=public_url, options=options)
    return SmsChannel(settings, secrets, context)


def outbound(to: str = "+15551230001", body: str = "Your order shipped") -> OutboundMessage:
    return OutboundMessage(id=1, account_id=1, channel="sms", recipient=to, body=body)


def test_it_sends_with_basic_auth_and_returns_the_sid(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)

    sid = channel.send(outbound())

    [created] = twilio.created()
    assert sid == created["sid"] and sid.startswith("SM")
    assert created["to"] == "+15551230001" and created["from"] == "+15005550006"
    assert created["body"] == "Your order shipped" and created["status"] == "queued"
    [post] = twilio.posts()
    assert post.authorized
    assert "StatusCallback" not in post.form, "without a public URL, delivery is polled instead"


def test_it_asks_for_status_callbacks_at_the_public_url(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path, public_url="https://example.ngrok.app/")

    channel.send(outbound())

    assert twilio.posts()[0].form["StatusCallback"] == "https://example.ngrok.app/webhooks/twilio/status"


def test_it_fails_invalid_and_non_mobile_numbers_permanently(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)
    twilio.fail("+15551230002", "invalid")
    twilio.fail("+15551230003", "not_mobile")

    with pytest.raises(SendError) as invalid:
        channel.send(outbound("+15551230002"))
    with pytest.raises(SendError) as landline:
        channel.send(outbound("+15551230003"))

    assert invalid.value.permanent and invalid.value.reason == "invalid phone number"
    assert landline.value.permanent and landline.value.reason == "not a mobile number"
    assert twilio.created() == []


def test_it_retries_429_after_the_time_twilio_asks_for(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)
    twilio.fail("+15551230004", "rate_limited", retry_after=7, times=1)

    with pytest.raises(SendError) as slow_down:
        channel.send(outbound("+15551230004"))
    assert not slow_down.value.permanent and not slow_down.value.uncertain
    assert slow_down.value.retry_after == 7
    assert channel.send(outbound("+15551230004")).startswith("SM")
    assert len(twilio.posts()) == 2, "each send is one POST: nothing is retried behind the dispatcher's back"


def test_it_treats_a_server_error_as_transient_without_retrying_the_post(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)
    twilio.fail("+15551230005", "server_error")

    with pytest.raises(SendError) as error:
        channel.send(outbound("+15551230005"))

    assert not error.value.permanent and not error.value.uncertain
    assert "server error" in error.value.reason
    assert len(twilio.posts()) == 1


def test_it_marks_a_send_uncertain_when_the_answer_never_comes(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path, sms_read_timeout_s=0.3)
    twilio.fail("+15551230006", "slow", delay_s=1.5)

    started = time.monotonic()
    with pytest.raises(SendError) as error:
        channel.send(outbound("+15551230006"))

    assert time.monotonic() - started < 1.2, "the read timeout bounds the wait"
    assert error.value.uncertain and not error.value.permanent
    assert len(twilio.created()) == 1, "the provider did get it: this is why it must not be re-sent"
    assert len(twilio.posts()) == 1


def test_it_retries_when_the_provider_cannot_be_reached(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeTwilio()
    settings, secrets = SmsChannel.validate_settings({**_settings_of(fake), "api_base_url": f"http://127.0.0.1:{port}"})
    channel = SmsChannel(settings, secrets, ChannelContext(account_id=1, data_dir=tmp_path))

    with pytest.raises(SendError) as error:
        channel.send(outbound())

    assert not error.value.uncertain and not error.value.permanent
    # Not the message's fault: an outage (queued again without using an attempt; the channel shows the reason).
    assert error.value.outage and error.value.reason == "The SMS provider refused the connection"


def test_it_pauses_instead_of_failing_everyone_when_the_token_is_wrong(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path, token="0" * 32)

    with pytest.raises(SendError) as error:
        channel.send(outbound())

    assert error.value.pause_campaign and not error.value.permanent
    assert "0" * 32 not in error.value.reason


def test_it_refuses_an_over_long_body_at_the_provider(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)

    with pytest.raises(SendError) as error:
        channel.send(outbound(body="x" * 1601))

    assert error.value.permanent and "1,600" in error.value.reason


def test_it_verifies_the_account_and_explains_a_wrong_token(twilio, tmp_path):
    assert sms_channel(twilio, tmp_path).verify() == "Ready: sending from +15005550006 with account Fake Twilio"

    with pytest.raises(SendError) as error:
        sms_channel(twilio, tmp_path, token="f" * 32).verify()
    assert "401" in error.value.reason and "Auth Token" in error.value.reason
    assert "f" * 32 not in error.value.reason

    twilio.account_status = "suspended"
    with pytest.raises(SendError, match="suspended"):
        sms_channel(twilio, tmp_path).verify()


def test_it_reads_delivery_status_back_by_sid(twilio, tmp_path):
    channel = sms_channel(twilio, tmp_path)
    delivered, failed, pending = (channel.send(outbound(f"+1555123000{i}")) for i in (7, 8, 9))
    twilio.deliver(delivered, "delivered")
    twilio.deliver(failed, "undelivered", error_code="30003")
    twilio.deliver(pending, "sent")

    ok = channel.fetch_delivery(delivered)
    bad = channel.fetch_delivery(failed)
    not_yet = channel.fetch_delivery(pending)

    assert ok is not None and (ok.success, ok.status, ok.provider) == (True, "delivered", "twilio")
    assert ok.provider_event_id == f"{delivered}:delivered"
    assert bad is not None and (bad.success, bad.error_code) == (False, "30003")
    assert bad.error_text == "the phone is switched off or unreachable"
    assert not_yet is not None and not_yet.success is None
    assert channel.fetch_delivery("SM" + "0" * 32) is None


def test_it_lists_every_settings_problem_at_once():
    with pytest.raises(SettingsError) as error:
        SmsChannel.validate_settings(
            {
                "account_sid": "nope",
                "from_number": "12",
                "api_base_url": "ftp://x",
                "public_url": "https://" + "x" * 3000,
                "colour": "red",
            }
        )

    fields = {d["field"]: d["reason"] for d in error.value.details}
    assert set(fields) == {"account_sid", "auth_token", "from_number", "api_base_url", "public_url", "colour"}
    assert fields["colour"] == "unknown setting"


def test_it_refuses_a_token_that_basic_auth_cannot_carry():
    fake = FakeTwilio()

    with pytest.raises(SettingsError) as error:
        SmsChannel.validate_settings({**_settings_of(fake), "auth_token": "t\u00f6ken-\u00e9"})

    assert [d["field"] for d in error.value.details] == ["auth_token"]


def test_it_keeps_the_stored_token_when_the_form_sends_the_mask():
    fake = FakeTwilio()
    current = _settings_of(fake)

    settings, secrets = SmsChannel.validate_settings({**current, "auth_token": "****"}, current)

    assert secrets == {"auth_token": fake.auth_token}
    assert "auth_token" not in settings
    assert settings["api_base_url"] == "https://api.twilio.com"


def _settings_of(fake: FakeTwilio) -> dict[str, Any]:
    return {"account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": "+15005550006"}


@contextmanager
def local_server(handler: type[BaseHTTPRequestHandler], tls_dir: Path | None = None) -> Iterator[str]:
    """A throwaway HTTP(S) server on loopback; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed(tls_dir))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def self_signed(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


class Redirecting(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(301)
        self.send_header("Location", "https://api.twilio.com" + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_it_retries_when_the_providers_certificate_cannot_be_verified(tmp_path):
    fake = FakeTwilio()
    with local_server(Redirecting, tls_dir=tmp_path) as url:
        channel = SmsChannel(
            *SmsChannel.validate_settings({**_settings_of(fake), "api_base_url": url}),
            ChannelContext(account_id=1, data_dir=tmp_path),
        )
        with pytest.raises(SendError) as error:
            channel.send(outbound())
        with pytest.raises(SendError, match="its TLS certificate could not be verified"):
            channel.verify()

    assert not error.value.uncertain and not error.value.permanent
    assert error.value.reason == "the SMS provider's TLS certificate could not be verified"


def test_it_pauses_instead_of_following_a_redirect_with_the_message(tmp_path):
    fake = FakeTwilio()
    with local_server(Redirecting) as url:
        channel = SmsChannel(
            *SmsChannel.validate_settings({**_settings_of(fake), "api_base_url": url}),
            ChannelContext(account_id=1, data_dir=tmp_path),
        )
        with pytest.raises(SendError) as error:
            channel.send(outbound())

    assert error.value.pause_campaign and not error.value.permanent
    assert "check api_base_url" in error.value.reason
