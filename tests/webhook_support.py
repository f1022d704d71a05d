"""Shared set-up for the outgoing-webhook tests: the app's clock, receivers, endpoints, verification."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from backend.accounts import get_or_create_account
from tests.fakes.webhook_receiver import Receiver


def default_account(services: Any) -> int:
    with services.db.write() as session:
        account_id: int = get_or_create_account(session, "default").id
        return account_id


class Clock:
    """The app's clock, moved by the test (`services.clock`)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(services: Any) -> Clock:
    c = Clock()
    services.clock = c
    return c


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def receiver(receivers: list[Receiver], **kwargs: Any) -> Receiver:
    r = Receiver(**kwargs).start()
    receivers.append(r)
    return r


def add_endpoint(
    client: Any, auth: dict[str, str], url: str, events: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    response = client.post("/api/webhooks", json={"url": url, "events": events or ["*"], **extra}, headers=auth)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def verified(secret: str, received: Any) -> dict[str, Any]:
    """The body, verified by the official standardwebhooks package with the secret the API showed."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    assert payload == json.loads(received.body)
    return payload


def deliveries(client: Any, auth: dict[str, str], endpoint_id: int, status: str = "") -> list[dict[str, Any]]:
    query = f"?status={status}" if status else ""
    response = client.get(f"/api/webhooks/{endpoint_id}/deliveries{query}", headers=auth)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items
