"""Helpers for the sequence tests (issue 30): an SMS sequence at the Twilio-speaking server, its enrolments read
from the store, and the engine run by hand on the app's clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from backend.sequences.engine import SequenceEngine
from backend.store.models.sequences import SequenceEnrollment, SequenceSend

DAY = 24 * 3600
STEPS = [
    {"wait_s": 0, "body": "Welcome, {{ name }}!"},
    {"wait_s": 2 * DAY, "body": "A reminder, {{ name }}."},
    {"wait_s": 7 * DAY, "body": "Last word, {{ name }}."},
]


def create_sequence(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"kind": "sequence", "name": "Welcome", "channel": "sms", "steps": STEPS}
    payload.update(body)
    answer = client.post("/api/campaigns", json=payload, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def start(client: Any, auth: dict[str, str], campaign_id: int) -> None:
    answer = client.post(f"/api/campaigns/{campaign_id}/start", headers=auth)
    assert answer.status_code == 200, answer.get_json()


def enrol(client: Any, auth: dict[str, str], campaign_id: int, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/campaigns/{campaign_id}/enroll", json=body, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def enrolments(services: Any) -> dict[int, tuple[str, int, str | None]]:
    """contact id -> (status, steps sent, exit reason)."""
    with services.db.read() as session:
        rows = session.execute(
            select(
                SequenceEnrollment.contact_id,
                SequenceEnrollment.status,
                SequenceEnrollment.step,
                SequenceEnrollment.exit_reason,
            )
        ).all()
    return {contact: (status, step, reason) for contact, status, step, reason in rows}


def sends_per_step(services: Any) -> dict[tuple[int, int], int]:
    """(enrolment id, step) -> how many messages were made for it."""
    with services.db.read() as session:
        rows = session.execute(
            select(SequenceSend.enrollment_id, SequenceSend.step, func.count()).group_by(
                SequenceSend.enrollment_id, SequenceSend.step
            )
        ).all()
    return {(e, s): n for e, s, n in rows}


def run_engine(services: Any, owner: str = "test-engine") -> int:
    return SequenceEngine(services, owner=owner).run()
