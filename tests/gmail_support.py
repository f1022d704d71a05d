"""Shared steps for Gmail tests on a live server: save the settings, authorize through the fake consent page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.google import FakeGoogle
from tests.helpers import bearer


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    """A fake Google (Gmail send, consent, token endpoint) on loopback."""
    # oauthlib builds consent URLs for https endpoints only, unless told that this is a local test server.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    fake = FakeGoogle().start()
    yield fake
    fake.stop()


def save_settings(server: Any, google: FakeGoogle, **extra: Any) -> requests.Response:
    body = {"client_config": google.client_config(), "from_name": "Support Team", **extra}
    return requests.put(f"{server.url}/api/channels/gmail", json=body, headers=bearer(server.token), timeout=10)


def authorize(server: Any) -> str:
    answer = requests.post(f"{server.url}/api/channels/gmail/authorize", headers=bearer(server.token), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["auth_url"])


def consent(auth_url: str) -> str:
    """What the browser does on Google's page: Allow, then Google redirects to our callback."""
    answer = requests.get(auth_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def connect_gmail(server: Any, google: FakeGoogle, **settings: Any) -> None:
    """Settings saved and the consent given: the channel is `ready`."""
    assert save_settings(server, google, **settings).status_code == 200
    page = requests.get(consent(authorize(server)), timeout=10)
    assert page.status_code == 200, page.text


def gmail_view(server: Any) -> dict[str, Any]:
    channels = requests.get(f"{server.url}/api/channels", headers=bearer(server.token), timeout=10).json()
    return next(c for c in channels if c["channel"] == "gmail")
