"""The Gmail channel against the fake Google server: the raw message Gmail receives, error handling, tokens.

The real google-api-python-client and google-auth talk HTTP to tests/fakes/google.py; nothing is mocked.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.channels.base import Attachment, ChannelContext, OutboundMessage, SendError
from backend.channels.gmail.channel import GmailChannel
from backend.channels.gmail.tokens import REVOKED_TEXT
from backend.store.models import utcnow
from tests.fakes.google import FakeGoogle


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle(hang_s=1.5).start()
    yield fake
    fake.stop()


class Statuses(list[tuple[str, str]]):
    def __call__(self, state: str, text: str) -> None:
        self.append((state, text))


@pytest.fixture
def statuses() -> Statuses:
    return Statuses()


def make_channel(
    google: FakeGoogle,
    tmp_path: Path,
    statuses: Statuses,
    *,
    authorized: bool = True,
    access_ttl_s: int | None = None,
    endpoint: str | None = None,
    **settings: Any,
) -> GmailChannel:
    plain, secrets = GmailChannel.validate_settings({"client_config": google.client_config(), **settings})
    if authorized:
        tokens = google.issue_tokens(access_ttl_s)
        secrets.update(refresh_token=tokens["refresh_token"])
        if access_ttl_s is not None:
            secrets["access_token"] = tokens["access_token"]
            secrets["token_expiry"] = (utcnow() + timedelta(seconds=access_ttl_s)).isoformat()
    saved: list[tuple[dict, dict | None]] = []
    context = ChannelContext(
        account_id=3,
        data_dir=tmp_path,
        emit_status=statuses,
        save_secrets=lambda values, expect: saved.append((values, expect)) is None,
        options={"gmail_api_endpoint": endpoint or google.url, "gmail_timeouts": {"connect_s": 2, "read_s": 0.5}},
    )
    context.saved = saved  # type: ignore[attr-defined]
    return GmailChannel(plain, secrets, context)


def message(**changes: Any) -> OutboundMessage:
    values: dict[str, Any] = dict(
        id=41,
        account_id=3,
        channel="gmail",
        recipient="zoe@example.org",
        recipient_name="Zoë Ångström",
        subject="Résumé für Sie ✓",
        body="Grüße aus Köln!\nSee the attachment.",
        html_body="<p>Grüße aus <b>Köln</b>!</p>",
    )
    values.update(changes)
    return OutboundMessage(**values)


@pytest.fixture
def channel(google: FakeGoogle, tmp_path: Path, statuses: Statuses) -> Iterator[GmailChannel]:
    made = make_channel(google, tmp_path, statuses, from_name="Café Équipe", from_address="team@example.com")
    yield made
    made.close()


def test_it_sends_a_large_attachment_through_the_media_upload(channel: GmailChannel, google: FakeGoogle) -> None:
    # 6 MB of file: as JSON `raw` (base64, a third larger) Google would answer 413, so it goes as message/rfc822.
    channel._http.timeout = (2, 30)  # 8 MB into a loaded test machine's fake takes longer than the 0.5 s above
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * (6 * 4096)
    assert channel.send(message(attachments=(Attachment("big.pdf", "application/pdf", pdf),)))
    [sent] = google.sent
    (part,) = list(sent.message.iter_attachments())
    assert part.get_content() == pdf and google.uploads == 1
    assert channel.send(message(id=42))
    assert google.uploads == 1 and len(google.sent) == 2  # a plain message still goes as JSON


def test_it_sends_a_multipart_message_with_attachments_and_non_ascii_headers(
    channel: GmailChannel, google: FakeGoogle
) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    provider_id = channel.send(message(attachments=(Attachment("Übersicht.pdf", "application/pdf", pdf),)))

    assert provider_id
    [sent] = google.sent
    mail = sent.message
    assert str(mail["From"]) == "Café Équipe <team@example.com>"
    assert str(mail["To"]) == "Zoë Ångström <zoe@example.org>"
    assert str(mail["Subject"]) == "Résumé für Sie ✓"
    assert mail["Message-ID"] == "<bulkmsg.3.41@example.com>"
    assert b"\r\n" in sent.raw and sent.raw.isascii()  # RFC 5322 line ends, every header encoded
    assert mail.get_content_type() == "multipart/mixed"
    assert [part.get_content_type() for part in mail.walk()][:4] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    plain = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert plain.rstrip("\n") == "Grüße aus Köln!\nSee the attachment."
    assert "<b>Köln</b>" in mail.get_body(preferencelist=("html",)).get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "Übersicht.pdf"
    assert attachment.get_content() == pdf
    assert google.send_attempts == 1


def test_it_lets_gmail_write_the_sender_when_no_address_is_set(
    google: FakeGoogle, tmp_path: Path, statuses: Statuses
) -> None:
    channel = make_channel(google, tmp_path, statuses)
    channel.send(message())
    assert "From" not in google.sent[0].message
    assert google.sent[0].message["Message-ID"] == "<bulkmsg.3.41@gmail.com>"


@pytest.mark.parametrize(("kind", "status"), [("rate_429", 429), ("rate_403", 403), ("user_rate", 429)])
def test_it_retries_rate_limits_after_the_wait_google_asks_for(
    channel: GmailChannel, google: FakeGoogle, kind: str, status: int
) -> None:
    google.fail_next(kind, retry_after=7)
    with pytest.raises(SendError) as caught:
        channel.send(message())
    error = caught.value
    assert not (error.permanent or error.uncertain or error.pause_campaign)
    assert "throttling" in error.reason
    if status == 429:
        assert error.retry_after == 7
    assert google.send_attempts == 1 and not google.sent  # the library did not retry on its own
    assert channel.send(message())  # and the next attempt goes through


def test_it_retries_a_server_error_without_the_library_resending(channel: GmailChannel, google: FakeGoogle) -> None:
    google.fail_next("server_500")
    with pytest.raises(SendError) as caught:
        channel.send(message())
    assert not (caught.value.permanent or caught.value.uncertain) and "server error" in caught.value.reason
    assert google.send_attempts == 1


@pytest.mark.parametrize("kind", ["daily", "sending_limit"])
def test_it_pauses_at_the_daily_limit_and_says_when_the_window_reopens(
    channel: GmailChannel, google: FakeGoogle, kind: str
) -> None:
    google.fail_next(kind)
    with pytest.raises(SendError) as caught:
        channel.send(message())
    error = caught.value
    assert error.pause_campaign and not error.permanent
    assert "daily sending limit was reached" in error.reason and "UTC" in error.reason
    assert error.retry_after is not None and error.retry_after > 3600


def test_it_fails_only_the_message_with_an_invalid_recipient(channel: GmailChannel, google: FakeGoogle) -> None:
    google.fail_next("invalid_to")
    with pytest.raises(SendError) as caught:
        channel.send(message(recipient="nobody@example.org"))
    assert caught.value.permanent and "Invalid To header" in caught.value.reason
    assert channel.send(message(id=42))
    assert [str(m.message["To"]) for m in google.sent] == ["Zoë Ångström <zoe@example.org>"]


def test_it_refuses_a_header_injection_before_anything_is_sent(channel: GmailChannel, google: FakeGoogle) -> None:
    with pytest.raises(SendError) as caught:
        channel.send(message(subject="Hi\r\nBcc: everyone@example.org"))
    assert caught.value.permanent
    assert google.send_attempts == 0


@pytest.mark.parametrize("kind", ["drop", "hang"])
def test_it_marks_a_send_uncertain_when_the_answer_is_lost(
    channel: GmailChannel, google: FakeGoogle, kind: str
) -> None:
    google.fail_next(kind)
    with pytest.raises(SendError) as caught:
        channel.send(message())
    assert caught.value.uncertain and "may have been sent" in caught.value.reason
    assert len(google.sent) == 1 and google.send_attempts == 1  # it arrived once and was never re-sent


def test_it_retries_later_when_google_cannot_be_reached(google: FakeGoogle, tmp_path: Path, statuses: Statuses) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    channel = make_channel(google, tmp_path, statuses, endpoint=closed, access_ttl_s=3600)
    with pytest.raises(SendError) as caught:
        channel.send(message())
    assert not (caught.value.uncertain or caught.value.permanent) and "could not be reached" in caught.value.reason


def test_it_renews_the_access_token_before_it_expires(google: FakeGoogle, tmp_path: Path, statuses: Statuses) -> None:
    channel = make_channel(google, tmp_path, statuses, access_ttl_s=60)  # inside the 5-minute margin
    channel.send(message())

    refreshes = [r for r in google.token_requests if r.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1
    ((values, expect),) = channel.context.saved  # type: ignore[attr-defined]
    assert google.sent[0].access_token == values["access_token"]
    assert expect == {"refresh_token": values["refresh_token"]}
    channel.send(message(id=42))
    assert len([r for r in google.token_requests if r.get("grant_type") == "refresh_token"]) == 1


def test_it_renews_a_refused_access_token_once_and_sends(
    google: FakeGoogle, tmp_path: Path, statuses: Statuses
) -> None:
    channel = make_channel(google, tmp_path, statuses, access_ttl_s=3600)
    google.expire_access_tokens()  # Google forgot the token early (password change, server restart)
    assert channel.send(message())
    assert len(google.sent) == 1
    assert statuses == []


def test_it_reports_auth_failure_and_pauses_when_the_refresh_token_is_revoked(
    channel: GmailChannel, google: FakeGoogle, statuses: Statuses
) -> None:
    google.revoke()
    for _ in range(3):
        with pytest.raises(SendError) as caught:
            channel.send(message())
        assert caught.value.pause_campaign and not caught.value.permanent
    assert statuses == [("auth_failure", REVOKED_TEXT)]
    assert not google.sent


def test_it_pauses_when_gmail_was_never_authorized(google: FakeGoogle, tmp_path: Path, statuses: Statuses) -> None:
    channel = make_channel(google, tmp_path, statuses, authorized=False)
    with pytest.raises(SendError) as caught:
        channel.send(message())
    assert caught.value.pause_campaign and "click Authorize" in caught.value.reason
    assert statuses[0][0] == "disconnected"
    assert google.send_attempts == 0 and not google.token_requests
